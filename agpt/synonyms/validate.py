"""Clinical and structural checks for one synonym of one anatomy; each failed check gives a reason."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agpt.anatomy import SILVER_BOX_NAMES

SIDE_WORDS: dict[str, frozenset[str]] = {
    "right": frozenset({"right", "rt", "dextral"}),
    "left": frozenset({"left", "lt", "sinistral"}),
}
BOTH_SIDE_WORDS = frozenset({"bilateral", "bilaterally", "both", "bibasilar", "bibasal", "biapical", "bihilar"})

# Anatomies whose canonical name has no side word but which lie on one side of the body, so a
# synonym may say so ("junction of the superior vena cava and right atrium").
INHERENT_SIDE: dict[str, str] = {"svc": "right", "cavoatrial junction": "right", "descending aorta": "left"}

# Words naming a structure that is not the region, with the anatomies that may use them. These
# catch the AGPT authors' errors (a breast for a lung, the stomach for the abdomen, "ventricle").
STRUCTURE_TERMS: dict[str, tuple[frozenset[str], str]] = {}


def _terms(words: str, allowed: set[str], reason: str) -> None:
    for word in words.split():
        STRUCTURE_TERMS[word] = (frozenset(allowed), reason)


_terms("breast breasts", set(), "the breast is soft tissue over the chest, not a scene-graph region")
_terms("stomach gastric liver hepatic spleen splenic bowel colon kidney renal", set(),
       "an abdominal organ, not the radiographic region")
_terms("ventricle ventricles ventricular", set(), "a cardiac chamber that is not the region")
_terms("atrium atria atrial", {"right atrium", "cavoatrial junction"}, "names the atrium, which is not this region")
_terms("heart cardiac", {"cardiac silhouette", "left cardiac silhouette", "right cardiac silhouette"},
       "names the heart, which is not this region")
_terms("lobe lobes lobar lingula lingular", set(),
       "a lobe is an anatomical unit, not a radiographic zone of the frontal film")
_terms("rib ribs", set(), "names the ribs, which are not this region")

# Real words one edit away from "right"/"left" (so not typos of a side).
_NEAR_SIDE_WORDS = frozenset({
    "light", "eight", "fight", "sight", "night", "tight", "might", "bight", "wright", "rights",
    "bright", "lift", "loft", "lest", "lent", "felt", "deft", "heft", "weft", "leaf", "lefts",
})
_TOKEN = re.compile(r"[a-z0-9]+")


def normalise(text: str) -> str:
    """Lower case, hyphens as spaces, single spaces: the key for duplicate and identity checks."""
    return " ".join(text.lower().replace("-", " ").split())


def tokens(text: str) -> list[str]:
    return _TOKEN.findall(text.lower())


def canonical_side(anatomy: str) -> str | None:
    """``"right"``/``"left"`` for a sided anatomy name, else None."""
    first = anatomy.split()[0]
    return first if first in SIDE_WORDS else None


def _edit_distance(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def _misspelt_side(word: str) -> bool:
    if word in SIDE_WORDS["right"] | SIDE_WORDS["left"] or word in _NEAR_SIDE_WORDS or len(word) < 3:
        return False
    return any(_edit_distance(word, side) == 1 or sorted(word) == sorted(side) for side in ("right", "left"))


@dataclass(frozen=True)
class Rejection:
    """One synonym that failed a check, with the reason in words."""

    anatomy: str
    synonym: str
    reason: str

    def to_dict(self) -> dict:
        return {"anatomy": self.anatomy, "synonym": self.synonym, "reason": self.reason}

    @classmethod
    def from_dict(cls, d: dict) -> Rejection:
        return cls(str(d["anatomy"]), str(d["synonym"]), str(d["reason"]))


def check_synonym(anatomy: str, synonym: object, other_names: dict[str, str] | None = None) -> str | None:
    """The reason ``synonym`` is not acceptable for ``anatomy``, or None when it passes.

    ``other_names`` maps normalised names (canonical names and synonyms) to the *other* anatomy
    they belong to; a synonym equal to one of them names another anatomy.
    """
    if not isinstance(synonym, str):
        return f"not a string ({type(synonym).__name__})"
    if not synonym.strip():
        return "empty string"
    if synonym != synonym.strip() or "  " in synonym:
        return "leading, trailing or repeated whitespace"
    words = tokens(synonym)
    word_set = set(words)
    side = canonical_side(anatomy) or INHERENT_SIDE.get(anatomy)
    for word in words:
        if _misspelt_side(word):
            return f"misspelt side word {word!r}"
    for other_side, side_words in SIDE_WORDS.items():
        if word_set & side_words and other_side != side:
            if side is None:
                return f"adds a side ({other_side!r}) to an anatomy that has none"
            return f"names the other side ({other_side!r} in a {side}-side anatomy)"
    if canonical_side(anatomy) is not None:
        if word_set & BOTH_SIDE_WORDS:
            return "names both sides in a one-sided anatomy"
        if not word_set & SIDE_WORDS[canonical_side(anatomy)]:
            return f"drops the side ({canonical_side(anatomy)!r} missing)"
    norm = normalise(synonym)
    for name in SILVER_BOX_NAMES:
        if name != anatomy and norm == normalise(name):
            return f"names another anatomy ({name!r})"
    if other_names and norm in other_names and other_names[norm] != anatomy:
        return f"names another anatomy (a synonym of {other_names[norm]!r})"
    for word in words:
        if word in STRUCTURE_TERMS:
            allowed, reason = STRUCTURE_TERMS[word]
            if anatomy not in allowed:
                return f"{word!r}: {reason}"
    return None
