"""Rasterise an ``Anatomy`` into radiograph layers (brightness: 0 = air/black, 1 = dense/white) and compose them.

Drawing uses PIL (fast C polygon fill and blur) on full-resolution 8-bit masks; smooth fields
(lung depth, exposure non-uniformity, correlated noise) are made at 1/8 resolution and resized.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter
from scipy.ndimage import gaussian_filter

from agpt.phantom.anatomy_model import Anatomy


@dataclass
class Style:
    """Acquisition look of one image (exposure, contrast, noise); the MS-CXR-like subset draws it differently."""

    gamma: float = 1.0  # >1 darkens mid-greys (film curve)
    contrast: float = 1.0  # lung/soft-tissue difference
    noise: float = 0.012  # quantum noise, brightness units
    grain: float = 0.01  # correlated mottle
    blur: float = 0.6  # unsharpness, pixels
    rib_visibility: float = 1.0
    vessel_visibility: float = 1.0
    scatter: float = 0.0  # veiling glare lifting the blacks (portable films)

    @classmethod
    def sample(cls, rng: np.random.Generator, *, portable: bool, shifted: bool) -> "Style":
        s = cls(
            gamma=rng.uniform(0.85, 1.25),
            contrast=rng.uniform(0.85, 1.15),
            noise=rng.uniform(0.003, 0.008),
            grain=rng.uniform(0.003, 0.008),
            blur=rng.uniform(0.3, 1.0),
            rib_visibility=rng.uniform(0.6, 1.3),
            vessel_visibility=rng.uniform(0.7, 1.2),
            scatter=rng.uniform(0.0, 0.04),
        )
        if portable:
            s.contrast *= 0.85
            s.scatter += 0.05
            s.blur += 0.4
        if shifted:  # domain shift of the MS-CXR-like subset: noisier, flatter, softer films
            s.noise *= 1.3
            s.grain *= 1.3
            s.contrast *= 0.9
            s.gamma *= 1.1
        return s


@dataclass
class Layers:
    """Brightness layers of one image; findings edit them before :func:`compose`."""

    base: np.ndarray  # float32 [H, W] everything but vessels and findings
    vessels: np.ndarray  # float32 [H, W] lung markings (removed in a pneumothorax)
    lung: dict[str, np.ndarray]  # side -> float32 [H, W] soft lung-field mask
    lung_hard: dict[str, np.ndarray]  # side -> bool [H, W] unblurred lung field
    findings: np.ndarray  # float32 [H, W] added density


def polygon_mask(shape: tuple[int, int], polygons, blur: float = 0.0, width: int = 0) -> np.ndarray:
    """float32 [H, W] in [0, 1]: filled polygons (or polylines when ``width`` > 0), Gaussian-blurred."""
    img = Image.new("L", (shape[1], shape[0]), 0)
    draw = ImageDraw.Draw(img)
    for pts in polygons:
        xy = [tuple(map(float, q)) for q in pts]
        if width > 0:
            draw.line(xy, fill=255, width=width)
        else:
            draw.polygon(xy, fill=255)
    if blur > 0:
        img = img.filter(ImageFilter.GaussianBlur(blur))
    return np.asarray(img, dtype=np.float32) / 255.0


def soft_mask(shape: tuple[int, int], polygons, blur: float, factor: int = 4) -> np.ndarray:
    """Like :func:`polygon_mask` for wide blurs: drawn and blurred at 1/``factor`` resolution, then resized."""
    h, w = max(2, shape[0] // factor), max(2, shape[1] // factor)
    small = polygon_mask((h, w), [np.asarray(pts) * np.array([w / shape[1], h / shape[0]]) for pts in polygons])
    return upsample(gaussian_filter(small, blur / factor), shape)


def smooth_field(rng: np.random.Generator, shape: tuple[int, int], sigma_frac: float, factor: int = 8) -> np.ndarray:
    """Zero-mean, unit-std correlated noise float32 [H, W] with correlation length ``sigma_frac`` x width."""
    h, w = max(2, shape[0] // factor), max(2, shape[1] // factor)
    f = gaussian_filter(rng.standard_normal((h, w)), sigma=max(0.5, sigma_frac * w), mode="reflect")
    f = (f - f.mean()) / (f.std() + 1e-9)
    return upsample(f, shape)


def upsample(f: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    return np.asarray(Image.fromarray(f.astype(np.float32), mode="F").resize((shape[1], shape[0]), Image.BILINEAR))


def _vessel_tree(rng: np.random.Generator, start: np.ndarray, direction: float, length: float,
                 width: float, depth: int, out: list) -> None:
    """Branching pulmonary vessels: segments get thinner and shorter away from the hilum."""
    if depth == 0 or width < 0.8:
        return
    n = 4
    pts = [start]
    ang = direction
    for _ in range(n):
        ang += rng.normal(0, 0.12)
        pts.append(pts[-1] + length / n * np.array([np.cos(ang), np.sin(ang)]))
    out.append((np.array(pts), width))
    for turn in (-1, 1):
        _vessel_tree(rng, pts[-1], ang + turn * rng.uniform(0.25, 0.6), length * rng.uniform(0.6, 0.8),
                     width * 0.7, depth - 1, out)


def draw_layers(a: Anatomy, rng: np.random.Generator, style: Style) -> Layers:
    """Rasterise the anatomy; returns editable layers (no findings yet)."""
    H, W = a.height, a.width
    p = a.params
    L = p.lung_height
    shape = (H, W)
    body = soft_mask(shape, [a.outlines["body"]], blur=0.006 * W)
    xx = np.arange(W, dtype=np.float32)[None, :]
    bw = p.body_margin * p.half_width
    thick = np.sqrt(np.clip(1 - ((xx - p.cx) / (bw * 1.05)) ** 2, 0, 1))
    # soft tissue graded by path length: thicker centrally, brighter over the shoulders, fading to the waist
    yy = np.arange(H, dtype=np.float32)[:, None]
    vcan = (yy - p.cy) / L + 0.5
    shoulders = 0.08 * np.clip(1 - (vcan + 0.1) / 0.35, 0, 1)
    waist = -0.06 * np.clip(vcan - 1.1, 0, 0.6) / 0.6
    base = body * (0.3 + 0.4 * thick + shoulders + waist)
    # lungs: air, deeper (darker) in their centre, paler at the periphery where less lung is traversed
    lung, lung_hard = {}, {}
    for side in ("right", "left"):
        hard = polygon_mask(shape, [a.outlines[f"{side} lung"]])
        lung_hard[side] = hard > 0.5
        lung[side] = soft_mask(shape, [a.outlines[f"{side} lung"]], blur=0.007 * W, factor=2)
        depth = soft_mask(shape, [a.outlines[f"{side} lung"]], blur=0.07 * W, factor=8)
        depth = depth / (depth.max() + 1e-6)
        base = base - lung[side] * (0.1 + 0.32 * depth ** 0.8) * style.contrast
    # sharp structures are summed unblurred and blurred once (blurring is linear)
    sharp = 0.065 * polygon_mask(shape, [a.outlines["heart"]])
    sharp -= 0.1 * polygon_mask(shape, [a.outlines["trachea"]])
    bronchi = [a.lines["right bronchus"], a.lines["left bronchus"]]
    sharp -= 0.07 * polygon_mask(shape, bronchi, width=max(2, int(0.018 * L)))
    sharp += 0.05 * polygon_mask(shape, [a.outlines["aortic arch"]])
    # spine: vertebral bodies with disc spaces, plus pedicles
    spine = a.outlines["spine"]
    top, bottom = spine[:, 1].min(), spine[:, 1].max()
    period = 0.085 * L
    verts, peds = [], []
    for k in range(int((bottom - top) / period) + 1):
        v0 = (top + k * period - p.cy) / L + 0.5
        v1 = v0 + 0.8 * period / L
        verts.append(a.to_px([-0.06, 0.06, 0.06, -0.06], [v0, v0, v1, v1]))
        for su in (-0.055, 0.055):
            t = np.linspace(0, 2 * np.pi, 10)
            peds.append(a.to_px(su + 0.018 * np.cos(t), v0 + 0.3 * period / L + 0.02 * np.sin(t)))
    sharp += 0.035 * polygon_mask(shape, verts) + 0.025 * polygon_mask(shape, peds)
    # clavicles: bright cortical bands; ribs: faint arcs
    clav = [a.lines["right clavicle"], a.lines["left clavicle"]]
    cw = max(3, int(0.04 * L))
    sharp += (0.09 * polygon_mask(shape, clav, width=cw) - 0.03 * polygon_mask(shape, clav, width=max(1, cw // 2))) * body
    ribs = [pts for name, pts in a.lines.items() if " rib " in name]
    rw = max(2, int(0.035 * L))
    rib_band = polygon_mask(shape, ribs, width=rw)
    rib_core = polygon_mask(shape, ribs, width=max(1, rw - 3))
    sharp += style.rib_visibility * (0.035 * rib_band - 0.015 * rib_core) * body
    base += gaussian_filter(sharp, 0.004 * W)
    base -= 0.14 * soft_mask(shape, [a.outlines["gastric bubble"]], blur=0.012 * W) * body
    base += 0.03 * soft_mask(shape, [a.outlines["descending aorta"]], blur=0.01 * W)
    # humeral heads and soft-tissue shoulders at the upper corners
    heads = []
    for sgn in (-1, 1):
        t = np.linspace(0, 2 * np.pi, 24)
        heads.append(a.to_px(sgn * (p.body_margin + 0.05) + 0.16 * np.cos(t), -0.05 + 0.16 * np.sin(t)))
    base += 0.1 * soft_mask(shape, heads, blur=0.01 * W) * body
    if rng.random() < 0.45:  # breast shadows over the lower zones
        sh = []
        for sgn in (-1, 1):
            t = np.linspace(0, 2 * np.pi, 24)
            sh.append(a.to_px(sgn * 0.55 + 0.42 * np.cos(t), 0.92 + 0.25 * np.sin(t)))
        base += rng.uniform(0.03, 0.07) * soft_mask(shape, sh, blur=0.03 * W) * body
    # vessels: trees from each hilum, visible only over the lungs
    segs: list = []
    for side, sgn in (("right", -1.0), ("left", 1.0)):
        for ang in np.linspace(-np.pi / 2 - 0.5, np.pi / 2 + 0.6, 9) + rng.normal(0, 0.1, 9):
            direction = ang if sgn > 0 else np.pi - ang
            # roots spread over the hilum (not one point), starting a little way out along their direction
            hu, hv = sgn * (0.2 + rng.uniform(-0.04, 0.04)), p.carina + 0.14 + rng.uniform(-0.08, 0.08)
            hil = a.to_px(hu, hv) + 0.04 * L * np.array([np.cos(direction), np.sin(direction)])
            _vessel_tree(rng, hil, direction, 0.18 * L, 0.012 * L, 5, segs)
    vimg = Image.new("L", (W, H), 0)
    draw = ImageDraw.Draw(vimg)
    for pts, wdt in segs:
        draw.line([tuple(q) for q in pts], fill=int(min(255, 120 + 60 * wdt / (0.01 * L))), width=max(1, int(wdt)))
    vessels = np.asarray(vimg.filter(ImageFilter.GaussianBlur(0.7 + 0.002 * W)), dtype=np.float32) / 255
    hila = soft_mask(shape, [a.to_px(sg * 0.2 + 0.06 * np.cos(np.linspace(0, 6.3, 16)),
                                     p.carina + 0.14 + 0.1 * np.sin(np.linspace(0, 6.3, 16)))
                             for sg in (-1, 1)], blur=0.012 * W)
    lungs_any = lung["right"] + lung["left"]
    # fine reticular lung texture (interstitium, overlapping small vessels) so lungs are not flat black
    texture = 0.01 * smooth_field(rng, shape, 0.004, factor=2) + 0.012 * smooth_field(rng, shape, 0.03, factor=4)
    vessels = (0.11 * vessels * style.vessel_visibility + 0.07 * hila + texture) * np.clip(lungs_any, 0, 1)
    return Layers(base=base.astype(np.float32), vessels=vessels.astype(np.float32), lung=lung,
                  lung_hard=lung_hard, findings=np.zeros(shape, np.float32))


def compose(layers: Layers, rng: np.random.Generator, style: Style) -> np.ndarray:
    """Final brightness image float32 [H, W] in [0, 1]: film curve, mottle, scatter, unsharpness, noise."""
    img = layers.base + layers.vessels + layers.findings
    shape = img.shape
    img = img + style.grain * smooth_field(rng, shape, 0.004, factor=2)
    img = img + 0.03 * smooth_field(rng, shape, 0.2)  # exposure non-uniformity
    img = np.clip(img, 0, 1)
    img = style.scatter + (1 - style.scatter) * img ** style.gamma
    if style.blur > 0:
        img = gaussian_filter(img, style.blur)
    img = img + style.noise * rng.standard_normal(shape).astype(np.float32)
    return np.clip(img, 0, 1).astype(np.float32)
