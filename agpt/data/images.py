"""Image loading for every input format: ``.dcm`` (pydicom) and ``.jpg``/``.png`` (Pillow) -> ``uint8[H, W]``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from agpt.data.dicom import PIXEL_MODES, dicom_size, load_dicom, read_dicom
from agpt.errors import DataError

Image.MAX_IMAGE_PIXELS = None  # chest radiographs are large (3000 x 3000 and more), not bombs


def load_image(path: str | Path, pixel_mode: str = "mimic_jpg_equivalent") -> np.ndarray:
    """8-bit grayscale ``uint8[H, W]`` on the original pixel grid (``H = Rows``, ``W = Columns``).

    ``pixel_mode`` applies to DICOM only (see :mod:`agpt.data.dicom`); JPG/PNG are already 8-bit
    (16-bit PNGs are min-max scaled, colour images converted to luminance).
    """
    if pixel_mode not in PIXEL_MODES:
        raise ValueError(f"unknown pixel mode {pixel_mode!r}; valid: {', '.join(PIXEL_MODES)}")
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        return load_dicom(path, pixel_mode)
    if not path.is_file():
        raise DataError(path, "image file not found")
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
                arr = np.asarray(im, dtype=np.float64)
                lo, hi = float(arr.min()), float(arr.max())
                unit = np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo)
                return np.rint(unit * 255.0).astype(np.uint8)
            return np.asarray(im.convert("L"), dtype=np.uint8).copy()
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(path, f"unreadable image ({type(err).__name__}: {err})") from err


def image_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` from the file header (DICOM ``Columns x Rows``), without decoding pixels."""
    path = Path(path)
    if path.suffix.lower() == ".dcm":
        return dicom_size(path)
    if not path.is_file():
        raise DataError(path, "image file not found")
    try:
        with Image.open(path) as im:
            return im.size
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as err:
        raise DataError(path, f"unreadable image ({type(err).__name__}: {err})") from err


def verify_image(path: str | Path, level: str = "header") -> tuple[int, int]:
    """Check an image is usable; returns ``(width, height)``.  ``level``: ``header`` or ``decode``."""
    if level == "decode":
        h, w = load_image(path).shape
        return w, h
    if level != "header":
        raise ValueError(f"unknown verify level {level!r}; valid: header, decode")
    if Path(path).suffix.lower() == ".dcm":
        ds = read_dicom(path, pixels=False)
        return int(ds.Columns), int(ds.Rows)
    return image_size(path)
