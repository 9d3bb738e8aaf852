"""Find the Chest ImaGenome anatomies a grounding phrase names: synonyms, laterality, plurals, negation.

A lateral anatomy ("right lower lung zone") is a *region* ("lower lung zone") plus a *side*.
Region forms come from the synonym table with the side words taken out ("right lung base" ->
"lung base"), plus the inflections and approximations of ``EXTRA_REGION_FORMS`` (plurals,
adjectives such as "basilar", and lobes as the nearest zone: a lower lobe is approximately the
lower zone on a frontal film; these are a matcher's approximations, not synonyms).  The side of a
region mention is read from side words inside it or shortly before it in the same clause
("right", "left", "bilateral", "both"), or after it ("... bilaterally", "on the right"); "bi-"
words ("bibasilar", "biapical", "bihilar") and a plural with no side ("lung bases", "apices")
mean both sides.  A mention preceded by a negation cue in its clause ("no left effusion") is
ignored.  When no region is named but a side is ("small left pleural effusion"), the phrase
names that side's lung (rule ``side``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agpt.anatomy import ANATOMIES
from agpt.synonyms.table import SynonymTable
from agpt.synonyms.validate import canonical_side

RIGHT, LEFT = "right", "left"
SIDE_CUES: dict[str, frozenset[str]] = {
    "right": frozenset({RIGHT}), "rt": frozenset({RIGHT}),
    "left": frozenset({LEFT}), "lt": frozenset({LEFT}),
    "bilateral": frozenset({RIGHT, LEFT}), "bilaterally": frozenset({RIGHT, LEFT}),
    "both": frozenset({RIGHT, LEFT}),
}
# Not regions and not sides; dropped from forms and phrases before region matching.
_FILLER = frozenset({"sided", "side"})
# "absent" is not a cue: "absent lung markings at the right apex" describes a pneumothorax there.
NEGATION_CUES = frozenset({"no", "without", "not", "negative"})
NEGATION_WINDOW = 6  # tokens before a mention, within its clause
SIDE_WINDOW = 5  # tokens before a mention searched for its side
_CLAUSE_BREAK = re.compile(r"[,;:.()!?]|\bbut\b|\bhowever\b|\bwhereas\b")
_WORD = re.compile(r"[a-z0-9]+")

# region key (the lateral anatomy without its side) -> extra forms, singular and plural.
EXTRA_REGION_FORMS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "lung": (("lung", "hemithorax", "lung field", "lung parenchyma", "chest"),
             ("lungs", "hemithoraces", "lung fields")),
    "upper lung zone": (("upper lung", "upper zone", "upper lobe", "upper lung field", "upper lobar"),
                        ("upper lungs", "upper zones", "upper lobes", "upper lung zones", "upper lung fields")),
    "mid lung zone": (("mid lung", "midlung", "mid zone", "middle lung", "middle lobe", "mid lung field"),
                      ("mid lungs", "midlungs", "mid zones", "mid lung zones", "mid lung fields")),
    "lower lung zone": (("base", "basilar", "basal", "basilar region", "lung base", "lower lung", "lower zone",
                         "lower lobe", "lower lobar", "infrahilar"),
                        ("bases", "lung bases", "lower lungs", "lower zones", "lower lobes", "lower lung zones",
                         "basilar regions")),
    "hilar structures": (("hilum", "hilar", "perihilar", "hilar region"),
                         ("hila", "hilums", "hilar regions", "perihilar regions")),
    "apical zone": (("apex", "apical", "lung apex", "apical region", "apical zone"),
                    ("apices", "apexes", "apical zones", "apical regions", "lung apices")),
    "costophrenic angle": (("costophrenic angle", "cp angle", "costophrenic sulcus", "costophrenic"),
                           ("costophrenic angles", "cp angles", "costophrenic sulci")),
    "hemidiaphragm": (("hemidiaphragm", "diaphragm"), ("hemidiaphragms", "diaphragms")),
    "clavicle": (("clavicle",), ("clavicles",)),
}
# "bi-" words: region key, both sides.
BILATERAL_WORDS: dict[str, str] = {
    "bibasilar": "lower lung zone", "bibasal": "lower lung zone", "bibasally": "lower lung zone",
    "bibasilarly": "lower lung zone", "biapical": "apical zone", "bihilar": "hilar structures",
}
# "upper and lower lung": the first zone word borrows the region noun of the mention after it.
ZONE_WORDS: dict[str, str] = {"upper": "upper lung zone", "mid": "mid lung zone", "middle": "mid lung zone",
                              "lower": "lower lung zone"}
# Forms naming a non-lateral anatomy (or a fixed side) that the table does not list.
EXTRA_FIXED_FORMS: dict[str, str] = {
    "retrocardiac": "left lower lung zone",  # behind the heart: the left lower zone on a frontal film
    "lingula": "left mid lung zone", "lingular": "left mid lung zone",  # approximate
    "cardiomegaly": "cardiac silhouette", "cardiac": "cardiac silhouette", "heart": "cardiac silhouette",
    "mediastinal": "mediastinum",
}


@dataclass(frozen=True)
class AnatomyMatch:
    """The anatomies a phrase names (ANATOMIES names, several for bilateral mentions) and how."""

    anatomies: tuple[str, ...]
    rule: str  # "anatomy" (a region or structure is named) or "side" (only a side is named)
    mentions: tuple[str, ...]  # the matched words, for inspection


@dataclass(frozen=True)
class _Mention:
    start: int  # index in the phrase's token list (inclusive)
    end: int  # exclusive
    region: str | None  # lateral region key, or None for a fixed anatomy
    anatomy: str | None  # fixed anatomy (non-lateral, or a side-specific form)
    both: bool  # a "bi-" word
    plural: bool


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower().replace("-", " "))


class AnatomyMatcher:
    """Map a phrase to the ANATOMIES it names, using a synonym table; see the module docstring."""

    def __init__(self, table: SynonymTable):
        self.regions: dict[str, dict[str, str]] = {}  # region key -> side -> anatomy
        self.forms: dict[tuple[str, ...], tuple[str | None, str | None, bool, bool]] = {}
        for anatomy in ANATOMIES:
            side = canonical_side(anatomy)
            names = table.synonyms(anatomy) if anatomy in table.entries else [anatomy]
            if side is None:
                for name in names:
                    self._add(_words(name), None, anatomy, False, False)
                continue
            region = " ".join(anatomy.split()[1:])
            self.regions.setdefault(region, {})[side] = anatomy
            for name in names:
                self._add(self._strip_sides(_words(name)), region, None, False, False)
        for region, (singular, plural) in EXTRA_REGION_FORMS.items():
            if region in self.regions:
                for form in singular:
                    self._add(_words(form), region, None, False, False)
                for form in plural:
                    self._add(_words(form), region, None, False, True)
        for word, region in BILATERAL_WORDS.items():
            self._add([word], region, None, True, False)
        for form, anatomy in EXTRA_FIXED_FORMS.items():
            self._add(_words(form), None, anatomy, False, False)
        self.max_len = max(len(f) for f in self.forms)

    @staticmethod
    def _strip_sides(words: list[str]) -> list[str]:
        out = [w for w in words if w not in SIDE_CUES and w not in _FILLER]
        # "clavicle on the right" -> "clavicle"
        while len(out) >= 2 and out[-2:] in (["on", "the"],):
            out = out[:-2]
        return out

    def _add(self, words: list[str], region, anatomy, both: bool, plural: bool) -> None:
        key = tuple(self._strip_sides(words))
        if key and key not in self.forms:  # table forms first, so they win over extras
            self.forms[key] = (region, anatomy, both, plural)

    def _tokens(self, phrase: str) -> tuple[list[str], list[int]]:
        """Words of the phrase and each word's clause number."""
        words, clauses = [], []
        for clause_no, clause in enumerate(_CLAUSE_BREAK.split(phrase.lower())):
            for w in _words(clause):
                words.append(w)
                clauses.append(clause_no)
        return words, clauses

    def _mentions(self, words: list[str]) -> list[_Mention]:
        # Region matching skips side words (so "dome of the right hemidiaphragm" matches "dome of the hemidiaphragm").
        stream = [i for i, w in enumerate(words) if w not in SIDE_CUES and w not in _FILLER]
        out: list[_Mention] = []
        j = 0
        while j < len(stream):
            for n in range(min(self.max_len, len(stream) - j), 0, -1):
                key = tuple(words[i] for i in stream[j:j + n])
                if key in self.forms:
                    region, anatomy, both, plural = self.forms[key]
                    out.append(_Mention(stream[j], stream[j + n - 1] + 1, region, anatomy, both, plural))
                    j += n
                    break
            else:
                j += 1
        return self._coordinated(words, out)

    def _coordinated(self, words: list[str], mentions: list[_Mention]) -> list[_Mention]:
        """Add the elided zone of "upper and lower lung", "mid to lower zones" (same region family)."""
        extra = []
        starts = {m.start: m for m in mentions}
        for i in range(len(words) - 2):
            zone = ZONE_WORDS.get(words[i])
            m = starts.get(i + 2)
            if zone and words[i + 1] in ("and", "or", "to") and m is not None and m.region in ZONE_WORDS.values():
                if not any(o.start <= i < o.end for o in mentions):
                    extra.append(_Mention(i, i + 1, zone, None, m.both, m.plural))
        return sorted(mentions + extra, key=lambda m: m.start)

    @staticmethod
    def _negated(words: list[str], clauses: list[int], start: int) -> bool:
        lo = max(0, start - NEGATION_WINDOW)
        return any(clauses[i] == clauses[start]
                   and (words[i] in NEGATION_CUES or (words[i] == "free" and words[i + 1] == "of"))
                   for i in range(lo, start))

    def match(self, phrase: str) -> AnatomyMatch | None:
        """The anatomies ``phrase`` names, or None when it names none (or only negated ones)."""
        words, clauses = self._tokens(phrase)
        mentions = self._mentions(words)
        anatomies: list[str] = []
        texts: list[str] = []
        prev_end, prev_sides = 0, set()
        for k, m in enumerate(mentions):
            next_start = mentions[k + 1].start if k + 1 < len(mentions) else len(words)
            if self._negated(words, clauses, m.start):
                prev_end, prev_sides = m.end, set()
                continue
            # "right upper and lower lung": the second zone shares the first one's side.
            joined = prev_sides if m.start - prev_end == 1 and words[prev_end] in ("and", "or", "to") else set()
            found, prev_sides = self._resolve(m, words, clauses, prev_end, next_start, joined)
            prev_end = m.end
            if found:
                anatomies += [a for a in found if a not in anatomies]
                texts.append(" ".join(words[m.start:m.end]))
        if anatomies:
            # A zone or structure of a lung is more specific than the lung: "collapse of the right
            # lung with absent markings at the right apex" locates the finding at the apex.
            lungs = {self.regions["lung"].get(s) for s in (RIGHT, LEFT)}
            specific = [a for a in anatomies if a not in lungs]
            sides_specific = {a.split()[0] for a in specific}
            anatomies = [a for a in anatomies if a not in lungs or a.split()[0] not in sides_specific]
            return AnatomyMatch(tuple(anatomies), "anatomy", tuple(texts))
        sides = set()
        for i, w in enumerate(words):
            if w in SIDE_CUES and not self._negated(words, clauses, i):
                sides |= SIDE_CUES[w]
        if sides:
            lungs = tuple(self.regions["lung"][s] for s in (RIGHT, LEFT) if s in sides)
            return AnatomyMatch(lungs, "side", tuple(w for w in words if w in SIDE_CUES))
        return None

    def _resolve(self, m: _Mention, words: list[str], clauses: list[int], prev_end: int, next_start: int,
                 joined: set[str]) -> tuple[list[str], set[str]]:
        """The anatomies of one mention and the sides it resolved to (``joined``: a coordinated mention's sides)."""
        if m.region is None:
            return [m.anatomy], set()
        sides_by_region = self.regions[m.region]
        if m.both:
            sides = {RIGHT, LEFT}
        else:
            clause = clauses[m.start]
            lo = max(prev_end, m.start - SIDE_WINDOW)
            before = [words[i] for i in range(lo, m.end) if clauses[i] == clause and words[i] in SIDE_CUES]
            # A side after the mention ("... on the right", "... bilaterally") counts when none came before.
            after = [words[i] for i in range(m.end, min(next_start, m.end + SIDE_WINDOW))
                     if clauses[i] == clause and words[i] in SIDE_CUES]
            cues = before or after
            sides = set().union(*(SIDE_CUES[w] for w in cues)) if cues else set(joined)
            if not sides:
                if not m.plural:
                    return [], set()  # a singular region with no side: unknown which
                sides = {RIGHT, LEFT}
        return [sides_by_region[s] for s in (RIGHT, LEFT) if s in sides and s in sides_by_region], sides
