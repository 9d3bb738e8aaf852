"""One phantom radiograph: patient geometry, acquisition style and findings from a per-image seed."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agpt.phantom.anatomy_model import build_anatomy, sample_patient
from agpt.phantom.findings import Finding, PixelGrid, draw_finding, sample_finding
from agpt.phantom.phrases import phrase_for
from agpt.phantom.render import Style, compose, draw_layers

# Realistic MIMIC-CXR (Rows, Columns) shapes; the phantom keeps the aspect ratio at a smaller scale.
REAL_SHAPES: tuple[tuple[int, int], ...] = ((3056, 2544), (3050, 2539), (2544, 3056), (2539, 3050), (2828, 2320),
                                            (3032, 2520), (2500, 2048), (2048, 2500))


@dataclass(frozen=True)
class ImageSpec:
    """What to draw for one image (decided by the plan, before any pixels)."""

    index: int  # position in the plan; with the seed it fixes every random choice
    dicom_id: str
    subject_id: str
    study_id: str
    view: str  # PA or AP
    rows: int
    columns: int
    subset: str  # "pretrain" or "mscxr"
    categories: tuple[str, ...]  # findings to draw (phrases only for the mscxr subset)


@dataclass
class ImageResult:
    """Pixels (brightness in [0, 1], float32 [rows, columns]) plus the geometry-derived annotations."""

    spec: ImageSpec
    brightness: np.ndarray
    anatomy_boxes: dict[str, tuple[float, float, float, float]]
    findings: list[tuple[Finding, str]]  # (drawn finding with gold boxes, phrase)
    dropped: list[str]  # planned categories that produced no box or no distinct phrase (counted in phantom.json)


def sample_shape(rng: np.random.Generator, portable: bool) -> tuple[int, int]:
    """(rows, columns) with a real aspect ratio and the long side in [512, 768]."""
    shapes = REAL_SHAPES if portable else REAL_SHAPES[:2] + REAL_SHAPES[4:6]
    r, c = shapes[int(rng.integers(len(shapes)))]
    long_side = int(rng.integers(512, 769))
    scale = long_side / max(r, c)
    return int(round(r * scale)), int(round(c * scale))


def make_image(spec: ImageSpec, seed: int) -> ImageResult:
    """Draw one image; deterministic for ``(seed, spec.index)`` whatever process runs it."""
    rng = np.random.default_rng(np.random.SeedSequence([seed, 7919, spec.index]))
    portable = spec.view == "AP"
    p = sample_patient(rng, spec.columns, spec.rows, portable=portable, cardiomegaly="Cardiomegaly" in spec.categories)
    a = build_anatomy(p, spec.columns, spec.rows)
    style = Style.sample(rng, portable=portable, shifted=spec.subset == "mscxr")
    layers = draw_layers(a, rng, style)
    grid = PixelGrid(a) if spec.categories else None
    drawn: list[tuple[Finding, str]] = []
    used_phrases: set[str] = set()
    dropped: list[str] = []
    for cat in spec.categories:
        f = draw_finding(a, layers, grid, rng, sample_finding(rng, cat))
        if not f.boxes:
            dropped.append(cat)
            continue
        phrase = phrase_for(f, rng)
        for _ in range(20):  # phrases group boxes by (dicom_id, label_text): keep them distinct
            if phrase not in used_phrases:
                break
            phrase = phrase_for(f, rng)
        if phrase in used_phrases:
            dropped.append(cat)
            continue
        used_phrases.add(phrase)
        drawn.append((f, phrase))
    return ImageResult(spec=spec, brightness=compose(layers, rng, style), anatomy_boxes=a.boxes, findings=drawn,
                       dropped=dropped)
