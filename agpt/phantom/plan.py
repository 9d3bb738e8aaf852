"""The phantom's cohort: patients, studies, images, ids and the three unrelated splits, decided before any pixels."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from agpt.phantom.findings import sample_categories
from agpt.phantom.image import ImageSpec, sample_shape


@dataclass(frozen=True)
class PhantomConfig:
    """Sizes and seed of one phantom data set."""

    seed: int = 0
    n_pretrain: int = 2000  # ImaGenome images that are NOT MS-CXR images
    n_mscxr_images: int = 350  # MS-CXR-like images (about 1.4 phrases each)
    pretrain_finding_fraction: float = 0.3  # pre-training images that also show findings (no phrases)
    workers: int = 2

    def __post_init__(self) -> None:
        if self.n_pretrain < 1 or self.n_mscxr_images < 3:
            raise ValueError(f"need n_pretrain >= 1 and n_mscxr_images >= 3, got {self.n_pretrain}, {self.n_mscxr_images}")
        if self.workers < 1:
            raise ValueError(f"workers must be >= 1, got {self.workers}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "PhantomConfig":
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass
class Patient:
    number: int  # 1-based, used in the fake identifying tags
    subject_id: str
    sex: str
    age_decile: str
    imagenome_split: str  # train / valid / test
    mimic_split: str  # train / validate / test
    mscxr_split: str = ""  # train / val / test for MS-CXR patients
    avoid: bool = False  # listed in images_to_avoid.csv (a "gold" patient)


@dataclass
class Study:
    study_id: str
    date: str  # YYYYMMDD in the 2100s (MIMIC's shifted dates)
    time: float  # HHMMSS.fff as a float (leading zeros lost, as in the metadata CSV)
    reason: str


@dataclass
class Plan:
    config: PhantomConfig
    patients: dict[str, Patient] = field(default_factory=dict)
    studies: dict[str, Study] = field(default_factory=dict)
    images: list[ImageSpec] = field(default_factory=list)


_REASONS = ("___ with shortness of breath // eval for pneumonia", "___ with chest pain // ?acute process",
            "___ with fever and cough // eval for infiltrate", "Line placement // position?",
            "___ s/p fall // eval for pneumothorax", "___ with CHF // eval for edema", "Preoperative evaluation")


def _unique_ids(rng: np.random.Generator, n: int, lo: int, hi: int) -> list[str]:
    ids: list[int] = []
    seen: set[int] = set()
    while len(ids) < n:
        for x in rng.integers(lo, hi, size=n - len(ids) + 8):
            if int(x) not in seen and len(ids) < n:
                seen.add(int(x))
                ids.append(int(x))
    return [str(x) for x in ids]


def dicom_id_from(rng: np.random.Generator) -> str:
    """5 groups of 8 lowercase hex digits joined by '-' (44 characters), like MIMIC-CXR."""
    return "-".join(f"{int(x):08x}" for x in rng.integers(0, 2 ** 32, size=5, dtype=np.uint64))


def _pick(rng, options, p) -> str:
    return str(options[int(rng.choice(len(options), p=p))])


def make_plan(config: PhantomConfig) -> Plan:
    """All ids, splits and per-image specs; deterministic for ``config.seed``."""
    rng = np.random.default_rng(np.random.SeedSequence([config.seed, 1]))
    plan = Plan(config=config)
    # MS-CXR patients: ~1.08 MS-CXR images each (real: ~1,100 images of 851 patients);
    # ~40 % of them also have other studies in the ImaGenome pre-training pool.
    n_mscxr_patients = max(3, int(round(config.n_mscxr_images / 1.08)))
    mscxr_per_patient = np.ones(n_mscxr_patients, dtype=int)
    for i in rng.choice(n_mscxr_patients, size=config.n_mscxr_images - n_mscxr_patients, replace=True):
        mscxr_per_patient[i] += 1
    extra = np.where(rng.random(n_mscxr_patients) < 0.4, rng.integers(1, 3, size=n_mscxr_patients), 0)
    extra_total = int(min(extra.sum(), config.n_pretrain // 2))
    # pre-training-only patients with 1-3 studies each fill the rest
    counts: list[int] = []
    remaining = config.n_pretrain - extra_total
    while remaining > 0:
        k = int(min(remaining, rng.choice([1, 2, 3], p=[0.55, 0.3, 0.15])))
        counts.append(k)
        remaining -= k
    n_patients = n_mscxr_patients + len(counts)
    subject_ids = _unique_ids(rng, n_patients, 10_000_000, 20_000_000)
    n_images = config.n_mscxr_images + config.n_pretrain
    study_ids = iter(_unique_ids(rng, n_images, 50_000_000, 60_000_000))
    # MS-CXR split by patient, ~70/10/20; each split gets at least one patient
    mscxr_splits = ["train"] * n_mscxr_patients
    order = rng.permutation(n_mscxr_patients)
    n_val, n_test = max(1, round(0.1 * n_mscxr_patients)), max(1, round(0.2 * n_mscxr_patients))
    for j in order[:n_val]:
        mscxr_splits[j] = "val"
    for j in order[n_val:n_val + n_test]:
        mscxr_splits[j] = "test"
    extra_left = extra_total
    index = 0
    for pi, subject in enumerate(subject_ids):
        is_mscxr = pi < n_mscxr_patients
        sex = "F" if rng.random() < 0.48 else "M"
        decade = int(rng.integers(2, 9))
        patient = Patient(
            number=pi + 1, subject_id=subject, sex=sex, age_decile=f"{decade * 10}-{decade * 10 + 10}",
            imagenome_split=_pick(rng, ["train", "valid", "test"], [0.7, 0.1, 0.2]),
            mimic_split=_pick(rng, ["train", "validate", "test"], [0.9, 0.04, 0.06]),
            mscxr_split=mscxr_splits[pi] if is_mscxr else "",
            avoid=(not is_mscxr) and rng.random() < 0.015,
        )
        plan.patients[subject] = patient
        if is_mscxr:
            n_extra = int(min(extra[pi], extra_left))
            extra_left -= n_extra
            kinds = ["mscxr"] * int(mscxr_per_patient[pi]) + ["pretrain"] * n_extra
        else:
            kinds = ["pretrain"] * counts[pi - n_mscxr_patients]
        year = int(rng.integers(2110, 2190))
        day = int(rng.integers(0, 300))
        for kind in kinds:
            day += int(rng.integers(1, 40))
            study = Study(study_id=next(study_ids), date=f"{year + day // 360}{1 + day % 360 // 30:02d}{1 + day % 30:02d}",
                          time=round(float(rng.integers(0, 24)) * 10000 + float(rng.integers(0, 60)) * 100
                                     + float(rng.uniform(0, 60)), 3),
                          reason=_REASONS[int(rng.integers(len(_REASONS)))])
            plan.studies[study.study_id] = study
            portable = rng.random() < (0.6 if kind == "mscxr" else 0.35)
            rows, cols = sample_shape(rng, portable)
            if kind == "mscxr":
                cats = tuple(sample_categories(rng))
            else:
                cats = tuple(sample_categories(rng)) if rng.random() < config.pretrain_finding_fraction else ()
            plan.images.append(ImageSpec(index=index, dicom_id=dicom_id_from(rng), subject_id=subject,
                                         study_id=study.study_id, view="AP" if portable else "PA", rows=rows,
                                         columns=cols, subset=kind, categories=cats))
            index += 1
    return plan


def relative_path(spec: ImageSpec, ext: str) -> str:
    """``files/pXX/pSUBJECT/sSTUDY/<dicom_id>.<ext>`` (MIMIC-CXR layout)."""
    return f"files/p{spec.subject_id[:2]}/p{spec.subject_id}/s{spec.study_id}/{spec.dicom_id}.{ext}"
