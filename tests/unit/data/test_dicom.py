"""DICOM pixel pipeline (docs/data.md): BitsStored, modality LUT, VOI LUT / window, MONOCHROME1, both modes."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from pydicom.encaps import encapsulate
from pydicom.uid import JPEGLSLossless

from agpt.data.dicom import equalize_histogram, load_dicom
from agpt.data.images import image_size, load_image, verify_image
from agpt.errors import DataError
from tests.unit.data.dicoms import make_dicom, write_dicom

RNG = np.random.default_rng(0)
# 12-bit values on a non-square grid (Rows=30, Columns=40) so a transposition would show
ARR12 = RNG.integers(0, 4096, size=(30, 40)).astype(np.uint16)


def _window_unit(x, center, width):
    """DICOM PS3.3 C.11.2.1.2 linear window, as a fraction of the output range."""
    return np.clip((x - (center - 0.5)) / (width - 1) + 0.5, 0.0, 1.0)


def _u8(unit):
    return np.rint(unit * 255).astype(int)


def test_voi_mode_without_voi_is_min_max_on_the_original_grid(tmp_path):
    out = load_dicom(write_dicom(tmp_path / "a.dcm", ARR12), "voi")
    assert out.dtype == np.uint8 and out.shape == (30, 40)
    x = ARR12.astype(float)
    np.testing.assert_array_equal(out, _u8((x - x.min()) / (x.max() - x.min())))
    assert image_size(tmp_path / "a.dcm") == (40, 30)


def test_monochrome1_is_inverted(tmp_path):
    mono2 = load_dicom(write_dicom(tmp_path / "2.dcm", ARR12), "voi").astype(int)
    mono1 = load_dicom(write_dicom(tmp_path / "1.dcm", ARR12, photometric="MONOCHROME1"), "voi").astype(int)
    assert np.abs(mono1 - (255 - mono2)).max() <= 1


def test_window_is_applied_then_monochrome1_inverted(tmp_path):
    center, width = 1200.0, 1000.0  # off-centre: inverting before windowing would give another image
    want = _u8(_window_unit(ARR12.astype(float), center, width))
    got2 = load_dicom(write_dicom(tmp_path / "w2.dcm", ARR12, window=(center, width)), "voi").astype(int)
    assert np.abs(got2 - want).max() <= 1
    got1 = load_dicom(
        write_dicom(tmp_path / "w1.dcm", ARR12, window=(center, width), photometric="MONOCHROME1"), "voi"
    ).astype(int)
    assert np.abs(got1 - (255 - want)).max() <= 1
    wrong_order = _u8(_window_unit(4095.0 - ARR12, center, width))  # invert first, then window
    assert np.abs(got1 - wrong_order).max() > 50


def test_multi_valued_window_uses_the_first(tmp_path):
    want = _u8(_window_unit(ARR12.astype(float), 1200.0, 1000.0))
    got = load_dicom(
        write_dicom(tmp_path / "m.dcm", ARR12, window=([1200.0, 3000.0], [1000.0, 200.0])), "voi"
    )
    assert np.abs(got.astype(int) - want).max() <= 1


def test_rescale_slope_and_intercept_before_the_window(tmp_path):
    slope, intercept, center, width = 2.0, -100.0, 3000.0, 4000.0
    got = load_dicom(
        write_dicom(tmp_path / "r.dcm", ARR12, rescale=(slope, intercept), window=(center, width)), "voi"
    )
    want = _u8(_window_unit(ARR12 * slope + intercept, center, width))
    assert np.abs(got.astype(int) - want).max() <= 1


@pytest.mark.parametrize(
    "bits, lut_vr, monochrome",
    [(8, "US", "MONOCHROME2"), (16, "OW", "MONOCHROME2"), (12, "OW", "MONOCHROME1")],
)
def test_voi_lut_sequence_wins_over_the_window(tmp_path, bits, lut_vr, monochrome):
    first = 100
    table = ((4095 - np.arange(4096 - first)) // (2 ** (12 - bits) if bits < 12 else 1)).astype(np.uint16)
    table = table * (2 ** (bits - 12)) if bits > 12 else table  # decreasing: shows it was used
    got = load_dicom(
        write_dicom(
            tmp_path / "l.dcm",
            ARR12,
            voi_lut=(first, bits, table),
            lut_vr=lut_vr,
            window=(2000.0, 100.0),
            photometric=monochrome,
        ),
        "voi",
    )
    idx = np.clip(ARR12.astype(int) - first, 0, len(table) - 1)
    lo, hi = table.min(), table.max()
    want = (table[idx] - lo) / (hi - lo)
    want = _u8(1 - want if monochrome == "MONOCHROME1" else want)
    assert np.abs(got.astype(int) - want).max() <= 1


def test_junk_high_bits_are_masked(tmp_path):
    junk = ARR12 | np.uint16(0b1010 << 12)
    for mode in ("voi", "mimic_jpg_equivalent"):
        clean = load_dicom(write_dicom(tmp_path / "c.dcm", ARR12), mode)
        dirty = load_dicom(write_dicom(tmp_path / "j.dcm", junk), mode)
        np.testing.assert_array_equal(clean, dirty)


def test_signed_pixels(tmp_path):
    arr = RNG.integers(-2048, 2048, size=(8, 9)).astype(np.int16)
    got = load_dicom(write_dicom(tmp_path / "s.dcm", arr, signed=True), "voi")
    x = arr.astype(float)
    np.testing.assert_array_equal(got, _u8((x - x.min()) / (x.max() - x.min())))


def test_rle_compressed_decodes_like_uncompressed(tmp_path):
    for mode in ("voi", "mimic_jpg_equivalent"):
        np.testing.assert_array_equal(
            load_dicom(write_dicom(tmp_path / "u.dcm", ARR12), mode),
            load_dicom(write_dicom(tmp_path / "rle.dcm", ARR12, rle=True), mode),
        )


def test_mimic_jpg_equivalent_by_hand(tmp_path):
    arr = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    # min-max to uint8 (truncating): 0, 63, 127, 255; equalised: 4 distinct values -> 0, 85, 170, 255
    got2 = load_dicom(write_dicom(tmp_path / "h2.dcm", arr), "mimic_jpg_equivalent")
    np.testing.assert_array_equal(got2, [[0, 85], [170, 255]])
    got1 = load_dicom(
        write_dicom(tmp_path / "h1.dcm", arr, photometric="MONOCHROME1"), "mimic_jpg_equivalent"
    )
    np.testing.assert_array_equal(got1, [[255, 170], [85, 0]])
    # the recipe ignores windows and LUTs
    got_w = load_dicom(write_dicom(tmp_path / "hw.dcm", arr, window=(10.0, 5.0)), "mimic_jpg_equivalent")
    np.testing.assert_array_equal(got_w, got2)


def test_equalize_histogram_constant_and_spread():
    flat = np.full((3, 3), 7, np.uint8)
    np.testing.assert_array_equal(equalize_histogram(flat), flat)
    img = np.array([[0, 0, 10, 10, 10, 200]], np.uint8)
    np.testing.assert_array_equal(equalize_histogram(img), [[0, 0, 191, 191, 191, 255]])


def test_not_dicom_missing_pixels_missing_file(tmp_path):
    (tmp_path / "text.dcm").write_text("hello, not DICOM")
    with pytest.raises(DataError, match=r"text.dcm: not a DICOM file"):
        load_image(tmp_path / "text.dcm")
    ds = make_dicom(ARR12)
    del ds.PixelData
    ds.save_as(tmp_path / "nopix.dcm", enforce_file_format=True)
    with pytest.raises(DataError, match="nopix.dcm: DICOM file has no PixelData"):
        load_image(tmp_path / "nopix.dcm")
    with pytest.raises(DataError, match="nopix.dcm: DICOM file has no PixelData"):
        verify_image(tmp_path / "nopix.dcm")  # the cheap header check sees it too
    with pytest.raises(DataError, match="missing.dcm: image file not found"):
        load_image(tmp_path / "missing.dcm")


def test_truncated_dicom(tmp_path):
    path = write_dicom(tmp_path / "t.dcm", ARR12)
    path.write_bytes(path.read_bytes()[:-500])
    with pytest.raises(DataError, match="t.dcm"):
        load_image(path, "voi")


def test_compressed_without_plugin_names_the_extra(tmp_path):
    ds = make_dicom(ARR12)
    ds.file_meta.TransferSyntaxUID = JPEGLSLossless
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7 not a real codestream"])
    ds["PixelData"].VR = "OB"
    ds.save_as(tmp_path / "jls.dcm", enforce_file_format=True)
    with pytest.raises(DataError, match="jls.dcm") as err:
        load_image(tmp_path / "jls.dcm", "voi")
    try:
        import pylibjpeg  # noqa: F401
    except ImportError:
        assert "JPEG-LS" in str(err.value) and "agpt[dicom-jpeg]" in str(err.value)


def test_colour_and_multiframe_dicom_refused(tmp_path):
    ds = make_dicom(ARR12)
    ds.PhotometricInterpretation = "RGB"
    ds.save_as(tmp_path / "rgb.dcm", enforce_file_format=True)
    with pytest.raises(DataError, match="not a grayscale image"):
        load_image(tmp_path / "rgb.dcm")


def test_jpg_png_loading(tmp_path):
    gray = RNG.integers(0, 256, size=(20, 30)).astype(np.uint8)
    Image.fromarray(gray).save(tmp_path / "g.png")
    np.testing.assert_array_equal(load_image(tmp_path / "g.png"), gray)
    Image.fromarray(np.stack([gray] * 3, -1)).save(tmp_path / "rgb.png")
    np.testing.assert_array_equal(load_image(tmp_path / "rgb.png"), gray)
    Image.fromarray(gray).save(tmp_path / "g.jpg", quality=95)
    jpg = load_image(tmp_path / "g.jpg")
    assert jpg.shape == (20, 30) and np.abs(jpg.astype(int) - gray).mean() < 8
    assert image_size(tmp_path / "g.jpg") == (30, 20)
    sixteen = np.array([[0, 1000], [2000, 4000]], dtype=np.uint16)
    Image.fromarray(sixteen).save(tmp_path / "s16.png")
    np.testing.assert_array_equal(load_image(tmp_path / "s16.png"), [[0, 64], [128, 255]])


def test_unreadable_and_missing_jpg(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"\xff\xd8garbage")
    with pytest.raises(DataError, match="bad.jpg: unreadable image"):
        load_image(tmp_path / "bad.jpg")
    Image.fromarray(np.zeros((50, 50), np.uint8) + 9).save(tmp_path / "cut.jpg")
    data = (tmp_path / "cut.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="cut.jpg: unreadable image"):
        load_image(tmp_path / "cut.jpg")
    with pytest.raises(DataError, match="nope.jpg: image file not found"):
        load_image(tmp_path / "nope.jpg")
    with pytest.raises(ValueError, match="unknown pixel mode 'raw'"):
        load_image(tmp_path / "cut.jpg", pixel_mode="raw")


def test_voi_lut_on_signed_pixels_with_a_negative_first_value(tmp_path):
    arr = RNG.integers(-2048, 2048, size=(8, 9)).astype(np.int16)
    first = -2048
    table = np.arange(4096, dtype=np.uint16)  # identity on [-2048, 2047] -> [0, 4095]
    got = load_dicom(
        write_dicom(tmp_path / "s.dcm", arr, signed=True, voi_lut=(first, 12, table), lut_vr="OW"),
        "voi",
    )
    np.testing.assert_array_equal(got, _u8((arr.astype(float) + 2048) / 4095))
