"""Chest ImaGenome anatomy names: the 36 silver box names and the 29 that AGPT uses, in order."""

from __future__ import annotations

# The 29 anatomies of AGPT, index 0-28 (same order as ttanida/rgrg ANATOMICAL_REGIONS).
ANATOMIES: tuple[str, ...] = (
    "right lung",
    "right upper lung zone",
    "right mid lung zone",
    "right lower lung zone",
    "right hilar structures",
    "right apical zone",
    "right costophrenic angle",
    "right hemidiaphragm",
    "left lung",
    "left upper lung zone",
    "left mid lung zone",
    "left lower lung zone",
    "left hilar structures",
    "left apical zone",
    "left costophrenic angle",
    "left hemidiaphragm",
    "trachea",
    "spine",
    "right clavicle",
    "left clavicle",
    "aortic arch",
    "mediastinum",
    "upper mediastinum",
    "svc",
    "cardiac silhouette",
    "cavoatrial junction",
    "right atrium",
    "carina",
    "abdomen",
)

# All 36 silver scene-graph box names, in the usual order.
SILVER_BOX_NAMES: tuple[str, ...] = (
    "right lung", "right upper lung zone", "right mid lung zone", "right lower lung zone",
    "right hilar structures", "right apical zone", "right costophrenic angle",
    "right cardiophrenic angle", "right hemidiaphragm", "left lung", "left upper lung zone",
    "left mid lung zone", "left lower lung zone", "left hilar structures", "left apical zone",
    "left costophrenic angle", "left hemidiaphragm", "trachea", "spine", "right clavicle",
    "left clavicle", "aortic arch", "mediastinum", "upper mediastinum", "svc",
    "cardiac silhouette", "left cardiac silhouette", "right cardiac silhouette",
    "cavoatrial junction", "right atrium", "descending aorta", "carina", "left upper abdomen",
    "right upper abdomen", "abdomen", "left cardiophrenic angle",
)

# The 26 gold names: the 29 minus spine, mediastinum and abdomen.
GOLD_BOX_NAMES: tuple[str, ...] = tuple(a for a in ANATOMIES if a not in {"spine", "mediastinum", "abdomen"})

# The 8 MS-CXR finding categories (exact strings of `category_name`).
FINDING_CATEGORIES: tuple[str, ...] = (
    "Atelectasis",
    "Cardiomegaly",
    "Consolidation",
    "Edema",
    "Lung Opacity",
    "Pleural Effusion",
    "Pneumonia",
    "Pneumothorax",
)

assert len(ANATOMIES) == 29 and len(SILVER_BOX_NAMES) == 36 and set(ANATOMIES) <= set(SILVER_BOX_NAMES)
