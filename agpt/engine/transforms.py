"""Training augmentation on the cached letterboxed canvas, and input normalisation.

Every geometric change is one affine map applied to the image (Pillow, bilinear, zero fill)
and to the boxes (the four corners transformed, the enclosing box taken, clipped to the
canvas), so boxes stay on their content exactly. There is deliberately **no horizontal
flip** (phrases say "left"/"right"; a flipped chest film puts the heart on the wrong side)
and no crop: translations are limited so that no box leaves the canvas.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from PIL import Image

# AGPT's single-channel normalisation (ImageNet's red-channel statistics).
PIXEL_MEAN = 0.485
PIXEL_STD = 0.229


@dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random transforms (all sampled uniformly)."""

    scale: tuple[float, float] = (0.9, 1.1)  # zoom about the canvas centre
    translate: float = 0.05  # max shift, fraction of the canvas side (limited so boxes stay inside)
    rotate_deg: float = 2.0  # small affine: rotation
    shear_deg: float = 2.0  # small affine: shear (~ +-2 % skew)
    brightness: float = 0.2  # multiply by 1 +- b
    contrast: float = 0.2  # scale around the mean by 1 +- c
    gamma: tuple[float, float] = (0.8, 1.25)
    noise_std: tuple[float, float] = (0.0, 6.0)  # Gaussian noise, grey levels of 255
    geometric: bool = True  # False: intensity and noise only (AGPT's pre-training augmentation)


def affine_matrix(size: int, scale: float, rotate_deg: float, shear_deg: float, tx: float, ty: float) -> np.ndarray:
    """3x3 forward map (canvas pixels -> canvas pixels) about the canvas centre, then a shift."""
    c = size / 2.0
    r, sh = math.radians(rotate_deg), math.radians(shear_deg)
    rot = np.array([[math.cos(r), -math.sin(r), 0], [math.sin(r), math.cos(r), 0], [0, 0, 1]])
    shear = np.array([[1, math.tan(sh), 0], [0, 1, 0], [0, 0, 1]])
    zoom = np.diag([scale, scale, 1.0])
    to_origin = np.array([[1, 0, -c], [0, 1, -c], [0, 0, 1]])
    back = np.array([[1, 0, c + tx], [0, 1, c + ty], [0, 0, 1]])
    return back @ rot @ shear @ zoom @ to_origin


def transform_boxes(boxes_xyxy: np.ndarray, matrix: np.ndarray, size: int | None = None) -> np.ndarray:
    """Map ``[N, 4]`` xyxy boxes through a 3x3 affine: corners -> enclosing box (-> clipped to ``size``)."""
    b = np.asarray(boxes_xyxy, dtype=np.float64).reshape(-1, 4)
    corners = np.stack(
        [b[:, [0, 1]], b[:, [2, 1]], b[:, [0, 3]], b[:, [2, 3]]], axis=1
    )  # [N, 4 corners, 2]
    pts = corners @ matrix[:2, :2].T + matrix[:2, 2]
    out = np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1)
    if size is not None:
        out = np.clip(out, 0.0, float(size))
    return out


def warp_image(image: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Apply the forward affine ``matrix`` to a ``uint8[S, S]`` canvas (bilinear, zero fill)."""
    inv = np.linalg.inv(matrix)  # Pillow wants output -> input
    size = image.shape[1], image.shape[0]
    # Pillow samples pixel centres at +0.5; shift so the map acts on continuous coordinates.
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    unshift = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    m = unshift @ inv @ shift
    coeffs = (m[0, 0], m[0, 1], m[0, 2], m[1, 0], m[1, 1], m[1, 2])
    out = Image.fromarray(image).transform(size, Image.Transform.AFFINE, coeffs, Image.Resampling.BILINEAR, fillcolor=0)
    return np.asarray(out)


class Augment:
    """Random geometric + intensity augmentation of ``(uint8[S, S] canvas, [N, 4] xyxy canvas boxes)``.

    Returns ``(float32[S, S] in [0, 255], [N, 4] xyxy)``. All randomness comes from the
    ``numpy.random.Generator`` passed in, so a sample is a pure function of its rng seed.
    """

    def __init__(self, cfg: AugmentConfig | None = None):
        self.cfg = cfg or AugmentConfig()

    def sample_matrix(self, size: int, boxes_xyxy: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.cfg
        scale = rng.uniform(*c.scale)
        rot = rng.uniform(-c.rotate_deg, c.rotate_deg)
        shear = rng.uniform(-c.shear_deg, c.shear_deg)
        m0 = affine_matrix(size, scale, rot, shear, 0.0, 0.0)
        moved = transform_boxes(boxes_xyxy, m0)
        # Shifts that keep every box fully inside the canvas (no box is ever cut).
        lo_x, hi_x = -moved[:, 0].min(), size - moved[:, 2].max()
        lo_y, hi_y = -moved[:, 1].min(), size - moved[:, 3].max()
        if lo_x > hi_x or lo_y > hi_y:  # zoomed boxes no longer fit: no geometric change
            return np.eye(3)
        t = c.translate * size
        tx = rng.uniform(max(lo_x, -t), min(hi_x, t)) if max(lo_x, -t) <= min(hi_x, t) else (lo_x + hi_x) / 2
        ty = rng.uniform(max(lo_y, -t), min(hi_y, t)) if max(lo_y, -t) <= min(hi_y, t) else (lo_y + hi_y) / 2
        return affine_matrix(size, scale, rot, shear, tx, ty)

    def intensity(self, image: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        c = self.cfg
        x = image.astype(np.float32) / 255.0
        x = x * rng.uniform(1 - c.brightness, 1 + c.brightness)
        mean = float(x.mean())
        x = (x - mean) * rng.uniform(1 - c.contrast, 1 + c.contrast) + mean
        x = np.clip(x, 0.0, 1.0) ** rng.uniform(*c.gamma)
        x = x * 255.0 + rng.normal(0.0, rng.uniform(*c.noise_std), size=x.shape).astype(np.float32)
        return np.clip(x, 0.0, 255.0).astype(np.float32)

    def __call__(self, image: np.ndarray, boxes_xyxy: np.ndarray, rng: np.random.Generator):
        size = image.shape[0]
        matrix = self.sample_matrix(size, boxes_xyxy, rng) if self.cfg.geometric else np.eye(3)
        warped = warp_image(image, matrix) if not np.allclose(matrix, np.eye(3)) else image
        boxes = transform_boxes(boxes_xyxy, matrix, size)
        return self.intensity(warped, rng), boxes


def normalise(image: np.ndarray) -> torch.Tensor:
    """``[S, S]`` grey levels in [0, 255] (uint8 or float) -> ``float32[1, S, S]`` model input."""
    x = torch.from_numpy(np.ascontiguousarray(image, dtype=np.float32)) / 255.0
    return ((x - PIXEL_MEAN) / PIXEL_STD).unsqueeze(0)

