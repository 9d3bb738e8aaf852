"""Leakage guard: no MS-CXR evaluation patient (and no ImaGenome gold image) in AGPT pre-training.

Chest ImaGenome and MS-CXR both come from MIMIC-CXR, so pre-training on ImaGenome would see the
MS-CXR test patients.  Modes:

- ``all-mscxr`` (default): remove every patient that has any MS-CXR phrase (any split);
- ``eval``: remove the patients of the chosen split source's ``val`` and ``test`` phrases;
- ``none``: remove no patient (for studying the leak itself; never for reported numbers).

Images listed in ImaGenome ``images_to_avoid.csv`` are removed in every mode.  Patients are
compared by subject id (8 digits, no prefix).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agpt.data.records import AnatomyImage, PhraseSample

LEAKAGE_MODES: tuple[str, ...] = ("all-mscxr", "eval", "none")


@dataclass
class LeakageReport:
    """What the guard removed, for the manifest."""

    mode: str
    guarded_patients: int = 0  # patients the mode protects
    removed_patients: int = 0  # of those, patients that had pre-training images
    removed_images: int = 0  # images removed for those patients
    removed_images_to_avoid: int = 0  # images removed because images_to_avoid.csv lists them
    removed_by_split: dict[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def guarded_subjects(samples: list[PhraseSample], mode: str) -> set[str]:
    """Subject ids that must not appear in pre-training under ``mode``."""
    if mode not in LEAKAGE_MODES:
        raise ValueError(f"unknown leakage-guard mode {mode!r}; valid: {', '.join(LEAKAGE_MODES)}")
    if mode == "none":
        return set()
    if mode == "eval":
        return {s.subject_id for s in samples if s.split in ("val", "test")}
    return {s.subject_id for s in samples}


def apply_leakage_guard(
    images: list[AnatomyImage],
    samples: list[PhraseSample],
    mode: str,
    images_to_avoid: set[str],
    extra_subjects: set[str] = frozenset(),
) -> tuple[list[AnatomyImage], list[tuple[AnatomyImage, str]], LeakageReport]:
    """Filter pre-training images; returns (kept, [(removed image, reason)], report).

    ``samples`` must be *all* MS-CXR phrases of the input file with their resolved splits
    (those outside the chosen split source included: their patients are still MS-CXR patients).
    ``extra_subjects`` are guarded too unless ``mode`` is ``none`` (the patients of MS-CXR
    records skipped as bad, whose split is unknown: guarding them is the safe side).
    """
    subjects = guarded_subjects(samples, mode) | (set(extra_subjects) if mode != "none" else set())
    report = LeakageReport(mode=mode, guarded_patients=len(subjects))
    kept, removed = [], []
    hit_patients: set[str] = set()
    for img in images:
        if img.dicom_id in images_to_avoid:
            report.removed_images_to_avoid += 1
            removed.append((img, "images to avoid: listed in ImaGenome images_to_avoid.csv"))
        elif img.subject_id in subjects:
            report.removed_images += 1
            hit_patients.add(img.subject_id)
            removed.append((img, f"leakage guard: patient {img.subject_id} has MS-CXR phrases (mode {mode})"))
        else:
            kept.append(img)
            continue
        report.removed_by_split[img.split] = report.removed_by_split.get(img.split, 0) + 1
    report.removed_patients = len(hit_patients)
    return kept, removed, report
