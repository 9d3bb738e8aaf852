"""Torch datasets over the preprocessing cache (never decoding images), subsets and collation.

Every item is a dict ``{"image": float32[1, S, S] normalised, "phrases": list[str],
"boxes": float32[n, 4] cxcywh in [0, 1] of the canvas, "image_key": str, "dicom_id": str,
"index": int}``; :func:`collate` stacks each distinct image once and gives every phrase its
``image_index`` row, so 29 anatomy phrases share one visual encoding.

Randomness (augmentation, synonym draws, anatomy subsets) comes from
``numpy.random.default_rng([seed, epoch, index])``: an item is a pure function of those three
numbers, whatever the worker count, and a resumed run sees exactly the same data.
"""

from __future__ import annotations

import zlib
from collections import defaultdict
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset

from agpt.boxes import box_xyxy_to_cxcywh, union_box
from agpt.data.records import AnatomyImage, PhraseSample
from agpt.engine.transforms import Augment, normalise
from agpt.errors import AgptError


def _check_in_cache(cache: Any, dicom_ids: Sequence[str], what: str) -> None:
    missing = sorted({d for d in dicom_ids if d not in cache})
    if missing:
        more = f" (and {len(missing) - 3} more)" if len(missing) > 3 else ""
        raise AgptError(
            f"{len(missing)} {what} image(s) are not in the cache, e.g. {', '.join(missing[:3])}{more}; "
            "rebuild it with `agpt data cache` from the same prepared directory"
        )


class _CanvasDataset(Dataset):
    """Shared machinery: canvas lookup, per-item rng, augmentation, normalisation."""

    def __init__(self, cache: Any, augment: Augment | None, seed: int):
        self.cache = cache
        self.augment = augment
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Call before each epoch so augmentation and synonym draws change between epochs."""
        self.epoch = int(epoch)

    def rng(self, index: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self.epoch, int(index)])

    def _item(self, dicom_id: str, phrases: list[str], boxes_xyxy_original: np.ndarray, index: int, rng) -> dict:
        letterbox = self.cache.letterbox(dicom_id)
        canvas = self.cache.image(dicom_id)
        boxes = np.asarray(letterbox.boxes_to_canvas(np.asarray(boxes_xyxy_original, dtype=np.float64)))
        boxes = np.clip(boxes, 0.0, float(self.cache.size))
        key = dicom_id
        if self.augment is not None:
            canvas, boxes = self.augment(canvas, boxes, rng)
            key = f"{dicom_id}#{self.epoch}#{index}"  # an augmented image is never shared
        target = box_xyxy_to_cxcywh(boxes) / float(self.cache.size)
        return {
            "image": normalise(canvas),
            "phrases": list(phrases),
            "boxes": torch.as_tensor(target, dtype=torch.float32).reshape(-1, 4),
            "image_key": key,
            "dicom_id": dicom_id,
            "index": int(index),
        }


class PhraseDataset(_CanvasDataset):
    """MS-CXR phrases; the target is the union of the phrase's boxes (MDETR's ``merge_boxes``).

    Evaluation keeps every gold box through the gold CSV; the union is only the training target.
    """

    def __init__(self, samples: Sequence[PhraseSample], cache: Any, augment: Augment | None = None, seed: int = 0):
        super().__init__(cache, augment, seed)
        self.samples = list(samples)
        _check_in_cache(cache, [s.dicom_id for s in self.samples], "MS-CXR")

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> dict:
        s = self.samples[index]
        box = union_box(np.asarray(s.boxes_xyxy, dtype=np.float64))[None, :]
        return self._item(s.dicom_id, [s.label_text], box, index, self.rng(index))


PairsFn = Callable[[AnatomyImage, Any, np.random.Generator], list]


class AnatomyDataset(_CanvasDataset):
    """AGPT pre-training images; each yields its anatomy phrases and boxes.

    ``sampler`` is a ``SynonymSampler`` (or None for canonical names); ``anatomies_per_image``
    = 0 keeps all anatomies of the image, k > 0 draws k of them at random (per epoch).
    """

    def __init__(
        self,
        images: Sequence[AnatomyImage],
        cache: Any,
        sampler: Any = None,
        anatomies_per_image: int = 0,
        augment: Augment | None = None,
        seed: int = 0,
        pairs_fn: PairsFn | None = None,
    ):
        super().__init__(cache, augment, seed)
        self.images = [im for im in images if im.boxes]
        self.sampler = sampler
        self.anatomies_per_image = int(anatomies_per_image)
        if pairs_fn is None:
            from agpt.data.prepared import anatomy_pairs as pairs_fn
        self.pairs_fn = pairs_fn
        _check_in_cache(cache, [im.dicom_id for im in self.images], "anatomy")

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict:
        image = self.images[index]
        rng = self.rng(index)
        pairs = list(self.pairs_fn(image, self.sampler, rng))
        k = self.anatomies_per_image
        if 0 < k < len(pairs):
            keep = np.sort(rng.choice(len(pairs), size=k, replace=False))
            pairs = [pairs[i] for i in keep]
        phrases = [p[0] for p in pairs]
        boxes = np.asarray([p[2] for p in pairs], dtype=np.float64).reshape(-1, 4)
        return self._item(image.dicom_id, phrases, boxes, index, rng)


def collate(items: list[dict]) -> dict:
    """Batch items -> ``images [B_img, 1, S, S]``, ``phrases`` (B), ``boxes [B, 4]``, ``image_index [B]``.

    Items with the same ``image_key`` (un-augmented views of one image) share one image row.
    Also returns ``dicom_ids`` and ``item_index`` per phrase, for writing predictions.
    """
    rows: dict[str, int] = {}
    images, phrases, boxes, image_index, dicom_ids, item_index = [], [], [], [], [], []
    for item in items:
        row = rows.get(item["image_key"])
        if row is None:
            row = rows[item["image_key"]] = len(images)
            images.append(item["image"])
        n = len(item["phrases"])
        phrases.extend(item["phrases"])
        boxes.append(item["boxes"])
        image_index.extend([row] * n)
        dicom_ids.extend([item["dicom_id"]] * n)
        item_index.extend([item["index"]] * n)
    return {
        "images": torch.stack(images),
        "phrases": phrases,
        "boxes": torch.cat(boxes).reshape(-1, 4),
        "image_index": torch.as_tensor(image_index, dtype=torch.long),
        "dicom_ids": dicom_ids,
        "item_index": item_index,
    }


def stratified_subset(samples: Sequence[PhraseSample], fraction: float, seed: int) -> list[PhraseSample]:
    """A category-stratified ``fraction`` of ``samples``, deterministic under ``seed``.

    Each category keeps ``max(1, round(fraction * n_category))`` phrases, drawn with a rng
    seeded by (seed, category); the result keeps the input order.
    """
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"train_fraction must be in (0, 1], got {fraction!r}")
    if fraction == 1.0:
        return list(samples)
    by_category: dict[str, list[int]] = defaultdict(list)
    for i, s in enumerate(samples):
        by_category[s.category_name].append(i)
    keep: list[int] = []
    for category in sorted(by_category):
        idx = by_category[category]
        n = max(1, int(round(fraction * len(idx))))
        tag = zlib.crc32(category.encode("utf-8"))  # stable across runs, unlike hash()
        rng = np.random.default_rng([int(seed), tag, len(idx)])
        keep.extend(np.asarray(idx)[rng.choice(len(idx), size=n, replace=False)].tolist())
    return [samples[i] for i in sorted(keep)]
