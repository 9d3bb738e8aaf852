"""Write phantom radiographs as MIMIC-like DX DICOM files and derive their JPGs with the MIMIC-CXR-JPG recipe.

Header variety mirrors what real loaders must cope with (datasets.md section 4): BitsStored 12
or 16, MONOCHROME1 (stored values inverted) or MONOCHROME2, a window, optionally a rescale
slope/intercept, or a VOI LUT sequence with no window at all.  The identifying tags carry
obviously fake values containing ``FAKE_IDENTIFIER_MARKER`` so the suite can test that none of
them ever reaches an output.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
# Every fake identifying value contains this marker; no file written by agpt may contain it.
FAKE_IDENTIFIER_MARKER = "DONOTLEAK"
FAKE_INSTITUTION = f"PHANTOM {FAKE_IDENTIFIER_MARKER} HOSPITAL"


@dataclass(frozen=True)
class HeaderVariant:
    """How the pixel values are stored and which display tags the file carries."""

    bits_stored: int  # 12 or 16
    monochrome1: bool
    voi: str  # "window", "window+rescale" or "lut" (VOILUTSequence only, no WindowCenter)

    @classmethod
    def sample(cls, rng: np.random.Generator) -> "HeaderVariant":
        return cls(bits_stored=int(rng.choice([12, 16], p=[0.7, 0.3])), monochrome1=bool(rng.random() < 0.35),
                   voi=str(rng.choice(["window", "window+rescale", "lut"], p=[0.55, 0.25, 0.2])))


def fake_identity(patient_number: int) -> dict[str, str]:
    """Recognisably fake identifying tag values for one phantom patient."""
    return {
        "PatientName": f"PHANTOM^{FAKE_IDENTIFIER_MARKER}^{patient_number}",
        "PatientID": f"{FAKE_IDENTIFIER_MARKER}-{patient_number:06d}",
        "PatientBirthDate": f"1900{1 + patient_number % 12:02d}{1 + patient_number % 28:02d}",
        "InstitutionName": FAKE_INSTITUTION,
    }


def stored_pixels(brightness: np.ndarray, variant: HeaderVariant, rng: np.random.Generator) -> np.ndarray:
    """Brightness float [H, W] in [0, 1] -> uint16 stored values (inverted for MONOCHROME1)."""
    top = 2 ** variant.bits_stored - 1
    lo = rng.uniform(0.0, 0.08) * top
    span = rng.uniform(0.55, 0.9) * (top - lo)
    if variant.voi == "lut":
        span = min(span, 30000.0)  # a US LUTData element holds < 32768 entries in explicit VR
    raw = lo + brightness.astype(np.float64) * span
    if variant.monochrome1:
        raw = top - raw  # MONOCHROME1: high stored value = dark
    return np.clip(np.rint(raw), 0, top).astype(np.uint16)


def _voi_lut_item(stored_lo: int, stored_hi: int, monochrome1: bool) -> Dataset:
    """A sigmoid VOI LUT over [stored_lo, stored_hi] with 12-bit output."""
    n = max(2, stored_hi - stored_lo + 1)
    x = np.linspace(-4, 4, n)
    y = 1 / (1 + np.exp(-x))
    y = (y - y.min()) / (y.max() - y.min())
    item = Dataset()
    item.add_new(0x00283002, "US", [n if n < 65536 else 0, stored_lo, 12])  # LUTDescriptor
    item.LUTExplanation = "PHANTOM SIGMOID"
    item.add_new(0x00283006, "US", [int(v) for v in np.rint(y * 4095)])  # LUTData
    return item


def build_dataset(pixels: np.ndarray, variant: HeaderVariant, *, dicom_id: str, subject_id: str, study_id: str,
                  patient_number: int, view: str, study_date: str, study_time: str,
                  pixel_spacing_mm: float, sex: str) -> Dataset:
    """A DX DICOM dataset around uint16 stored ``pixels`` [Rows, Columns]."""
    sop_uid = generate_uid(entropy_srcs=["agpt-phantom", dicom_id])
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_FOR_PRESENTATION
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = DX_FOR_PRESENTATION
    ds.SOPInstanceUID = sop_uid
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["agpt-phantom-study", study_id])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["agpt-phantom-series", dicom_id])
    ds.Modality = "DX"
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = view
    ds.PatientOrientation = ["L", "F"] if view == "PA" else ["R", "F"]
    ds.StudyDate = study_date
    ds.StudyTime = study_time
    for key, value in fake_identity(patient_number).items():
        setattr(ds, key, value)
    ds.AccessionNumber = f"{FAKE_IDENTIFIER_MARKER}{patient_number % 10_000_000:07d}"
    ds.PatientSex = sex
    ds.StudyID = study_id[-6:]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.ImagerPixelSpacing = [f"{pixel_spacing_mm:.4f}", f"{pixel_spacing_mm:.4f}"]
    ds.Rows, ds.Columns = int(pixels.shape[0]), int(pixels.shape[1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME1" if variant.monochrome1 else "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = variant.bits_stored
    ds.HighBit = variant.bits_stored - 1
    ds.PixelRepresentation = 0
    slope, intercept = (1.0, 0.0)
    if variant.voi == "window+rescale":
        slope, intercept = (2.0, -1024.0) if variant.bits_stored == 12 else (1.0, -32768.0)
        ds.RescaleSlope = f"{slope:g}"
        ds.RescaleIntercept = f"{intercept:g}"
        ds.RescaleType = "US"
    lo, hi = np.percentile(pixels, [0.5, 99.5])
    if variant.voi == "lut":
        ds.VOILUTSequence = Sequence([_voi_lut_item(int(lo), int(hi), variant.monochrome1)])
    else:
        ds.WindowCenter = f"{(lo + hi) / 2 * slope + intercept:.1f}"
        ds.WindowWidth = f"{max(1.0, (hi - lo) * 1.1 * slope):.1f}"
    ds.PixelData = pixels.astype("<u2").tobytes()
    return ds


def save_dicom(ds: Dataset, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)


def equalize_hist(u8: np.ndarray) -> np.ndarray:
    """OpenCV's ``equalizeHist`` on uint8 (the MIMIC-CXR-JPG recipe step)."""
    hist = np.bincount(u8.ravel(), minlength=256).astype(np.int64)
    first = int(np.nonzero(hist)[0][0])
    total = int(u8.size)
    if hist[first] == total:
        return np.full_like(u8, first)
    scale = 255.0 / (total - hist[first])
    cum = np.cumsum(hist) - hist[first]
    lut = np.clip(np.rint(cum * scale), 0, 255).astype(np.uint8)
    lut[: first + 1] = 0
    return lut[u8]


def mimic_jpg_pixels(ds: Dataset) -> np.ndarray:
    """uint8 [Rows, Columns] exactly as MIMIC-CXR-JPG made its JPGs: min-max, invert MONOCHROME1, equalise.

    No rescale, no windowing, no VOI LUT (datasets.md section 3).
    """
    arr = ds.pixel_array.astype(np.float64)
    arr = arr - arr.min()
    if arr.max() > 0:
        arr = arr / arr.max()
    u8 = (arr * 255).astype(np.uint8)
    if ds.PhotometricInterpretation == "MONOCHROME1":
        u8 = 255 - u8
    return equalize_hist(u8)


def save_jpg(u8: np.ndarray, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(u8, mode="L").save(path, format="JPEG", quality=95)


def read_dicom(path: Path) -> Dataset:
    """Read back (used by tests and the JPG step)."""
    return pydicom.dcmread(path)
