"""Preprocessing cache: every image decoded once and letterboxed to ``uint8[S, S]``, keyed by dicom_id.

A cache directory holds ``images.npy`` (``uint8[N, S, S]``, opened as a read-only memmap),
``index.csv`` (``dicom_id,row,image_width,image_height,path``: the letterbox parameters are
``Letterbox(image_width, image_height, S)``) and ``cache.json`` (settings, measured speed and the
*key*: a hash of the image list with file sizes and mtimes, the canvas size, the pixel mode and the
code version).  :meth:`ImageCache.open` recomputes the key from the inputs and refuses a stale or
mismatched cache; ``agpt data cache`` rebuilds it.  ``cache.json`` is written last, so an
interrupted build is never mistaken for a complete one.
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image

import agpt
from agpt.boxes import Letterbox
from agpt.data.dicom import PIXEL_MODES
from agpt.data.images import load_image
from agpt.data.mimic import resolve_image_path
from agpt.data.prepared import read_prepared_images
from agpt.errors import AgptError, DataError

CACHE_FORMAT = 1  # bump when decoding/letterboxing changes: old caches then read as stale
INDEX_COLUMNS: tuple[str, ...] = ("dicom_id", "row", "image_width", "image_height", "path")


def letterbox_image(img: np.ndarray, size: int) -> tuple[np.ndarray, Letterbox]:
    """``uint8[H, W]`` -> (``uint8[size, size]`` canvas with black padding, its :class:`Letterbox`).

    Resized with Pillow over the full extent (area averaging when shrinking, bilinear when
    enlarging), so canvas ``x = x_orig * resized_width / W + pad_left`` exactly as Letterbox maps boxes.
    """
    h, w = img.shape
    lb = Letterbox(w, h, size)
    rw, rh = lb.resized_width, lb.resized_height
    resample = Image.Resampling.BOX if (rw <= w and rh <= h) else Image.Resampling.BILINEAR
    resized = np.asarray(Image.fromarray(img).resize((rw, rh), resample=resample), dtype=np.uint8)
    canvas = np.zeros((size, size), dtype=np.uint8)
    canvas[lb.pad_top : lb.pad_top + rh, lb.pad_left : lb.pad_left + rw] = resized
    return canvas, lb


def cache_key(
    prepared_dir: str | Path, image_root: str | Path, size: int, pixel_mode: str
) -> tuple[str, list[dict]]:
    """(key, entries): entries list every image with its path, size and file size/mtime."""
    if pixel_mode not in PIXEL_MODES:
        raise ValueError(f"unknown pixel mode {pixel_mode!r}; valid: {', '.join(PIXEL_MODES)}")
    if size <= 0:
        raise ValueError(f"cache size must be positive, got {size}")
    entries = []
    for img in sorted(read_prepared_images(prepared_dir), key=lambda i: i.dicom_id):
        full = resolve_image_path(image_root, img.path)
        try:
            st = full.stat()
        except FileNotFoundError:
            raise DataError(full, f"image file not found (dicom_id {img.dicom_id})") from None
        entries.append(
            {
                "dicom_id": img.dicom_id,
                "path": img.path,
                "width": img.image_width,
                "height": img.image_height,
                "bytes": st.st_size,
                "mtime_ns": st.st_mtime_ns,
            }
        )
    digest = hashlib.sha256(
        json.dumps(
            {
                "entries": entries,
                "size": size,
                "pixel_mode": pixel_mode,
                "format": CACHE_FORMAT,
                "code": agpt.__version__,
            },
            sort_keys=True,
        ).encode()
    )
    return digest.hexdigest(), entries


def _decode_one(job: tuple[str, str, int, int, int, str]):
    """Worker: (full path, dicom_id, width, height, size, mode) -> canvas, or an error message."""
    full, dicom_id, width, height, size, mode = job
    try:
        img = load_image(full, pixel_mode=mode)
    except DataError as err:  # DataError does not pickle across processes: send its parts
        return dicom_id, None, (err.path, err.problem)
    if img.shape != (height, width):
        return (
            dicom_id,
            None,
            (full, f"image is {img.shape[1]}x{img.shape[0]}, images.csv says {width}x{height}"),
        )
    return dicom_id, letterbox_image(img, size)[0], None


def build_cache(
    prepared_dir: str | Path,
    image_root: str | Path,
    size: int,
    out: str | Path,
    pixel_mode: str = "mimic_jpg_equivalent",
    workers: int = 2,
    force: bool = False,
) -> dict:
    """Decode + letterbox every image of ``images.csv`` into ``out``; returns the cache.json record.

    A complete cache in ``out`` with the same key is kept as it is (``"rebuilt": False``) unless ``force``.
    """
    key, entries = cache_key(prepared_dir, image_root, size, pixel_mode)
    out = Path(out)
    if not force and (out / "images.npy").is_file():
        try:
            old = json.loads((out / "cache.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            old = {}
        if old.get("key") == key and old.get("format") == CACHE_FORMAT:
            return {**old, "rebuilt": False}
    out.mkdir(parents=True, exist_ok=True)
    (out / "cache.json").unlink(missing_ok=True)  # incomplete until rewritten
    tmp = out / "images.npy.partial"
    arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(entries), size, size))
    rows = {e["dicom_id"]: i for i, e in enumerate(entries)}
    jobs = [
        (
            str(resolve_image_path(image_root, e["path"])),
            e["dicom_id"],
            e["width"],
            e["height"],
            size,
            pixel_mode,
        )
        for e in entries
    ]
    start = time.perf_counter()
    if workers > 1 and len(jobs) > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_decode_one, jobs, chunksize=max(1, min(64, len(jobs) // (4 * workers))))
            _collect(results, arr, rows)
    else:
        _collect(map(_decode_one, jobs), arr, rows)
    seconds = time.perf_counter() - start
    arr.flush()
    del arr
    os.replace(tmp, out / "images.npy")
    with open(out / "index.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(INDEX_COLUMNS)
        for i, e in enumerate(entries):
            w.writerow([e["dicom_id"], i, e["width"], e["height"], e["path"]])
    record = {
        "format": CACHE_FORMAT,
        "code_version": agpt.__version__,
        "key": key,
        "size": size,
        "pixel_mode": pixel_mode,
        "n_images": len(entries),
        "prepared": str(Path(prepared_dir).resolve()),
        "image_root": str(Path(image_root).resolve()),
        "workers": workers,
        "seconds": round(seconds, 3),
        "images_per_second": round(len(entries) / seconds, 2) if seconds > 0 else None,
    }
    (out / "cache.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    return {**record, "rebuilt": True}


def _collect(results, arr: np.ndarray, rows: dict[str, int]) -> None:
    for dicom_id, canvas, error in results:
        if error is not None:
            raise DataError(error[0], f"{error[1]} (dicom_id {dicom_id})")
        arr[rows[dicom_id]] = canvas


class ImageCache:
    """A built cache: ``.image(dicom_id) -> uint8[size, size]``, ``.letterbox(dicom_id) -> Letterbox``."""

    def __init__(
        self, directory: Path, record: dict, index: dict[str, tuple[int, int, int]], images: np.ndarray
    ):
        self.directory, self.record, self._index, self._images = directory, record, index, images
        self.size: int = int(record["size"])
        self.pixel_mode: str = record["pixel_mode"]

    @classmethod
    def open(
        cls,
        directory: str | Path,
        prepared: str | Path | None = None,
        image_root: str | Path | None = None,
        size: int | None = None,
        pixel_mode: str | None = None,
        verify: bool = True,
    ) -> ImageCache:
        """Open a cache; raise :class:`AgptError` if it is incomplete, stale or built with other settings.

        ``verify`` recomputes the key from ``prepared``/``image_root`` (default: the recorded
        paths); ``size``/``pixel_mode``, when given, must match the cache.
        """
        directory = Path(directory)
        rebuild = f"rebuild it with: agpt data cache --out {directory} ..."
        try:
            record = json.loads((directory / "cache.json").read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise AgptError(f"{directory}: not a complete image cache (no cache.json); {rebuild}") from None
        except ValueError as err:
            raise AgptError(f"{directory}/cache.json: not valid JSON ({err}); {rebuild}") from err
        if record.get("format") != CACHE_FORMAT or record.get("code_version") != agpt.__version__:
            raise AgptError(
                f"{directory}: cache built by another code version "
                f"({record.get('code_version')}, format {record.get('format')}); {rebuild}"
            )
        if size is not None and int(record["size"]) != int(size):
            raise AgptError(f"{directory}: cache size is {record['size']}, the model needs {size}; {rebuild}")
        if pixel_mode is not None and record["pixel_mode"] != pixel_mode:
            raise AgptError(
                f"{directory}: cache pixel mode is {record['pixel_mode']}, wanted {pixel_mode}; {rebuild}"
            )
        if verify:
            prepared = prepared or record["prepared"]
            image_root = image_root or record["image_root"]
            try:
                key, _ = cache_key(prepared, image_root, int(record["size"]), record["pixel_mode"])
            except DataError as err:
                raise AgptError(f"{directory}: stale cache: {err}; {rebuild}") from err
            if key != record["key"]:
                raise AgptError(
                    f"{directory}: stale cache: the image list or image files of {prepared} changed "
                    f"since it was built; {rebuild}"
                )
        index = {}
        with open(directory / "index.csv", newline="", encoding="utf-8") as f:
            for row in csv.DictReader(f):
                index[row["dicom_id"]] = (int(row["row"]), int(row["image_width"]), int(row["image_height"]))
        images = np.load(directory / "images.npy", mmap_mode="r")
        if images.shape != (len(index), record["size"], record["size"]) or images.dtype != np.uint8:
            raise AgptError(
                f"{directory}: images.npy has shape {images.shape}, expected "
                f"({len(index)}, {record['size']}, {record['size']}) uint8; {rebuild}"
            )
        return cls(directory, record, index, images)

    @property
    def dicom_ids(self) -> list[str]:
        return list(self._index)

    def __contains__(self, dicom_id: str) -> bool:
        return dicom_id in self._index

    def __len__(self) -> int:
        return len(self._index)

    def _entry(self, dicom_id: str) -> tuple[int, int, int]:
        try:
            return self._index[dicom_id]
        except KeyError:
            raise AgptError(f"{self.directory}: dicom_id {dicom_id} is not in the cache") from None

    def image(self, dicom_id: str) -> np.ndarray:
        """The letterboxed canvas ``uint8[size, size]`` (a copy; the cache stays read-only)."""
        return np.array(self._images[self._entry(dicom_id)[0]])

    def letterbox(self, dicom_id: str) -> Letterbox:
        """Maps boxes between the original image and this canvas."""
        _, width, height = self._entry(dicom_id)
        return Letterbox(width, height, self.size)
