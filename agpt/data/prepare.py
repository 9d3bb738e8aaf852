"""``agpt data prepare``: raw MIMIC-CXR / Chest ImaGenome / MS-CXR files -> the prepared directory.

:func:`build_prepared` reads and validates everything in memory (``agpt data check`` stops
there); :func:`write_prepared` writes the layout described in :mod:`agpt.data.records`.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import agpt
from agpt.anatomy import ANATOMIES, FINDING_CATEGORIES
from agpt.data.imagenome import (
    SPLIT_FILES,
    SceneGraphStore,
    anatomy_boxes,
    read_images_to_avoid,
    read_split_csv,
    splits_dir,
)
from agpt.data.images import verify_image
from agpt.data.leakage import LEAKAGE_MODES, LeakageReport, apply_leakage_guard, guarded_subjects
from agpt.data.medrpg_split import DEFAULT_MEDRPG_SPLIT, SPLIT_SOURCES, assign_splits
from agpt.data.mimic import (
    ImageMeta,
    find_metadata,
    is_frontal,
    parse_image_path,
    read_metadata,
    resolve_image_path,
)
from agpt.data.mscxr import MSCXR_SPLITS, mscxr_subjects_by_dicom, read_mscxr
from agpt.data.prepared import write_anatomy_csv, write_images_csv, write_mscxr_csv
from agpt.data.records import AnatomyImage, PhraseSample
from agpt.data.rejects import RejectLog
from agpt.errors import AgptError, DataError

IMAGE_FORMATS: tuple[str, ...] = ("jpg", "dcm")
VERIFY_LEVELS: tuple[str, ...] = ("exists", "header", "decode")
PRETRAIN_SPLITS: tuple[str, ...] = ("train", "val")
MANIFEST_FORMAT = 1


def default_medrpg_split() -> str:
    """The MedRPG split-ids CSV bundled in ``agpt/resources/``."""
    return str((Path(agpt.__file__).resolve().parent / DEFAULT_MEDRPG_SPLIT).resolve())


@dataclass
class PrepareConfig:
    """Inputs and settings of ``agpt data prepare`` / ``check``."""

    mimic_root: str  # MIMIC-CXR-JPG (jpg) or MIMIC-CXR (dcm) root holding files/pXX/...
    image_format: str  # "jpg" or "dcm": the extension written to images.csv
    imagenome_root: str  # holds silver_dataset/{splits/, scene_graph/ or scene_graph.zip}
    mscxr: str  # MS_CXR_Local_Alignment_v1.x.0.csv or .json
    split_source: str = "medrpg"  # "medrpg" (split-ids file) or "mscxr" (the v1.1.0 split column)
    medrpg_split: str | None = None  # None: the copy bundled with agpt
    leakage_guard: str = "all-mscxr"  # "all-mscxr", "eval" or "none"
    skip_bad: bool = False  # list bad records in rejects.csv instead of failing on the first
    metadata: str | None = None  # MIMIC metadata CSV(.gz); None: look under mimic_root, else headers
    verify_images: str = "header"  # "exists", "header" (size from the file) or "decode" (slow)

    def __post_init__(self) -> None:
        for name, value, valid in (
            ("image_format", self.image_format, IMAGE_FORMATS),
            ("split_source", self.split_source, SPLIT_SOURCES),
            ("leakage_guard", self.leakage_guard, LEAKAGE_MODES),
            ("verify_images", self.verify_images, VERIFY_LEVELS),
        ):
            if value not in valid:
                raise ValueError(f"unknown {name} {value!r}; valid: {', '.join(valid)}")
        if self.split_source == "medrpg" and self.medrpg_split is None:
            self.medrpg_split = default_medrpg_split()

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> PrepareConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise ValueError(f"unknown PrepareConfig field(s) {unknown}; valid: {sorted(known)}")
        return cls(**d)


@dataclass
class PreparedData:
    """Everything ``prepare`` writes, in memory."""

    config: PrepareConfig
    mscxr: dict[str, list[PhraseSample]]  # split -> phrases
    anatomy: dict[str, list[AnatomyImage]]  # train / val / mscxr
    rejects: RejectLog
    leakage: LeakageReport
    counts: dict = field(default_factory=dict)

    def images(self) -> list[AnatomyImage]:
        """One record per image referenced anywhere (boxes empty), first occurrence wins."""
        seen: dict[str, AnatomyImage] = {}
        for s in (x for split in MSCXR_SPLITS for x in self.mscxr[split]):
            seen.setdefault(
                s.dicom_id,
                AnatomyImage(
                    s.dicom_id, s.subject_id, "", self._path(s.path), s.image_width, s.image_height, s.split
                ),
            )
        for split in (*PRETRAIN_SPLITS, "mscxr"):
            for img in self.anatomy[split]:
                seen.setdefault(img.dicom_id, replace(img, boxes={}))
        return list(seen.values())

    def _path(self, rel: str) -> str:
        return str(parse_image_path(rel).with_ext(self.config.image_format))


class _ImageChecker:
    """Image existence / size checks against the MIMIC root and metadata, memoised by dicom_id."""

    def __init__(self, cfg: PrepareConfig, meta: dict[str, ImageMeta] | None, rejects: RejectLog):
        self.cfg, self.meta, self.rejects = cfg, meta, rejects
        self.sizes: dict[str, tuple[int, int] | None] = {}

    def size(self, rel: str, source: object, row: object, record: str) -> tuple[int, int] | None:
        """``(width, height)`` of the image at MIMIC-relative ``rel``; None (rejected) if unusable."""
        parsed = parse_image_path(rel).with_ext(self.cfg.image_format)
        if parsed.dicom_id in self.sizes:
            return self.sizes[parsed.dicom_id]
        size = None
        try:
            full = resolve_image_path(self.cfg.mimic_root, str(parsed))
            meta = self.meta.get(parsed.dicom_id) if self.meta else None
            meta_size = (meta.columns, meta.rows) if meta else None
            if self.cfg.verify_images == "exists":
                if not full.is_file():
                    raise DataError(full, "image file not found")
                if meta_size is None:
                    raise DataError(
                        full, "image size unknown: no MIMIC metadata row (use --verify-images header)"
                    )
                size = meta_size
            else:
                size = verify_image(full, self.cfg.verify_images)
                if meta_size is not None and size != meta_size:
                    raise DataError(
                        full,
                        f"image size mismatch: file is {size[0]}x{size[1]}, MIMIC metadata "
                        f"Columns x Rows is {meta_size[0]}x{meta_size[1]}",
                    )
        except DataError as err:
            self.rejects.bad(source, row, record, f"bad image: {err}")
            size = None
        self.sizes[parsed.dicom_id] = size
        return size


def _read_mscxr(cfg: PrepareConfig, rejects: RejectLog, checker: _ImageChecker, counts: dict):
    """MS-CXR phrases by split, plus all phrases (for the leakage guard) with resolved splits."""
    samples = read_mscxr(cfg.mscxr, rejects)
    in_split, n_out = assign_splits(samples, cfg.split_source, cfg.mscxr, cfg.medrpg_split)
    counts["mscxr_phrases_in_file"] = len(samples)
    counts["mscxr_phrases_outside_split"] = n_out
    in_keys = {(s.dicom_id, s.label_text) for s in in_split}
    everyone = in_split + [replace(s, split="") for s in samples if (s.dicom_id, s.label_text) not in in_keys]
    by_split: dict[str, list[PhraseSample]] = {k: [] for k in MSCXR_SPLITS}
    dicom_size: dict[str, tuple[int, int]] = {}
    for s in in_split:
        record = f"{s.dicom_id} | {s.label_text}"
        size = checker.size(s.path, cfg.mscxr, None, record)
        if size is None:
            rejects.drop(cfg.mscxr, None, record, "phrase image rejected: see the bad-image record")
            continue
        if size != (s.image_width, s.image_height):
            rejects.bad(
                cfg.mscxr,
                None,
                record,
                f"image size mismatch: MS-CXR says {s.image_width}x{s.image_height}, "
                f"the image is {size[0]}x{size[1]}",
            )
            continue
        if dicom_size.setdefault(s.dicom_id, size) != size:
            rejects.bad(cfg.mscxr, None, record, "image size mismatch between phrases of one image")
            continue
        by_split[s.split].append(s)
    return by_split, everyone


def _read_pretrain(
    cfg: PrepareConfig,
    rejects: RejectLog,
    checker: _ImageChecker,
    store: SceneGraphStore,
    meta: dict[str, ImageMeta] | None,
    everyone: list[PhraseSample],
    counts: dict,
):
    """AGPT images for train/val: frontal, leakage-guarded, all 29 anatomies after cleaning."""
    avoid = read_images_to_avoid(cfg.imagenome_root)
    guarded = guarded_subjects(everyone, cfg.leakage_guard)
    box_counts: Counter = Counter()
    out: dict[str, list[AnatomyImage]] = {}
    seen: set[str] = set()
    candidates: list[AnatomyImage] = []
    sources: dict[str, tuple[str, int]] = {}
    for split in PRETRAIN_SPLITS:
        csv_path = splits_dir(cfg.imagenome_root) / SPLIT_FILES[split]
        for r in read_split_csv(csv_path):
            try:
                parsed = parse_image_path(r.path)
            except ValueError as err:
                rejects.bad(csv_path, r.row, r.dicom_id, f"bad path: {err}")
                continue
            if (parsed.dicom_id, parsed.subject_id, parsed.study_id) != (
                r.dicom_id,
                r.subject_id,
                r.study_id,
            ):
                rejects.bad(
                    csv_path,
                    r.row,
                    r.dicom_id,
                    f"inconsistent ids: path {r.path} vs columns "
                    f"subject {r.subject_id}, study {r.study_id}, dicom {r.dicom_id}",
                )
                continue
            if r.dicom_id in seen:
                rejects.bad(
                    csv_path, r.row, r.dicom_id, "duplicate image: listed twice in the ImaGenome splits"
                )
                continue
            seen.add(r.dicom_id)
            # ImaGenome's own ViewPosition first: MIMIC metadata leaves some frontal views blank
            view = r.view_position or (meta[r.dicom_id].view_position if meta and r.dicom_id in meta else "")
            if not is_frontal(view):
                rejects.drop(csv_path, r.row, r.dicom_id, f"not frontal: ViewPosition {view or 'blank'}")
                continue
            candidates.append(
                AnatomyImage(
                    r.dicom_id, r.subject_id, r.study_id, str(parsed.with_ext(cfg.image_format)), 0, 0, split
                )
            )
            sources[r.dicom_id] = (str(csv_path), r.row)
    # patients of MS-CXR records skipped as bad stay protected
    by_dicom = mscxr_subjects_by_dicom(cfg.mscxr) if rejects.n_bad else {}
    skipped = {r.record.split(" | ")[0] for r in rejects.rejects if r.file == str(cfg.mscxr)}
    extra = {by_dicom[d] for d in skipped if d in by_dicom}
    guarded |= extra if cfg.leakage_guard != "none" else set()
    kept, removed, report = apply_leakage_guard(candidates, everyone, cfg.leakage_guard, avoid, extra)
    for img, reason in removed:
        rejects.drop(sources[img.dicom_id][0], sources[img.dicom_id][1], img.dicom_id, reason)
    out = {split: [] for split in PRETRAIN_SPLITS}
    for img in kept:
        csv_path, row = sources[img.dicom_id]
        if img.dicom_id not in store:
            rejects.drop(store.location(img.dicom_id), None, img.dicom_id, "missing scene graph")
            continue
        size = checker.size(img.path, csv_path, row, img.dicom_id)
        if size is None:
            continue
        where = store.location(img.dicom_id)
        try:
            doc = store.load(img.dicom_id)
        except DataError as err:
            rejects.bad(where, None, img.dicom_id, err.problem)
            continue
        boxes = anatomy_boxes(doc, where, img.dicom_id, size[0], size[1], box_counts, rejects)
        if boxes is None:
            continue
        if len(boxes) < len(ANATOMIES):
            lacking = [a for a in ANATOMIES if a not in boxes]
            rejects.drop(
                where,
                None,
                img.dicom_id,
                f"incomplete anatomy: {len(lacking)} of 29 boxes missing "
                f"({', '.join(lacking[:4])}{', ...' if len(lacking) > 4 else ''})",
            )
            continue
        out[img.split].append(replace(img, image_width=size[0], image_height=size[1], boxes=boxes))
    counts["imagenome_boxes"] = dict(sorted(box_counts.items()))
    counts["guarded_subjects_in_imagenome"] = len({r.subject_id for r in candidates} & guarded)
    return out, report


def _read_mscxr_anatomy(
    cfg: PrepareConfig,
    rejects: RejectLog,
    store: SceneGraphStore,
    by_split: dict[str, list[PhraseSample]],
    counts: dict,
) -> list[AnatomyImage]:
    """Anatomy boxes of the MS-CXR images (for the anatomy-lookup baseline; never for training)."""
    box_counts: Counter = Counter()
    out: dict[str, AnatomyImage] = {}
    for split in MSCXR_SPLITS:
        for s in by_split[split]:
            if s.dicom_id in out:
                continue
            parsed = parse_image_path(s.path)
            if s.dicom_id not in store:
                rejects.drop(
                    store.location(s.dicom_id), None, s.dicom_id, "missing scene graph: MS-CXR image"
                )
                out[s.dicom_id] = None  # type: ignore[assignment]
                continue
            where = store.location(s.dicom_id)
            try:
                doc = store.load(s.dicom_id)
            except DataError as err:
                rejects.bad(where, None, s.dicom_id, err.problem)
                continue
            boxes = anatomy_boxes(doc, where, s.dicom_id, s.image_width, s.image_height, box_counts, rejects)
            if boxes is None:
                continue
            out[s.dicom_id] = AnatomyImage(
                s.dicom_id,
                parsed.subject_id,
                parsed.study_id,
                str(parsed.with_ext(cfg.image_format)),
                s.image_width,
                s.image_height,
                split,
                boxes,
            )
    counts["imagenome_boxes_mscxr_images"] = dict(sorted(box_counts.items()))
    return [img for img in out.values() if img is not None]


def build_prepared(cfg: PrepareConfig) -> PreparedData:
    """Read, validate, split and leakage-filter the raw data (no files written)."""
    rejects = RejectLog(skip_bad=cfg.skip_bad)
    meta_path = cfg.metadata or find_metadata(cfg.mimic_root)
    if not Path(cfg.mimic_root).is_dir():
        raise DataError(cfg.mimic_root, "MIMIC-CXR image root not found")
    meta = read_metadata(meta_path) if meta_path else None
    checker = _ImageChecker(cfg, meta, rejects)
    store = SceneGraphStore(cfg.imagenome_root)
    counts: dict = {"metadata": str(meta_path) if meta_path else None}
    by_split, everyone = _read_mscxr(cfg, rejects, checker, counts)
    anatomy, leakage = _read_pretrain(cfg, rejects, checker, store, meta, everyone, counts)
    anatomy["mscxr"] = _read_mscxr_anatomy(cfg, rejects, store, by_split, counts)
    data = PreparedData(cfg, by_split, anatomy, rejects, leakage, counts)
    data.counts.update(summary_counts(data))
    return data


def summary_counts(data: PreparedData) -> dict:
    """Images, phrases, boxes per category, pairs per anatomy (the numbers ``check`` prints)."""
    boxes_per_category = {
        c: {s: sum(len(p.boxes_xyxy) for p in data.mscxr[s] if p.category_name == c) for s in MSCXR_SPLITS}
        for c in FINDING_CATEGORIES
    }
    pairs = Counter(a for split in PRETRAIN_SPLITS for img in data.anatomy[split] for a in img.boxes)
    return {
        "images": len(data.images()),
        "mscxr_phrases": {s: len(data.mscxr[s]) for s in MSCXR_SPLITS},
        "mscxr_boxes": {s: sum(len(p.boxes_xyxy) for p in data.mscxr[s]) for s in MSCXR_SPLITS},
        "mscxr_patients": {s: len({p.subject_id for p in data.mscxr[s]}) for s in MSCXR_SPLITS},
        "mscxr_boxes_per_category": boxes_per_category,
        "anatomy_images": {s: len(data.anatomy[s]) for s in (*PRETRAIN_SPLITS, "mscxr")},
        "anatomy_pairs_per_anatomy": {a: pairs.get(a, 0) for a in ANATOMIES},
    }


def write_prepared(data: PreparedData, out: str | Path) -> dict:
    """Write the prepared directory; returns the manifest."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for split in MSCXR_SPLITS:
        written.append(write_mscxr_csv(out / f"mscxr_{split}.csv", data.mscxr[split]))
    for split in PRETRAIN_SPLITS:
        written.append(write_anatomy_csv(out / f"anatomy_{split}.csv", data.anatomy[split]))
    written.append(write_anatomy_csv(out / "anatomy_mscxr.csv", data.anatomy["mscxr"]))
    written.append(write_images_csv(out / "images.csv", data.images()))
    data.rejects.write_csv(out / "rejects.csv")
    digest = hashlib.sha256()
    for path in sorted(written):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    manifest = {
        "format": MANIFEST_FORMAT,
        "code_version": agpt.__version__,
        "config": {
            k: (
                str(Path(v).resolve())
                if k in ("mimic_root", "imagenome_root", "mscxr", "medrpg_split", "metadata") and v
                else v
            )
            for k, v in data.config.to_dict().items()
        },
        "counts": data.counts,
        "rejects": data.rejects.counts(),
        "n_rejects": len(data.rejects.rejects),
        "leakage_guard": data.leakage.to_dict(),
        "hash": digest.hexdigest(),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def prepare(cfg: PrepareConfig, out: str | Path) -> dict:
    """Build and write; a failure leaves no half-written manifest behind."""
    try:
        data = build_prepared(cfg)
    except DataError:
        raise
    except (OSError, ValueError) as err:
        raise AgptError(f"prepare failed: {err}") from err
    return write_prepared(data, out)
