"""DICOM fixture writer (pydicom 3, ``save_as(..., enforce_file_format=True)``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, RLELossless, generate_uid

SOP_CLASS_DX = "1.2.840.10008.5.1.4.1.1.1.1"


def make_dicom(
    arr: np.ndarray,
    bits_stored: int = 12,
    photometric: str = "MONOCHROME2",
    signed: bool = False,
    window: tuple | None = None,
    rescale: tuple[float, float] | None = None,
    voi_lut: tuple[int, int, np.ndarray] | None = None,
    lut_vr: str = "US",
    patient_name: str = "Doe^Jane",
) -> Dataset:
    """A DX dataset with ``arr`` (uint16/int16 ``[Rows, Columns]``) as PixelData, 16 bits allocated."""
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.MediaStorageSOPClassUID = SOP_CLASS_DX
    meta.MediaStorageSOPInstanceUID = generate_uid()
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID = SOP_CLASS_DX, meta.MediaStorageSOPInstanceUID
    ds.Modality, ds.PatientName, ds.PatientID, ds.ViewPosition = "DX", patient_name, "123456", "PA"
    ds.Rows, ds.Columns = arr.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = arr.astype(np.int16 if signed else np.uint16).tobytes()
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window[0], window[1]
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if voi_lut is not None:
        first, bits, table = voi_lut
        item = Dataset()
        item.LUTDescriptor = [len(table), first, bits]
        if lut_vr == "OW":
            item.LUTData = np.asarray(table, dtype="<u2").tobytes()
        else:
            item.LUTData = [int(v) for v in table]
        item["LUTData"].VR = lut_vr
        ds.VOILUTSequence = Sequence([item])
    return ds


def write_dicom(path: Path, arr: np.ndarray, rle: bool = False, **kwargs) -> Path:
    ds = make_dicom(arr, **kwargs)
    if rle:
        ds.compress(RLELossless)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return Path(path)
