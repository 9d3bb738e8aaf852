"""Fixtures of the engine tests: a small prepared directory + image cache built with the data layer."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from agpt.data.cache import build_cache
from agpt.data.prepared import write_anatomy_csv, write_images_csv, write_mscxr_csv
from agpt.data.records import AnatomyImage, PhraseSample

CANVAS = 64  # the tiny preset's canvas


def _image(rng, width, height, blob):
    """A dark grey film with lung-like bright fields and one bright 'finding' blob (xyxy)."""
    img = rng.integers(10, 40, (height, width)).astype(np.uint8)
    img[height // 6: height * 5 // 6, width // 8: width * 3 // 8] += 60  # right lung (image left)
    img[height // 6: height * 5 // 6, width * 5 // 8: width * 7 // 8] += 60  # left lung
    x1, y1, x2, y2 = (int(v) for v in blob)
    img[y1:y2, x1:x2] = 230
    return img


@pytest.fixture(scope="session")
def prepared_data(tmp_path_factory):
    """``(prepared_dir, cache_dir, image_root)``: 8 anatomy images (6 train, 2 val), 10 MS-CXR images."""
    root = tmp_path_factory.mktemp("engine_data")
    image_root, prepared = root / "images", root / "prepared"
    image_root.mkdir()
    prepared.mkdir()
    rng = np.random.default_rng(0)
    all_images, anatomy, phrases = [], {"train": [], "val": [], "mscxr": []}, {"train": [], "val": [], "test": []}
    categories = ("Pleural Effusion", "Pneumothorax", "Cardiomegaly")
    for i in range(18):
        width, height = int(rng.integers(90, 130)), int(rng.integers(90, 130))
        side = i % 2  # 0: finding in the image-left (patient right) lung
        bx = width // 8 if side == 0 else width * 5 // 8
        blob = (bx, height // 2, bx + width // 4, height * 5 // 6)
        dicom_id = f"{i:04d}abcd-0000-0000-0000-000000000000"
        subject = f"1{i:07d}"
        path = f"files/p1{i % 10}/p{subject}/s5{i:07d}/{dicom_id}.png"
        (image_root / path).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_image(rng, width, height, blob)).save(image_root / path)
        boxes = {
            "right lung": (width / 8, height / 6, width * 3 / 8, height * 5 / 6),
            "left lung": (width * 5 / 8, height / 6, width * 7 / 8, height * 5 / 6),
            "cardiac silhouette": (width * 3 / 8, height / 2, width * 5 / 8, height * 5 / 6),
        }
        if i < 8:
            split = "train" if i < 6 else "val"
        else:
            split = "mscxr"
        img = AnatomyImage(dicom_id, subject, f"5{i:07d}", path, width, height, split, boxes)
        all_images.append(img)
        anatomy[split].append(img)
        if split == "mscxr":
            j = i - 8
            mscxr_split = "train" if j < 6 else ("val" if j < 8 else "test")
            text = f"{'right' if side == 0 else 'left'} {'effusion' if j % 3 else 'opacity'}"
            phrases[mscxr_split].append(PhraseSample(
                dicom_id, text, categories[j % 3], path, width, height, (tuple(float(v) for v in blob),),
                mscxr_split, subject, (j,)))
    for split, imgs in anatomy.items():
        write_anatomy_csv(prepared / f"anatomy_{split}.csv", imgs)
    for split, samples in phrases.items():
        write_mscxr_csv(prepared / f"mscxr_{split}.csv", samples)
    write_images_csv(prepared / "images.csv", all_images)
    (prepared / "rejects.csv").write_text("file,row,record,reason\n")
    (prepared / "manifest.json").write_text(json.dumps({"hash": "fixture-hash-1", "counts": {}}) + "\n")
    cache = root / "cache"
    build_cache(prepared, image_root, CANVAS, cache, workers=1)
    return prepared, cache, image_root


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Tiny models on a shared 2-core machine run fastest on one thread (docs/engine.md); restored after."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
