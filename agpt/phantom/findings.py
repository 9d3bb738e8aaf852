"""The 8 MS-CXR findings, drawn where they occur clinically; each returns the extent of what it drew.

Sides are the PATIENT's: "right" is the image left (negative canonical ``u``).  Every drawer
adds density to ``Layers.findings`` (a pneumothorax also removes lung markings) and returns one
xyxy pixel box per drawn region: the bounding box of the drawn region inside the lung field,
so the gold box is the finding's own extent, correlated with but not equal to an anatomy box.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agpt.phantom.anatomy_model import Anatomy, lung_outline_canonical
from agpt.phantom.render import Layers, polygon_mask, smooth_field

BoxXYXY = tuple[float, float, float, float]

# Relative frequencies of MS-CXR v1.1.0 pairs per category (datasets.md section 1.1).
CATEGORY_WEIGHTS: dict[str, float] = {
    "Atelectasis": 61, "Cardiomegaly": 333, "Consolidation": 117, "Edema": 46,
    "Lung Opacity": 82, "Pleural Effusion": 96, "Pneumonia": 182, "Pneumothorax": 245,
}


@dataclass
class Finding:
    """One drawn finding: what the phrase may say about it, and its gold boxes (xyxy pixels)."""

    category: str
    sides: tuple[str, ...]  # ("right",), ("left",) or ("right", "left")
    zone: str  # apical, upper, mid, lower, base, cp, perihilar, heart, lateral
    size: str  # small, moderate, large, mild
    boxes: tuple[BoxXYXY, ...] = ()
    merged: bool = False  # a bilateral finding given as ONE box (union of both sides)


class PixelGrid:
    """Canonical coordinates of every pixel (computed once per image)."""

    def __init__(self, a: Anatomy):
        ys, xs = np.mgrid[0:a.height, 0:a.width].astype(np.float32)
        self.u, self.v = a.to_canonical(xs, ys)
        self.u = self.u.astype(np.float32)
        self.v = self.v.astype(np.float32)


def _mask_box(mask: np.ndarray) -> BoxXYXY | None:
    rows, cols = np.nonzero(mask.any(axis=1))[0], np.nonzero(mask.any(axis=0))[0]
    if len(rows) == 0:
        return None
    return (float(cols[0]), float(rows[0]), float(cols[-1] + 1), float(rows[-1] + 1))


def _smoothstep(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


def _blob(g: PixelGrid, rng, side: str, cu: float, cv: float, ru: float, rv: float, rough: float,
          soft: float = 0.0) -> np.ndarray:
    """Irregular patch in [0, 1] centred at canonical (cu, cv) with radii (ru, rv); rough = noise amount."""
    sgn = -1.0 if side == "right" else 1.0
    d2 = ((g.u - sgn * cu) / ru) ** 2 + ((g.v - cv) / rv) ** 2
    # noise modulates the patch but never creates density far from it
    field = np.exp(-d2) * (1 + rough * smooth_field(rng, g.u.shape, 0.03, factor=4))
    return _smoothstep(field, 0.35 - soft, 0.75 + soft)  # soft > 0: ill-defined margins


def _add(layers: Layers, side: str, mask: np.ndarray, amplitude: float) -> BoxXYXY | None:
    """Add ``amplitude`` x mask inside one lung field; return the drawn extent."""
    layers.findings += (amplitude * mask * layers.lung[side]).astype(np.float32)
    return _mask_box((mask > 0.5) & layers.lung_hard[side])


def draw_pneumothorax(a, layers, g, rng, side, size) -> list[BoxXYXY | None]:
    """Apical (small) or apicolateral (large) lucent rim without markings, with a visible pleural line."""
    p = a.params
    u, v, _ = lung_outline_canonical(p, side)
    extent = {"small": 0.35, "moderate": 0.55, "large": 0.95}[size]
    depth = {"small": rng.uniform(0.1, 0.2), "moderate": rng.uniform(0.15, 0.28), "large": rng.uniform(0.25, 0.4)}[size]
    cu, cv = (-0.3 if side == "right" else 0.3), 0.55
    lateral = abs(p.right_lateral if side == "right" else p.left_lateral)
    lateralness = np.clip((np.abs(u) - p.mediastinum - 0.05) / (lateral - p.mediastinum - 0.05), 0, 1)
    # the lung falls away from the apex and the lateral wall; the medial border stays put
    shrink = depth * np.clip(1 - v / extent, 0, 1) ** 0.7 * np.maximum(lateralness, np.clip(1 - v / 0.12, 0, 1))
    su, sv = u + (cu - u) * shrink, v + (cv - v) * shrink
    collapsed = polygon_mask(g.u.shape, [a.to_px(su, sv)]) > 0.5
    region = layers.lung_hard[side] & ~collapsed
    soft = polygon_mask(g.u.shape, [a.to_px(su, sv)], blur=1.0)
    rim = layers.lung[side] * (1 - soft)
    layers.vessels *= (1 - rim).astype(np.float32)
    layers.findings -= (rng.uniform(0.03, 0.06) * rim).astype(np.float32)
    layers.findings += (0.025 * soft * layers.lung[side]).astype(np.float32)  # denser collapsed lung
    edge = shrink > 0.01
    line = a.to_px(su[edge], sv[edge])
    if len(line) > 1:
        w = max(1, int(0.004 * a.width))
        layers.findings += (rng.uniform(0.05, 0.1) * polygon_mask(g.u.shape, [line], blur=0.6, width=w)
                            * layers.lung[side]).astype(np.float32)
    return [_mask_box(region)]


def draw_effusion(a, layers, g, rng, side, size) -> list[BoxXYXY | None]:
    """Dependent fluid at the base with a meniscus rising laterally; a small one just blunts the angle."""
    p = a.params
    cp_v = 1.0 if side == "right" else p.left_cp
    dome = p.right_dome if side == "right" else p.left_dome
    level = {"small": cp_v - rng.uniform(0.06, 0.1), "moderate": dome - rng.uniform(0.0, 0.08),
             "large": rng.uniform(0.5, 0.62)}[size]
    lateral = abs(p.right_lateral if side == "right" else p.left_lateral)
    sgn = -1.0 if side == "right" else 1.0
    t = np.clip((sgn * g.u - 0.1) / (lateral - 0.1), 0, 1)
    meniscus = level + (0.12 if size == "small" else 0.06) * (1 - t) ** 2 - 0.1 * t ** 3  # rises laterally
    mask = _smoothstep(g.v - meniscus, -0.006, 0.012)
    if size == "small":
        mask = mask * _smoothstep(t, 0.3, 0.45)
    grad = 0.22 + 0.12 * _smoothstep(g.v - meniscus, 0.0, 0.15)
    return [_add(layers, side, mask * grad / 0.34, rng.uniform(0.25, 0.34))]


ZONE_V = {"upper": (0.2, 0.36), "mid": (0.42, 0.6), "lower": (0.66, 0.8), "apical": (0.08, 0.16)}


def draw_airspace(a, layers, g, rng, side, size, zone, amplitude, rough, soft=0.0) -> list[BoxXYXY | None]:
    """Consolidation / pneumonia / lung opacity: an irregular patch in one lung zone."""
    lo, hi = ZONE_V[zone]
    r = {"small": (0.2, 0.12), "moderate": (0.27, 0.16), "large": (0.34, 0.21)}[size]
    ru, rv = r[0] * rng.uniform(0.8, 1.25), r[1] * rng.uniform(0.8, 1.25)
    for attempt in range(7):  # the patch must land in the lung field; the last try is the zone's centre
        cu, cv = (rng.uniform(0.35, 0.65), rng.uniform(lo, hi)) if attempt < 6 else (0.5, (lo + hi) / 2)
        m = _blob(g, rng, side, cu, cv, ru, rv, rough, soft)
        trial = _mask_box((m > 0.5) & layers.lung_hard[side])
        if trial is not None and ((trial[2] - trial[0]) > 0.03 * a.width or attempt == 6):
            return [_add(layers, side, m, amplitude)]
    return [None]


def draw_atelectasis(a, layers, g, rng, side, size) -> list[BoxXYXY | None]:
    """Plate-like (linear) basal opacity just above the hemidiaphragm."""
    p = a.params
    dome = p.right_dome if side == "right" else p.left_dome
    sgn = -1.0 if side == "right" else 1.0
    cu, cv = rng.uniform(0.35, 0.6), dome - rng.uniform(0.04, 0.12)
    tilt = rng.uniform(-0.25, 0.1) * sgn
    du, dv = g.u - sgn * cu, g.v - cv
    along = du * np.cos(tilt) + dv * np.sin(tilt) * (p.lung_height / p.half_width)
    across = (-du * np.sin(tilt) * (p.half_width / p.lung_height) + dv * np.cos(tilt))
    half_len = {"small": 0.17, "moderate": 0.23, "large": 0.3}[size] * rng.uniform(0.8, 1.2)
    thick = rng.uniform(0.018, 0.04) * (1.4 if size == "large" else 1.0)
    field = np.exp(-(along / half_len) ** 4 - (across / thick) ** 2)
    field = field * (1 + 0.3 * smooth_field(rng, g.u.shape, 0.02, factor=4))
    return [_add(layers, side, _smoothstep(field, 0.3, 0.7), rng.uniform(0.15, 0.26))]


def draw_edema(a, layers, g, rng, side, size) -> list[BoxXYXY | None]:
    """Perihilar haze fading to the periphery, with indistinct vessels."""
    amp = {"mild": rng.uniform(0.07, 0.11), "moderate": rng.uniform(0.1, 0.15), "large": rng.uniform(0.14, 0.2)}[size]
    p = a.params
    heart = abs(p.heart_right if side == "right" else p.heart_left)
    m = _blob(g, rng, side, max(0.36, heart * 0.8), p.carina + rng.uniform(0.14, 0.22), rng.uniform(0.24, 0.32),
              rng.uniform(0.2, 0.28), 0.25)
    layers.vessels *= (1 - 0.3 * m * layers.lung[side]).astype(np.float32)
    return [_add(layers, side, m, amp)]


def draw_finding(a: Anatomy, layers: Layers, g: PixelGrid, rng, f: Finding) -> Finding:
    """Draw ``f`` into ``layers`` and return it with its gold boxes filled in."""
    boxes: list[BoxXYXY | None] = []
    for side in f.sides:
        if f.category == "Pneumothorax":
            boxes += draw_pneumothorax(a, layers, g, rng, side, f.size)
        elif f.category == "Pleural Effusion":
            boxes += draw_effusion(a, layers, g, rng, side, f.size)
        elif f.category in ("Consolidation", "Pneumonia"):
            boxes += draw_airspace(a, layers, g, rng, side, f.size, f.zone, rng.uniform(0.14, 0.3), 0.45, soft=0.1)
        elif f.category == "Lung Opacity":
            boxes += draw_airspace(a, layers, g, rng, side, f.size, f.zone, rng.uniform(0.08, 0.2), 0.6, soft=0.25)
        elif f.category == "Atelectasis":
            boxes += draw_atelectasis(a, layers, g, rng, side, f.size)
        elif f.category == "Edema":
            boxes += draw_edema(a, layers, g, rng, side, f.size)
        elif f.category == "Cardiomegaly":
            # the enlarged heart was drawn by the geometry; a reader boxes it by eye (+-3 % per edge)
            x1, y1, x2, y2 = a.boxes["cardiac silhouette"]
            jx, jy = 0.03 * (x2 - x1), 0.03 * (y2 - y1)
            boxes.append((x1 + rng.normal(0, jx), y1 + rng.normal(0, jy), x2 + rng.normal(0, jx), y2 + rng.normal(0, jy)))
        else:
            raise ValueError(f"unknown finding category {f.category!r}; valid: {sorted(CATEGORY_WEIGHTS)}")
    kept = [b for b in boxes if b is not None]
    if f.merged and len(kept) > 1:
        arr = np.array(kept)
        kept = [(arr[:, 0].min(), arr[:, 1].min(), arr[:, 2].max(), arr[:, 3].max())]
    f.boxes = tuple(tuple(float(x) for x in b) for b in kept)
    return f


def sample_finding(rng: np.random.Generator, category: str) -> Finding:
    """Clinically placed parameters of one finding (before drawing)."""
    side = ("right",) if rng.random() < 0.5 else ("left",)
    both = ("right", "left")
    if category == "Pneumothorax":
        size = rng.choice(["small", "small", "moderate", "large"])
        return Finding(category, side, "apical" if size != "large" else "lateral", str(size))
    if category == "Pleural Effusion":
        sides = both if rng.random() < 0.3 else side
        return Finding(category, sides, "cp" if rng.random() < 0.5 else "base",
                       str(rng.choice(["small", "small", "moderate", "large"])))
    if category in ("Consolidation", "Pneumonia"):
        sides = both if rng.random() < 0.15 else side
        zone = rng.choice(["lower", "lower", "lower", "mid", "upper"])
        return Finding(category, sides, str(zone), str(rng.choice(["small", "moderate", "large"])))
    if category == "Lung Opacity":
        sides = both if rng.random() < 0.2 else side
        zone = rng.choice(["lower", "mid", "upper", "lower"])
        return Finding(category, sides, str(zone), str(rng.choice(["small", "moderate", "large"])))
    if category == "Atelectasis":
        sides = both if rng.random() < 0.35 else side
        return Finding(category, sides, "base", str(rng.choice(["small", "moderate", "large"])))
    if category == "Edema":
        return Finding(category, both, "perihilar", str(rng.choice(["mild", "moderate", "large"])),
                       merged=rng.random() < 0.15)
    if category == "Cardiomegaly":
        return Finding(category, ("left",), "heart", str(rng.choice(["mild", "moderate", "large"])))
    raise ValueError(f"unknown finding category {category!r}; valid: {sorted(CATEGORY_WEIGHTS)}")


def sample_categories(rng: np.random.Generator) -> list[str]:
    """1-3 distinct categories for one image, skewed like MS-CXR (Cardiomegaly, Pneumothorax most common)."""
    n = int(rng.choice([1, 2, 3], p=[0.66, 0.27, 0.07]))
    names = list(CATEGORY_WEIGHTS)
    w = np.array([CATEGORY_WEIGHTS[c] for c in names], dtype=float)
    picked = rng.choice(len(names), size=n, replace=False, p=w / w.sum())
    return [names[i] for i in sorted(picked)]
