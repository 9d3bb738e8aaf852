"""DICOM pixels -> 8-bit grayscale on the original grid (pydicom 3), following docs/data.md.

Two pixel modes:

- ``voi``: stored values (BitsStored respected) -> modality LUT -> VOI LUT sequence or window
  (``prefer_lut=True``, index 0 of multi-valued tags) -> normalised over the VOI output range
  (min-max when there is no VOI) -> MONOCHROME1 inverted *after* windowing -> uint8.
- ``mimic_jpg_equivalent``: the published MIMIC-CXR-JPG recipe: stored values -> min-max to
  uint8 over the whole image -> invert MONOCHROME1 -> histogram equalisation (OpenCV's
  ``equalizeHist`` formula), so DICOM and JPG inputs give matching intensities.

Compressed transfer syntaxes decode through pydicom's plugins; RLE needs only numpy, the JPEG
family needs the optional ``dicom-jpeg`` extra (pylibjpeg and friends).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from pydicom.errors import InvalidDicomError
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from agpt.errors import DataError

PIXEL_MODES: tuple[str, ...] = ("mimic_jpg_equivalent", "voi")
PLUGIN_HINT = (
    "install the optional DICOM decoders with: pip install 'agpt[dicom-jpeg]' "
    "(pylibjpeg, pylibjpeg-libjpeg, pylibjpeg-openjpeg, pyjpegls)"
)


def read_dicom(path: str | Path, pixels: bool = True) -> pydicom.Dataset:
    """``dcmread`` with DataError for missing files, non-DICOM files and (``pixels``) missing PixelData."""
    try:
        # defer_size keeps PixelData on disk until pixel_array needs it (cheap header checks)
        ds = pydicom.dcmread(path, defer_size=None if pixels else "1 KB")
    except FileNotFoundError:
        raise DataError(path, "image file not found") from None
    except InvalidDicomError as err:
        raise DataError(path, f"not a DICOM file ({err})") from err
    except Exception as err:  # truncated or corrupt files raise assorted errors
        raise DataError(path, f"unreadable DICOM file ({type(err).__name__}: {err})") from err
    if "PixelData" not in ds:
        raise DataError(path, "DICOM file has no PixelData")
    for tag in ("Rows", "Columns", "BitsStored", "PhotometricInterpretation"):
        if tag not in ds:
            raise DataError(path, f"DICOM file has no {tag}")
    if int(ds.get("SamplesPerPixel", 1)) != 1 or str(ds.PhotometricInterpretation) not in (
        "MONOCHROME1",
        "MONOCHROME2",
    ):
        raise DataError(
            path, f"not a grayscale image (PhotometricInterpretation {ds.PhotometricInterpretation})"
        )
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        raise DataError(path, f"multi-frame DICOM ({ds.NumberOfFrames} frames) is not a radiograph")
    return ds


def dicom_size(path: str | Path) -> tuple[int, int]:
    """``(width, height)`` = ``(Columns, Rows)`` from the header, without decoding pixels."""
    ds = read_dicom(path, pixels=False)
    return int(ds.Columns), int(ds.Rows)


def stored_values(ds: pydicom.Dataset, path: object) -> np.ndarray:
    """``pixel_array`` with BitsStored respected: unused high bits of unsigned data masked off."""
    try:
        arr = ds.pixel_array
    except Exception as err:
        ts = ds.file_meta.get("TransferSyntaxUID") if hasattr(ds, "file_meta") else None
        if ts is not None and ts.is_compressed:
            raise DataError(
                path, f"cannot decode {ts.name} pixel data ({type(err).__name__}); {PLUGIN_HINT}"
            ) from err
        raise DataError(path, f"unreadable pixel data ({type(err).__name__}: {err})") from err
    if arr.ndim != 2:
        raise DataError(path, f"pixel data has shape {arr.shape}, expected a 2-D grayscale image")
    bits_stored, bits_allocated = int(ds.BitsStored), int(ds.get("BitsAllocated", arr.dtype.itemsize * 8))
    if int(ds.get("PixelRepresentation", 0)) == 0 and bits_stored < bits_allocated:
        # junk above HighBit (overlays, vendor flags) must not reach the intensities
        shift = int(ds.get("HighBit", bits_stored - 1)) + 1 - bits_stored
        if shift > 0:
            arr = arr >> shift
        arr = np.bitwise_and(arr, arr.dtype.type((1 << bits_stored) - 1))  # in the native dtype: fast
    return arr


def _to_uint8(unit: np.ndarray, invert: bool = False) -> np.ndarray:
    """``[0, 1]`` floats -> uint8 (``invert``: ``1 - unit``), in place on ``unit``."""
    np.clip(unit, 0.0, 1.0, out=unit)
    if invert:
        np.subtract(1.0, unit, out=unit)
    unit *= 255.0
    return np.rint(unit, out=unit).astype(np.uint8)


def _minmax_unit(arr: np.ndarray) -> np.ndarray:
    arr = arr.astype(np.float64)
    lo, hi = float(arr.min()), float(arr.max())
    return np.zeros_like(arr) if hi <= lo else (arr - lo) / (hi - lo)


def equalize_histogram(img: np.ndarray) -> np.ndarray:
    """OpenCV ``equalizeHist`` on ``uint8[H, W]``: ``lut = round((cdf - cdf_min) * 255 / (N - cdf_min))``."""
    hist = np.bincount(img.ravel(), minlength=256)
    nonzero = np.flatnonzero(hist)
    if len(nonzero) <= 1:  # a constant image stays as it is
        return img.copy()
    cdf = np.cumsum(hist)
    cdf_min = cdf[nonzero[0]]
    lut = np.rint((cdf - cdf_min) * 255.0 / (img.size - cdf_min))
    return np.clip(lut, 0, 255).astype(np.uint8)[img]


def _voi_lut_table(ds: pydicom.Dataset) -> tuple[np.ndarray, int] | None:
    """(LUT entries, first mapped value) of VOI LUT Sequence item 0, or None without a sequence."""
    seq = ds.get("VOILUTSequence")
    if not seq:
        return None
    item = seq[0]
    n, first, depth = (int(v) for v in item.LUTDescriptor)
    n = n or 65536  # PS3.3 C.11.2.1.1: 0 means 2^16 entries
    if int(ds.get("PixelRepresentation", 0)) == 1 and first >= 32768:
        first -= 65536  # the first mapped value is signed (SS) for signed pixel data
    if depth != 8 and not 10 <= depth <= 16:
        raise ValueError(f"{depth} bits per VOI LUT entry is not a valid LUT Descriptor depth")
    data = item.LUTData
    if isinstance(data, bytes):  # OW: 16-bit words in the dataset's byte order
        little = (
            ds.file_meta.TransferSyntaxUID.is_little_endian if "TransferSyntaxUID" in ds.file_meta else True
        )
        table = np.frombuffer(data, dtype="<u2" if little else ">u2")[:n].astype(np.int64)
    else:
        table = np.asarray(data if isinstance(data, (list, tuple)) else [data], dtype=np.int64)[:n]
    if len(table) != n:
        raise ValueError(f"VOI LUT Data has {len(table)} entries, the descriptor says {n}")
    return table, first


def _apply_voi(ds: pydicom.Dataset, values: np.ndarray) -> tuple[np.ndarray, tuple[float, float] | None]:
    """(VOI output, its output range), preferring the VOI LUT Sequence over a window (item/index 0).

    The sequence is applied here rather than with pydicom: pydicom 3.0.2 builds its LUT index in
    the LUT's output dtype, so an 8-bit LUT with more than 256 entries wraps its indices.
    """
    lut = _voi_lut_table(ds)
    if lut is not None:
        table, first = lut
        index = np.clip(np.rint(values).astype(np.int64) - first, 0, len(table) - 1)
        return table[index].astype(np.float64), (float(table.min()), float(table.max()))
    if "WindowCenter" in ds and "WindowWidth" in ds:
        out = apply_voi_lut(values, ds, index=0, prefer_lut=True)
        # the window's output range [y_min, y_max], found by windowing two extreme values
        probe = apply_voi_lut(np.array([-1e15, 1e15]), ds, index=0, prefer_lut=True)
        return out, (float(probe.min()), float(probe.max()))
    return values, None


def dicom_to_uint8(ds: pydicom.Dataset, path: object, pixel_mode: str = "mimic_jpg_equivalent") -> np.ndarray:
    """8-bit grayscale ``uint8[Rows, Columns]`` of a read dataset, in the given pixel mode."""
    if pixel_mode not in PIXEL_MODES:
        raise ValueError(f"unknown pixel mode {pixel_mode!r}; valid: {', '.join(PIXEL_MODES)}")
    stored = stored_values(ds, path)
    monochrome1 = str(ds.PhotometricInterpretation) == "MONOCHROME1"
    if pixel_mode == "mimic_jpg_equivalent":
        img = (_minmax_unit(stored) * 255.0).astype(np.uint8)  # the recipe truncates
        if monochrome1:
            img = 255 - img
        return equalize_histogram(img)
    try:
        values, voi_range = _apply_voi(ds, apply_modality_lut(stored, ds))
    except Exception as err:  # malformed LUT / window tags
        raise DataError(path, f"cannot apply modality/VOI LUT ({type(err).__name__}: {err})") from err
    if voi_range is None or voi_range[1] <= voi_range[0]:
        unit = _minmax_unit(values)
    else:
        unit = values.astype(np.float64, copy=True)
        unit -= voi_range[0]
        unit /= voi_range[1] - voi_range[0]
    # MONOCHROME1 is inverted after VOI: the window is defined on the stored polarity
    return _to_uint8(unit, invert=monochrome1)


def load_dicom(path: str | Path, pixel_mode: str = "mimic_jpg_equivalent") -> np.ndarray:
    """Read a ``.dcm`` file into ``uint8[Rows, Columns]``."""
    return dicom_to_uint8(read_dicom(path), path, pixel_mode)
