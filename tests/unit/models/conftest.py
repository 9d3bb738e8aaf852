"""Fixtures for the model tests: offline switches, deterministic seeds, tiny inputs."""

from __future__ import annotations

import os

import pytest
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

PHRASES = ["left lung", "right pleural effusion, small.", "cardiomegaly", "pneumothorax at the right apex"]


@pytest.fixture(autouse=True)
def _seed_and_one_thread():
    """Seeded, and single-threaded: tiny models gain nothing from 2 threads, and other test
    processes share the 2 cores (intra-op spinning then costs 10x)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def phrases() -> list[str]:
    return list(PHRASES)


def random_boxes(n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """``[n, 4]`` cxcywh boxes well inside the canvas."""
    centre = torch.rand(n, 2, generator=generator) * 0.4 + 0.3
    size = torch.rand(n, 2, generator=generator) * 0.3 + 0.15
    return torch.cat([centre, size], dim=1)
