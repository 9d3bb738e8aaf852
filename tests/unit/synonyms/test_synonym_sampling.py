"""Sampling strategies: deterministic under a seed, with the documented distributions."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from agpt.anatomy import ANATOMIES
from agpt.synonyms import SynonymSampler, load_synonym_table

TABLE = load_synonym_table(None)
N = 20000


def _counts(sampler, anatomy, seed=0):
    rng = np.random.default_rng(seed)
    return Counter(sampler.sample(anatomy, rng) for _ in range(N))


def test_none_is_always_canonical():
    s = SynonymSampler(TABLE, "none", k=5)
    rng = np.random.default_rng(0)
    assert all(s.sample(a, rng) == a for a in ANATOMIES for _ in range(20))


def test_uniform_over_first_k():
    s = SynonymSampler(TABLE, "uniform", k=3)
    counts = _counts(s, "right costophrenic angle")
    assert set(counts) == set(TABLE.synonyms("right costophrenic angle")[:3])
    for c in counts.values():
        assert abs(c / N - 1 / 3) < 0.02
    # k beyond the table length uses every synonym
    assert set(_counts(SynonymSampler(TABLE, "uniform", k=50), "svc")) == set(TABLE.synonyms("svc"))


def test_frequency_weights_decrease_as_documented():
    s = SynonymSampler(TABLE, "frequency", k=5)
    names, probs = s.choices("right lower lung zone")
    assert names == TABLE.synonyms("right lower lung zone")[:5]
    np.testing.assert_allclose(probs, np.array([16, 8, 4, 2, 1]) / 31)
    counts = _counts(s, "right lower lung zone")
    for name, p in zip(names, probs):
        assert abs(counts[name] / N - p) < 0.015
    assert counts.most_common(1)[0][0] == "right lower lung zone"
    _, p3 = SynonymSampler(TABLE, "frequency", k=3).choices("carina")
    np.testing.assert_allclose(p3, [4 / 7, 2 / 7, 1 / 7])


@pytest.mark.parametrize("strategy", ["uniform", "frequency"])
def test_deterministic_under_a_seed(strategy):
    draw = lambda sampler, rng=None: [sampler.sample(a, rng) for a in ANATOMIES * 10]
    a, b = SynonymSampler(TABLE, strategy, seed=7), SynonymSampler(TABLE, strategy, seed=7)
    assert draw(a) == draw(b)
    assert draw(SynonymSampler(TABLE, strategy, seed=8)) != draw(SynonymSampler(TABLE, strategy, seed=7))
    s = SynonymSampler(TABLE, strategy)
    assert draw(s, np.random.default_rng(3)) == draw(s, np.random.default_rng(3))


def test_bad_settings_raise_naming_the_value():
    with pytest.raises(ValueError, match="'zipf'.*none, uniform, frequency"):
        SynonymSampler(TABLE, "zipf")
    with pytest.raises(ValueError, match="k must be a positive integer, got 0"):
        SynonymSampler(TABLE, "uniform", k=0)
    with pytest.raises(ValueError, match="no synonyms for anatomy 'liver'"):
        SynonymSampler(TABLE, "uniform").sample("liver", np.random.default_rng(0))
