"""Fixtures for the data tests: a tiny raw data set in the real formats (see rawdata.py)."""

from __future__ import annotations

import pytest

from agpt.data.prepare import PrepareConfig
from tests.unit.data.rawdata import write_raw_dataset


@pytest.fixture(scope="session")
def raw(tmp_path_factory):
    """Read-only shared raw data set (scene graphs unpacked)."""
    return write_raw_dataset(tmp_path_factory.mktemp("raw"))


@pytest.fixture
def raw_copy(tmp_path):
    """A fresh raw data set a test may damage."""
    return write_raw_dataset(tmp_path / "raw")


def make_config(paths, fmt="jpg", mscxr="MS_CXR_Local_Alignment_v1.1.0.json", **kw) -> PrepareConfig:
    kw.setdefault("split_source", "medrpg")
    return PrepareConfig(
        mimic_root=str(paths["jpg_root" if fmt == "jpg" else "dcm_root"]),
        image_format=fmt,
        imagenome_root=str(paths["imagenome"]),
        mscxr=str(paths["mscxr_dir"] / mscxr),
        medrpg_split=str(paths["medrpg_split"]),
        **kw,
    )
