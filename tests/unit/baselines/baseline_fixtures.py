"""A hand-made prepared directory (written with agpt's own prepared-dir writers) with known answers."""

from __future__ import annotations

from pathlib import Path

from agpt.data.prepared import write_anatomy_csv, write_mscxr_csv
from agpt.data.records import AnatomyImage, PhraseSample


def _phrase(dicom_id, category, text, boxes_xyxy, size, split):
    return PhraseSample(dicom_id=dicom_id, label_text=text, category_name=category,
                        path=f"files/p10/p10000000/s50000000/{dicom_id}.jpg", image_width=size[0],
                        image_height=size[1], boxes_xyxy=tuple(boxes_xyxy), split=split, subject_id="10000000")


A, B, T1, T2 = "img-a", "img-b", "img-t1", "img-t2"

TRAIN = [
    _phrase(A, "Cardiomegaly", "Enlarged heart.", [(10, 20, 50, 60)], (100, 200), "train"),
    _phrase(B, "Pneumothorax", "Right apical pneumothorax.", [(100, 10, 200, 50)], (200, 100), "train"),
    _phrase(B, "Cardiomegaly", "Cardiomegaly, moderate.", [(20, 20, 40, 40), (60, 30, 80, 90)], (200, 100), "train"),
]
# centre prior (normalised xyxy): mean of (0.1,0.1,0.5,0.3), (0.5,0.1,1,0.5), (0.1,0.2,0.4,0.9)
CENTRE_300 = (70.0, 40.0, 190.0, 170.0)  # on a 300 x 300 image
CARDIOMEGALY_300 = (30.0, 45.0, 135.0, 180.0)
PNEUMOTHORAX_300 = (150.0, 30.0, 300.0, 150.0)

TEST = [
    _phrase(T1, "Atelectasis", "Bibasilar atelectasis.", [(20, 200, 280, 280)], (300, 300), "test"),
    _phrase(T1, "Pneumothorax", "Right apical pneumothorax.", [(20, 10, 100, 60)], (300, 300), "test"),
    _phrase(T1, "Pleural Effusion", "No left effusion.", [(70, 40, 190, 170)], (300, 300), "test"),
    _phrase(T2, "Cardiomegaly", "Cardiomegaly.", [(0, 0, 10, 10)], (300, 300), "test"),
]
VAL = [_phrase("img-v", "Edema", "Mild edema.", [(1, 1, 5, 5)], (10, 10), "val")]

# anatomy boxes (xyxy pixels) of the MS-CXR images
ANATOMY = {
    A: ((100, 200), {"right apical zone": (10, 20, 30, 60)}),  # normalised (0.1, 0.1, 0.3, 0.3)
    B: ((200, 100), {"right apical zone": (20, 10, 100, 50)}),  # normalised (0.1, 0.1, 0.5, 0.5)
    T1: ((300, 300), {"right lower lung zone": (20, 200, 140, 270), "left lower lung zone": (160, 210, 280, 280)}),
}
MEAN_RIGHT_APEX_300 = (30.0, 30.0, 120.0, 120.0)  # mean (0.1, 0.1, 0.4, 0.4) on 300 x 300
BIBASILAR_T1 = (20.0, 200.0, 280.0, 280.0)


def write_prepared(root: Path) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    write_mscxr_csv(root / "mscxr_train.csv", TRAIN)
    write_mscxr_csv(root / "mscxr_val.csv", VAL)
    write_mscxr_csv(root / "mscxr_test.csv", TEST)
    images = [AnatomyImage(d, "10000000", "50000000", f"{d}.jpg", size[0], size[1], "mscxr", boxes)
              for d, (size, boxes) in ANATOMY.items()]
    write_anatomy_csv(root / "anatomy_mscxr.csv", images)
    return root
