"""A small phantom (30 pre-training + 20 MS-CXR images) generated once per test session."""

import pytest

from agpt.phantom import PhantomConfig, generate_phantom

SMALL = dict(n_pretrain=30, n_mscxr_images=20)


@pytest.fixture(scope="session")
def phantom_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("phantom_a")
    generate_phantom(out, PhantomConfig(seed=1, workers=2, **SMALL))
    return out
