"""Device choice, autocast, seeding, fp32 losses, progress bar off without a TTY."""

import dataclasses

import numpy as np
import pytest
import torch

from agpt.engine.runtime import autocast, choose_device, progress_bar, seed_everything, to_float32
from agpt.errors import AgptError


def test_device_choice():
    assert choose_device("cpu").type == "cpu"
    assert choose_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    if not torch.cuda.is_available():
        with pytest.raises(AgptError, match="no CUDA device"):
            choose_device("cuda")
    with pytest.raises(AgptError, match="valid: auto, cpu, cuda"):
        choose_device("tpu")


def test_cpu_runs_in_fp32():
    with autocast(torch.device("cpu"), amp=True):
        y = torch.nn.Linear(3, 2)(torch.ones(1, 3))
    assert y.dtype == torch.float32


def test_seeding_is_repeatable():
    seed_everything(5)
    a = (np.random.rand(), torch.rand(1))
    seed_everything(5)
    b = (np.random.rand(), torch.rand(1))
    assert a[0] == b[0] and torch.equal(a[1], b[1])


def test_outputs_cast_to_float32_for_the_loss():
    @dataclasses.dataclass
    class Out:
        pred_boxes: torch.Tensor
        aux: list
        n: int = 3

    out = to_float32(Out(torch.ones(2, 4, dtype=torch.bfloat16), [{"b": torch.ones(1, dtype=torch.float16)}]))
    assert out.pred_boxes.dtype == torch.float32 and out.aux[0]["b"].dtype == torch.float32 and out.n == 3


def test_progress_bar_is_off_without_a_tty():
    bar = progress_bar(3, "x", enabled=True)  # pytest captures stderr: not a TTY
    assert bar.disable
    bar.close()
