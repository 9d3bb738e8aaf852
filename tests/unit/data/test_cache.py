"""Preprocessing cache: exact inverse letterbox mapping, equality with direct decoding, stale detection."""

from __future__ import annotations

import csv
import os

import numpy as np
import pytest
from PIL import Image

from agpt.boxes import Letterbox
from agpt.data.cache import ImageCache, build_cache, letterbox_image
from agpt.data.images import load_image
from agpt.data.prepare import build_prepared, write_prepared
from agpt.errors import AgptError, DataError
from tests.unit.data.conftest import make_config
from tests.unit.data.rawdata import PATIENTS


def _canvas_box(canvas: np.ndarray) -> np.ndarray:
    """xyxy pixel-edge box of the bright pixels of a canvas."""
    ys, xs = np.nonzero(canvas > 127)
    return np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], dtype=float)


@pytest.mark.parametrize(
    "width, height, size, box",
    [
        (256, 160, 128, (40, 30, 120, 90)),  # scale 1/2: canvas edges are integers
        (160, 256, 64, (16, 48, 96, 200)),  # portrait, scale 1/4
        (50, 40, 100, (10, 5, 30, 25)),  # enlarged (bilinear), scale 2
    ],
)
def test_box_drawn_into_an_image_comes_back_at_its_original_pixels(tmp_path, width, height, size, box):
    img = np.zeros((height, width), np.uint8)
    x1, y1, x2, y2 = box
    img[y1:y2, x1:x2] = 255
    canvas, lb = letterbox_image(img, size)
    assert canvas.shape == (size, size) and lb == Letterbox(width, height, size)
    back = lb.boxes_to_original(_canvas_box(canvas))
    np.testing.assert_allclose(back, box, atol=1e-9)
    # and through the model's normalised cxcywh frame
    np.testing.assert_allclose(
        lb.normalised_cxcywh_to_original_xyxy(lb.original_xyxy_to_normalised_cxcywh(np.array(box, float))),
        box,
        atol=1e-9,
    )


def test_box_comes_back_within_a_canvas_pixel_at_odd_scales():
    width, height, size, box = (333, 217, 100, (101, 57, 250, 180))
    img = np.zeros((height, width), np.uint8)
    img[box[1] : box[3], box[0] : box[2]] = 255
    canvas, lb = letterbox_image(img, size)
    back = lb.boxes_to_original(_canvas_box(canvas))
    assert np.abs(back - np.array(box)).max() <= 1 / lb.scale_x + 1e-9  # at most one canvas pixel


def _prepared(raw, tmp_path, fmt="jpg"):
    out = tmp_path / f"prep-{fmt}"
    write_prepared(build_prepared(make_config(raw, fmt)), out)
    return out, raw["jpg_root" if fmt == "jpg" else "dcm_root"]


@pytest.mark.parametrize("fmt, mode, workers", [("jpg", "mimic_jpg_equivalent", 2), ("dcm", "voi", 1)])
def test_cache_matches_direct_decoding_and_maps_back(raw, tmp_path, fmt, mode, workers):
    prepared, root = _prepared(raw, tmp_path, fmt)
    record = build_cache(prepared, root, 48, tmp_path / "cache", pixel_mode=mode, workers=workers)
    cache = ImageCache.open(tmp_path / "cache", size=48, pixel_mode=mode)
    assert len(cache) == record["n_images"] == 8 and record["images_per_second"] > 0
    for dicom_id in cache.dicom_ids:
        p = next(p for p in PATIENTS if p.dicom_id == dicom_id)
        direct = load_image(root / p.rel(fmt), pixel_mode=mode)
        np.testing.assert_array_equal(cache.image(dicom_id), letterbox_image(direct, 48)[0])
        assert cache.letterbox(dicom_id) == Letterbox(p.width, p.height, 48)
        assert cache.image(dicom_id).dtype == np.uint8
    assert PATIENTS[4].dicom_id not in cache  # missing scene graph: never prepared
    with pytest.raises(AgptError, match="not in the cache"):
        cache.image(PATIENTS[4].dicom_id)


@pytest.fixture
def built(raw_copy, tmp_path):
    prepared, root = _prepared(raw_copy, tmp_path)
    build_cache(prepared, root, 32, tmp_path / "cache", workers=1)
    return prepared, root, tmp_path / "cache"


def test_stale_when_an_image_file_changes(built):
    prepared, root, cache_dir = built
    ImageCache.open(cache_dir)
    path = root / PATIENTS[0].rel("jpg")
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    with pytest.raises(AgptError, match="stale cache.*agpt data cache"):
        ImageCache.open(cache_dir)
    assert build_cache(prepared, root, 32, cache_dir, workers=1)["rebuilt"]  # rebuilding fixes it
    ImageCache.open(cache_dir)
    assert not build_cache(prepared, root, 32, cache_dir, workers=1)["rebuilt"]  # up to date: kept
    assert build_cache(prepared, root, 32, cache_dir, workers=1, force=True)["rebuilt"]
    assert build_cache(prepared, root, 16, cache_dir, workers=1)["rebuilt"]  # other settings: rebuilt
    assert ImageCache.open(cache_dir).size == 16


def test_stale_when_the_image_list_changes_or_an_image_is_gone(built):
    prepared, root, cache_dir = built
    rows = list(csv.reader((prepared / "images.csv").read_text().splitlines()))
    with open(prepared / "images.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows[:-1])
    with pytest.raises(AgptError, match="stale cache"):
        ImageCache.open(cache_dir)
    with open(prepared / "images.csv", "w", newline="") as f:
        csv.writer(f).writerows(rows)
    ImageCache.open(cache_dir)
    (root / PATIENTS[0].rel("jpg")).unlink()
    with pytest.raises(AgptError, match="stale cache.*image file not found"):
        ImageCache.open(cache_dir)


def test_mismatched_settings_and_incomplete_cache(built):
    _, _, cache_dir = built
    with pytest.raises(AgptError, match="cache size is 32, the model needs 64"):
        ImageCache.open(cache_dir, size=64)
    with pytest.raises(AgptError, match="pixel mode is mimic_jpg_equivalent, wanted voi"):
        ImageCache.open(cache_dir, pixel_mode="voi")
    ImageCache.open(cache_dir, verify=False)
    np.save(cache_dir / "images.npy", np.zeros((2, 32, 32), np.uint8))
    with pytest.raises(AgptError, match="images.npy has shape"):
        ImageCache.open(cache_dir)
    (cache_dir / "cache.json").unlink()
    with pytest.raises(AgptError, match="not a complete image cache"):
        ImageCache.open(cache_dir)


def test_code_version_is_part_of_the_key(built, monkeypatch):
    _, _, cache_dir = built
    import agpt

    monkeypatch.setattr(agpt, "__version__", "99.0")
    with pytest.raises(AgptError, match="another code version"):
        ImageCache.open(cache_dir)


def test_unreadable_image_names_the_file(raw_copy, tmp_path):
    prepared, root = _prepared(raw_copy, tmp_path)
    (root / PATIENTS[6].rel("jpg")).write_bytes(b"\xff\xd8 truncated")
    with pytest.raises(DataError, match=PATIENTS[6].dicom_id + r".jpg: unreadable image"):
        build_cache(prepared, root, 32, tmp_path / "cache", workers=2)
    assert not (tmp_path / "cache" / "cache.json").exists()
    Image.new("L", (7, 7)).save(root / PATIENTS[6].rel("jpg"))
    with pytest.raises(DataError, match="image is 7x7, images.csv says"):
        build_cache(prepared, root, 32, tmp_path / "cache", workers=1)
