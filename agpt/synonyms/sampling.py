"""Synonym sampling strategies for pre-training phrases: none, uniform over the first k, frequency-weighted."""

from __future__ import annotations

import numpy as np

from agpt.synonyms.table import SynonymTable

STRATEGIES: tuple[str, ...] = ("none", "uniform", "frequency")

# "frequency": fixed, halving weights over the first k synonyms, renormalised over the ones
# available: the canonical name is drawn most often, each later synonym half as often as the one
# before it.  k=5 gives 16/31, 8/31, 4/31, 2/31, 1/31 (0.516, 0.258, 0.129, 0.065, 0.032); k=3
# (AGPT's frequency mode uses 3 synonyms) gives 4/7, 2/7, 1/7.
FREQUENCY_WEIGHTS: tuple[float, ...] = tuple(0.5 ** i for i in range(64))


class SynonymSampler:
    """Draw the phrase used for an anatomy in one pre-training pair.

    - ``"none"``: always the canonical name.
    - ``"uniform"``: uniform over the first ``k`` synonyms (the canonical name included), as AGPT.
    - ``"frequency"``: over the first ``k`` with the fixed weights of ``FREQUENCY_WEIGHTS``.

    ``seed`` seeds the sampler's own generator, used when ``sample`` gets no ``rng``; with the same
    seed (or the same ``rng`` state) the draws are identical.
    """

    def __init__(self, table: SynonymTable, strategy: str = "none", k: int = 5, seed: int = 0):
        if strategy not in STRATEGIES:
            raise ValueError(f"unknown synonym strategy {strategy!r}; valid: {', '.join(STRATEGIES)}")
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise ValueError(f"synonym k must be a positive integer, got {k!r}")
        self.table = table
        self.strategy = strategy
        self.k = k
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self._cache: dict[str, tuple[list[str], np.ndarray]] = {}

    def choices(self, anatomy: str) -> tuple[list[str], np.ndarray]:
        """The candidate phrases for ``anatomy`` and their probabilities (sum 1)."""
        if anatomy not in self._cache:
            names = self.table.synonyms(anatomy)
            if self.strategy == "none":
                names = names[:1]
                probs = np.ones(1)
            else:
                names = names[: self.k]
                if self.strategy == "uniform":
                    probs = np.full(len(names), 1.0 / len(names))
                else:
                    w = np.asarray(FREQUENCY_WEIGHTS[: len(names)])
                    probs = w / w.sum()
            self._cache[anatomy] = (names, probs)
        return self._cache[anatomy]

    def sample(self, anatomy: str, rng: np.random.Generator | None = None) -> str:
        """One phrase for ``anatomy``; draws from ``rng`` (or the sampler's seeded generator)."""
        names, probs = self.choices(anatomy)
        if len(names) == 1:
            return names[0]
        gen = self.rng if rng is None else rng
        return names[int(gen.choice(len(names), p=probs))]

    def to_dict(self) -> dict:
        return {"strategy": self.strategy, "k": self.k, "seed": self.seed}
