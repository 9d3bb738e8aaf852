"""Parametric frontal chest anatomy: sampled per patient, drawn by ``render`` and boxed from the same points.

Geometry lives in a canonical thorax frame ``(u, v)``: ``u`` runs across the thorax from
-1 (outer rib margin on the image left = the patient's RIGHT) to +1 (image right = patient's
LEFT); ``v`` runs down from 0 (lung apex) to 1 (right costophrenic angle).  ``Anatomy.to_px``
maps canonical points to image pixels (x right, y down) with the patient's scale, position and
small rotation.  Every anatomy box is the pixel extent of the SAME points that are drawn, so the
Chest ImaGenome-like boxes agree with the picture by construction.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

Points = np.ndarray  # float [N, 2] pixel (x, y)


@dataclass
class PatientParams:
    """Per-patient shape parameters in the canonical frame (see the module docstring)."""

    cx: float  # thorax centre x, pixels
    cy: float  # thorax centre y (v = 0.5), pixels
    half_width: float  # pixels per unit u
    lung_height: float  # pixels per unit v
    angle: float  # rotation, radians (patient rotation on the detector)
    right_lateral: float  # u of the right lung's widest point (negative)
    left_lateral: float
    right_dome: float  # v of the right hemidiaphragm dome top
    left_dome: float
    left_cp: float  # v of the left costophrenic angle (right is 1.0)
    heart_right: float  # u of the right heart border (negative)
    heart_left: float  # u of the cardiac apex (positive)
    heart_top: float  # v of the top of the cardiac silhouette
    mediastinum: float  # half width of the upper mediastinum (u)
    knob: float  # aortic knob bulge (u)
    carina: float  # v of the carina
    clavicle_v: float  # v of the medial clavicle heads
    clavicle_rise: float  # how much the lateral clavicle rises (v)
    body_margin: float  # body half width / thorax half width
    apex_v: float = 0.0

    @property
    def cardiothoracic_ratio(self) -> float:
        return (self.heart_left - self.heart_right) / (self.left_lateral - self.right_lateral)


def sample_patient(rng: np.random.Generator, width: int, height: int, *, portable: bool,
                   cardiomegaly: bool = False) -> PatientParams:
    """Draw one patient's shape for a ``width x height`` image (AP/portable films: bigger heart, more tilt)."""
    lung_height = height * rng.uniform(0.52, 0.62) if height >= width else height * rng.uniform(0.6, 0.7)
    ratio = rng.uniform(1.15, 1.42)  # thorax width / lung height
    half_width = min(0.5 * ratio * lung_height, 0.44 * width)
    top = height * rng.uniform(0.11, 0.2) if height >= width else height * rng.uniform(0.08, 0.14)
    heart_scale = rng.uniform(1.25, 1.5) if cardiomegaly else rng.uniform(0.85, 1.08)
    if portable and not cardiomegaly:
        heart_scale *= 1.08  # AP magnification of the heart
    right_dome = rng.uniform(0.74, 0.86)
    return PatientParams(
        cx=width / 2 + rng.normal(0, 0.02 * width),
        cy=top + 0.5 * lung_height,
        half_width=half_width,
        lung_height=lung_height,
        angle=float(np.deg2rad(rng.normal(0, 2.5 if portable else 1.5))),
        right_lateral=-rng.uniform(0.9, 0.97),
        left_lateral=rng.uniform(0.9, 0.97),
        right_dome=right_dome,
        left_dome=right_dome + rng.uniform(0.02, 0.08),
        left_cp=1.0 + rng.uniform(0.0, 0.06),
        heart_right=-0.22 * heart_scale * rng.uniform(0.9, 1.1),
        heart_left=0.47 * heart_scale * rng.uniform(0.92, 1.08),
        heart_top=rng.uniform(0.38, 0.46),
        mediastinum=rng.uniform(0.11, 0.15) * (1.1 if portable else 1.0),
        knob=rng.uniform(0.04, 0.08),
        carina=rng.uniform(0.3, 0.38),
        clavicle_v=rng.uniform(0.13, 0.21) - (0.06 if portable else 0.0),
        clavicle_rise=rng.uniform(0.05, 0.16) * (0.4 if portable else 1.0),
        body_margin=rng.uniform(1.1, 1.32),
    )


def _smooth_bulge(t: np.ndarray) -> np.ndarray:
    """0 at t=0, rises to 1 near t=0.7, eases back a little at t=1 (a heart border's convexity)."""
    return np.sin(np.pi / 2 * np.clip(t / 0.75, 0, 1)) ** 0.7 * (1 - 0.12 * np.clip(t, 0, 1) ** 4)


@dataclass
class Anatomy:
    """One patient's geometry in pixels: outlines to draw plus the 36 silver boxes (xyxy)."""

    params: PatientParams
    width: int
    height: int
    outlines: dict[str, Points] = field(default_factory=dict)  # closed polygons
    lines: dict[str, Points] = field(default_factory=dict)  # open polylines
    points: dict[str, np.ndarray] = field(default_factory=dict)  # landmarks (x, y)
    boxes: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)

    def to_px(self, u, v) -> Points:
        """Canonical ``(u, v)`` arrays -> pixel points ``[N, 2]``."""
        p = self.params
        u = np.asarray(u, dtype=np.float64) * p.half_width
        v = (np.asarray(v, dtype=np.float64) - 0.5) * p.lung_height
        c, s = np.cos(p.angle), np.sin(p.angle)
        return np.stack([p.cx + c * u - s * v, p.cy + s * u + c * v], axis=-1)

    def to_canonical(self, x, y) -> tuple[np.ndarray, np.ndarray]:
        """Pixel ``x, y`` arrays -> canonical ``(u, v)`` (inverse of :meth:`to_px`)."""
        p = self.params
        dx, dy = np.asarray(x, dtype=np.float32) - p.cx, np.asarray(y, dtype=np.float32) - p.cy
        c, s = np.cos(p.angle), np.sin(p.angle)
        return (c * dx + s * dy) / p.half_width, (-s * dx + c * dy) / p.lung_height + 0.5


def _box(points: Points) -> tuple[float, float, float, float]:
    return (float(points[:, 0].min()), float(points[:, 1].min()), float(points[:, 0].max()), float(points[:, 1].max()))


def _band(poly: Points, y1: float, y2: float) -> Points:
    """The part of a closed polygon between image rows y1 and y2 (dense polygons: vertex filter is enough)."""
    inside = poly[(poly[:, 1] >= y1) & (poly[:, 1] <= y2)]
    return inside if len(inside) else poly


def lung_outline_canonical(p: PatientParams, side: str, n: int = 48) -> tuple[np.ndarray, np.ndarray, dict]:
    """Closed outline (u, v) of one lung field, and its landmarks (apex, cp angle, cardiophrenic angle, dome)."""
    sgn = -1.0 if side == "right" else 1.0
    lateral = abs(p.right_lateral if side == "right" else p.left_lateral)
    dome = p.right_dome if side == "right" else p.left_dome
    cp_v = 1.0 if side == "right" else p.left_cp
    heart_edge = abs(p.heart_right if side == "right" else p.heart_left)
    med = p.mediastinum
    apex_c, apex_h = 0.34, 0.16
    # apex dome: from the mediastinum up to the apex, then the lateral wall widening down to the base
    vm = np.linspace(apex_h, 0, n // 2)
    cap_u = apex_c - (apex_c - med - 0.01) * np.sqrt(np.sin(np.pi / 2 * vm / apex_h))
    cap_v = vm
    vl = np.linspace(0, 0.82 * cp_v, n)[1:]
    lat_u = apex_c + (lateral - apex_c) * np.sin(np.pi / 2 * vl / (0.82 * cp_v)) ** 0.45
    lat_v = vl
    low_v = np.linspace(0.82 * cp_v, cp_v, n // 3)[1:]
    low_u = lateral - 0.03 * ((low_v - 0.82 * cp_v) / (0.18 * cp_v)) ** 2
    # hemidiaphragm: costophrenic angle -> dome -> cardiophrenic angle
    cardio_u = heart_edge * (0.82 if side == "left" else 0.95)
    cardio_v = dome + (0.06 if side == "right" else 0.03)
    s = np.linspace(0, 1, n)[1:]
    peak = 0.5
    dia_u = low_u[-1] + (cardio_u - low_u[-1]) * s
    dia_v = np.where(s < peak, dome + (cp_v - dome) * (1 - s / peak) ** 2,
                     dome + (cardio_v - dome) * ((s - peak) / (1 - peak)) ** 2)
    # medial wall: heart border up to the heart top, then the mediastinum (aortic knob on the left)
    v_med = np.linspace(cardio_v, p.heart_top, n)[1:]
    tt = (cardio_v - v_med) / (cardio_v - p.heart_top)  # 0 at diaphragm, 1 at heart top
    heart_u = med + (cardio_u - med) * _smooth_bulge(1 - tt) / _smooth_bulge(np.ones(1))
    v_up = np.linspace(p.heart_top, cap_v[0], n)[1:]
    up_u = np.full_like(v_up, med)
    if side == "left":
        up_u = up_u + p.knob * np.exp(-((v_up - 0.24) / 0.06) ** 2)  # aortic knob
    else:
        up_u = up_u + 0.02 * np.exp(-((v_up - 0.28) / 0.1) ** 2)  # svc
    u = np.concatenate([cap_u, lat_u, low_u, dia_u, heart_u, up_u])
    v = np.concatenate([cap_v, lat_v, low_v, dia_v, v_med, v_up])
    marks = {
        "apex": (apex_c, 0.0), "cp": (low_u[-1], cp_v), "cardiophrenic": (cardio_u, cardio_v),
        "dome": (dia_u[np.argmin(dia_v)], dome),
    }
    marks = {k: (sgn * a, b) for k, (a, b) in marks.items()}
    marks["heart border"] = (sgn * heart_u, v_med)  # from the diaphragm up to the heart top
    return sgn * u, v, marks


def build_anatomy(p: PatientParams, width: int, height: int) -> Anatomy:
    """Outlines, lines, landmarks and all 36 silver boxes for one patient."""
    a = Anatomy(params=p, width=width, height=height)
    marks = {}
    for side in ("right", "left"):
        u, v, m = lung_outline_canonical(p, side)
        a.outlines[f"{side} lung"] = a.to_px(u, v)
        marks[side] = m
        for k in ("apex", "cp", "cardiophrenic", "dome"):
            a.points[f"{side} {k}"] = a.to_px(*m[k])
    # heart: right and left borders are the lungs' medial lower walls, closed along the diaphragm
    (ru, rv), (lu, lv) = marks["right"]["heart border"], marks["left"]["heart border"]
    bottom_v = max(marks["right"]["cardiophrenic"][1], marks["left"]["cardiophrenic"][1]) + 0.03
    t = np.linspace(0, np.pi, 16)[1:-1]
    top_u = ru[-1] + (lu[-1] - ru[-1]) * (1 - np.cos(t)) / 2
    arc_v = p.heart_top - 0.03 * np.sin(t)
    hu = np.concatenate([ru[::-1], [ru[0], 0.0, lu[0]], lu, top_u[::-1]])
    hv = np.concatenate([rv[::-1], [bottom_v, bottom_v + 0.02, bottom_v], lv, arc_v[::-1]])
    a.outlines["heart"] = a.to_px(hu, hv)
    # trachea (air column) from the top of the image down to the carina, then the main bronchi
    top_v = 0.5 - p.cy / p.lung_height
    tu = np.array([-0.045, 0.025, 0.03, -0.04]) - 0.01
    tv = np.array([top_v, top_v, p.carina, p.carina])
    a.outlines["trachea"] = a.to_px(tu, tv)
    car = (-0.005, p.carina + 0.01)
    a.points["carina"] = a.to_px(*car)
    a.lines["right bronchus"] = a.to_px([car[0] - 0.01, -0.12, -0.18], [car[1], p.carina + 0.07, p.carina + 0.12])
    a.lines["left bronchus"] = a.to_px([car[0] + 0.01, 0.1, 0.19], [car[1], p.carina + 0.1, p.carina + 0.17])
    # clavicles: S-shaped from the sternal head to the acromion, rising laterally on PA films
    for side, sgn in (("right", -1.0), ("left", 1.0)):
        t = np.linspace(0, 1, 24)
        cu = sgn * (0.07 + 0.72 * t)
        cv = p.clavicle_v - p.clavicle_rise * t - 0.04 * np.sin(np.pi * t) + 0.02 * np.sin(2 * np.pi * t)
        a.lines[f"{side} clavicle"] = a.to_px(cu, cv)
    # spine: a column through the whole image height (its box runs past the edges, like the real silver boxes)
    bottom_v = 0.5 + (height - p.cy) / p.lung_height + 0.02
    a.outlines["spine"] = a.to_px([-0.075, 0.075, 0.075, -0.075], [top_v - 0.02, top_v - 0.02, bottom_v, bottom_v])
    # aortic knob and descending aorta
    a.outlines["aortic arch"] = a.to_px(
        p.mediastinum + p.knob + 0.07 * np.cos(np.linspace(0, 2 * np.pi, 24)) - 0.05,
        0.24 + 0.055 * np.sin(np.linspace(0, 2 * np.pi, 24)))
    a.outlines["descending aorta"] = a.to_px([0.03, 0.12, 0.11, 0.04], [0.27, 0.27, bottom_v - 0.3, bottom_v - 0.3])
    # gastric bubble under the left hemidiaphragm
    ldome = marks["left"]["dome"]
    t = np.linspace(0, 2 * np.pi, 24)
    a.outlines["gastric bubble"] = a.to_px(ldome[0] + 0.1 * np.cos(t), ldome[1] + 0.09 + 0.05 * np.sin(t))
    # ribs: posterior arcs from the spine out to the lateral wall and down the other side
    for side, sgn in (("right", -1.0), ("left", 1.0)):
        lateral = abs(p.right_lateral if side == "right" else p.left_lateral)
        for k in range(10):
            v0 = 0.0 + k * 0.092
            t = np.linspace(0, 1, 24)
            ru_ = sgn * (0.08 + (lateral + 0.04) * np.sin(np.pi / 2 * t) ** 0.8)
            rv_ = v0 - 0.1 * np.sin(np.pi * t * 0.9) + 0.32 * t ** 3
            a.lines[f"{side} rib {k}"] = a.to_px(ru_, rv_)
    _body_outline(a)
    a.boxes = _silver_boxes(a, marks)
    return a


def _body_outline(a: Anatomy) -> None:
    p = a.params
    top_v = 0.5 - p.cy / p.lung_height - 0.05
    bottom_v = 0.5 + (a.height - p.cy) / p.lung_height + 0.05
    v = np.linspace(top_v, bottom_v, 80)
    neck = 0.3
    shoulder = np.clip((v + 0.3) / 0.3, 0, 1) ** 0.5  # trapezius slope from the neck to the shoulders
    w = neck + (p.body_margin + 0.1 - neck) * shoulder
    w = w - 0.06 * np.exp(-((v - 0.12) / 0.1) ** 2)  # axillae
    w = w - 0.08 * np.clip(v - 0.7, 0, None)  # towards the waist
    a.outlines["body"] = a.to_px(np.concatenate([-w, w[::-1]]), np.concatenate([v, v[::-1]]))


def _zone(lung: Points, top: float, bottom: float) -> tuple[float, float, float, float]:
    x1, _, x2, _ = _box(_band(lung, top, bottom))
    return (x1, top, x2, bottom)


def _silver_boxes(a: Anatomy, marks: dict) -> dict[str, tuple[float, float, float, float]]:
    """The 36 Chest ImaGenome silver boxes (xyxy, pixels), each from the drawn geometry."""
    p = a.params
    b: dict[str, tuple[float, float, float, float]] = {}
    lung_h_px = p.lung_height
    for side in ("right", "left"):
        lung = a.outlines[f"{side} lung"]
        x1, y1, x2, y2 = _box(lung)
        b[f"{side} lung"] = (x1, y1, x2, y2)
        third = (y2 - y1) / 3
        b[f"{side} upper lung zone"] = _zone(lung, y1, y1 + third)
        b[f"{side} mid lung zone"] = _zone(lung, y1 + third, y1 + 2 * third)
        b[f"{side} lower lung zone"] = _zone(lung, y1 + 2 * third, y2)
        b[f"{side} apical zone"] = _zone(lung, y1, y1 + 0.16 * (y2 - y1))
        cp = a.points[f"{side} cp"]
        s = 0.11 * lung_h_px
        inward = 1.0 if side == "right" else -1.0  # towards the midline along x
        xs = sorted([cp[0] - 0.25 * s * inward, cp[0] + s * inward])
        b[f"{side} costophrenic angle"] = (xs[0], cp[1] - s, xs[1], cp[1] + 0.2 * s)
        cph = a.points[f"{side} cardiophrenic"]
        xs = sorted([cph[0] - 0.9 * s * inward, cph[0] + 0.3 * s * inward])
        b[f"{side} cardiophrenic angle"] = (xs[0], cph[1] - 0.8 * s, xs[1], cph[1] + 0.25 * s)
        dia = _band(lung, a.points[f"{side} dome"][1] - 2, y2 + 1)
        dx1, dy1, dx2, dy2 = _box(dia)
        b[f"{side} hemidiaphragm"] = (dx1, dy1 - 0.02 * lung_h_px, dx2, dy2 + 0.03 * lung_h_px)
        hil_u = np.array([0.12, 0.34]) * (-1 if side == "right" else 1)
        hil_v = np.array([p.carina - 0.02, p.carina + 0.28 + (0.03 if side == "left" else 0.0)])
        b[f"{side} hilar structures"] = _box(a.to_px(*np.meshgrid(hil_u, hil_v)).reshape(-1, 2))
        clav = a.lines[f"{side} clavicle"]
        cx1, cy1, cx2, cy2 = _box(clav)
        pad = 0.025 * lung_h_px
        b[f"{side} clavicle"] = (cx1, cy1 - pad, cx2, cy2 + pad)
    b["trachea"] = _box(a.outlines["trachea"])
    b["spine"] = _box(a.outlines["spine"])
    car = a.points["carina"]
    s = 0.05 * lung_h_px
    b["carina"] = (car[0] - s, car[1] - s, car[0] + s, car[1] + s)
    heart = a.outlines["heart"]
    hx1, hy1, hx2, hy2 = _box(heart)
    b["cardiac silhouette"] = (hx1, hy1, hx2, hy2)
    mid = a.to_px(0.0, p.heart_top)[0]
    b["right cardiac silhouette"] = (hx1, hy1, mid, hy2)
    b["left cardiac silhouette"] = (mid, hy1, hx2, hy2)
    b["right atrium"] = (hx1, hy1 + 0.35 * (hy2 - hy1), mid - 0.02 * (hx2 - hx1), hy2)
    arch = a.outlines["aortic arch"]
    b["aortic arch"] = _box(arch)
    top_y = b["trachea"][1] + 0.05 * lung_h_px
    rl, ll = b["right lung"], b["left lung"]
    med_x1 = float(a.to_px(-p.mediastinum - 0.04, p.heart_top)[0])
    med_x2 = max(float(a.to_px(p.mediastinum + p.knob + 0.03, 0.24)[0]), b["aortic arch"][2])
    b["upper mediastinum"] = (med_x1, top_y, med_x2, hy1 + 0.05 * lung_h_px)
    b["mediastinum"] = (min(med_x1, hx1), top_y, max(med_x2, hx2), hy2)
    svc_bottom = hy1 + 0.12 * lung_h_px
    b["svc"] = (med_x1, b["right clavicle"][1] + 0.05 * lung_h_px,
                float(a.to_px(-0.02, p.heart_top)[0]), svc_bottom)
    b["cavoatrial junction"] = (hx1 + 0.05 * (hx2 - hx1), svc_bottom - 0.06 * lung_h_px,
                                mid - 0.05 * (hx2 - hx1), svc_bottom + 0.06 * lung_h_px)
    b["descending aorta"] = _box(a.outlines["descending aorta"])
    abd_top = min(b["right hemidiaphragm"][1], b["left hemidiaphragm"][1]) + 0.02 * lung_h_px
    abd_bottom = float(a.height) + 0.02 * lung_h_px  # runs past the bottom edge, as in the real data
    b["abdomen"] = (rl[0], abd_top, ll[2], abd_bottom)
    b["right upper abdomen"] = (rl[0], b["right hemidiaphragm"][1], mid, b["right hemidiaphragm"][3] + 0.25 * lung_h_px)
    b["left upper abdomen"] = (mid, b["left hemidiaphragm"][1], ll[2], b["left hemidiaphragm"][3] + 0.25 * lung_h_px)
    return b
