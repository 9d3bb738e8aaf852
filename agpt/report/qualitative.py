"""Qualitative figures: a seeded selection of test phrases drawn on cached images, ground truth (blue)
vs prediction (red), the same model with and without AGPT side by side."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from agpt.anatomy import ANATOMIES  # noqa: E402
from agpt.boxes import Letterbox, box_xywh_to_xyxy, clamp_boxes  # noqa: E402
from agpt.errors import DataError  # noqa: E402
from agpt.report.figures import to_png  # noqa: E402
from agpt.report.runs import INIT_LABELS, SETTING_LABELS  # noqa: E402

# Words that tie a phrase to a place in the chest (besides the 29 anatomy names themselves).
_ANATOMY_WORDS = (
    r"left|right|upper|lower|mid|middle|lobes?|bases?|basal|basilar|bibasilar|apex|apices|apical|hil(?:um|ar)|"
    r"perihilar|costophrenic|(?:hemi)?diaphragms?|retrocardiac|cardiac|heart|mediastin\w*|trachea|clavicles?|"
    r"lungs?|lingula\w*|subpulmonic|aort\w*|zones?|bilateral|both"
)
_ANATOMY_RE = re.compile(r"\b(?:" + "|".join(re.escape(a) for a in ANATOMIES) + "|" + _ANATOMY_WORDS + r")\b")


def names_anatomy(phrase: str) -> bool:
    """Whether ``phrase`` names a place in the chest ("left lower lobe opacity": yes; "cardiomegaly": no)."""
    return bool(_ANATOMY_RE.search(phrase.lower()))


def select_phrases(pairs: pd.DataFrame, n: int = 6, seed: int = 0) -> pd.DataFrame:
    """A fixed, seeded selection of ``n`` phrases from ``pairs`` (``dicom_id, label_text, category_name``).

    Half (rounded up) name an anatomy and half do not, where the test set has both; within each
    half, categories are visited round-robin in a shuffled order so the selection spans findings.
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    rng = np.random.default_rng(seed)
    frame = pairs[["dicom_id", "label_text", "category_name"]].drop_duplicates().reset_index(drop=True)
    frame["names_anatomy"] = frame["label_text"].map(names_anatomy)
    groups = [frame[frame["names_anatomy"]], frame[~frame["names_anatomy"]]]
    want = [math.ceil(n / 2), n // 2]
    if groups[0].empty or groups[1].empty:
        want = [n, 0] if not groups[0].empty else [0, n]
    chosen = []
    for group, k in zip(groups, want):
        by_cat = {c: list(rng.permutation(g.index)) for c, g in group.groupby("category_name")}
        order = list(rng.permutation(sorted(by_cat)))
        while k > 0 and any(by_cat.values()):
            for cat in order:
                if k > 0 and by_cat[cat]:
                    chosen.append(by_cat[cat].pop())
                    k -= 1
    return frame.loc[chosen].reset_index(drop=True)


def cached_pixels(cache, dicom_id: str) -> tuple[np.ndarray, Letterbox]:
    """The only way the report reads an image: the cache's letterboxed pixels and geometry, nothing else.

    The cache holds ``uint8[S, S]`` pixels keyed by image id; no DICOM header value can come this way.
    """
    if dicom_id not in cache:
        raise DataError(getattr(cache, "root", "cache"), f"image {dicom_id!r} is not in the cache")
    image = cache.image(dicom_id)
    if not (isinstance(image, np.ndarray) and image.dtype == np.uint8 and image.ndim == 2):
        raise DataError(getattr(cache, "root", "cache"), f"image {dicom_id!r} is not a uint8[S, S] array")
    letterbox = cache.letterbox(dicom_id)
    if not isinstance(letterbox, Letterbox):
        raise DataError(getattr(cache, "root", "cache"), f"letterbox of {dicom_id!r} is not an agpt.boxes.Letterbox")
    return image, letterbox


@dataclass
class Panel:
    """One model run on one phrase: its title and predicted box (xywh, original pixels; None = missing)."""

    title: str
    pred_xywh: tuple[float, float, float, float] | None
    iou: float


def pick_runs(cells) -> dict[str, list]:
    """Per model: the runs to show side by side (one seed, one per initialisation), fine-tuned full
    at the largest training fraction where it exists, else the first setting available."""
    out: dict[str, list] = {}
    by_model: dict[str, list] = {}
    for cell in cells:
        if "model" in cell.params and "init" in cell.params:
            by_model.setdefault(cell.params["model"], []).append(cell)

    def preference(cell):
        p = cell.params
        fraction = pd.to_numeric(p.get("fraction", ""), errors="coerce")
        return (p.get("setting") != "finetune", p.get("mode", "full") not in ("full", ""),
                -(0 if pd.isna(fraction) else fraction))

    for model, model_cells in by_model.items():
        best = min(model_cells, key=preference)
        target = {k: v for k, v in best.params.items() if k != "init"}
        side = [c for c in model_cells if {k: v for k, v in c.params.items() if k != "init"} == target]
        side.sort(key=lambda c: list(INIT_LABELS).index(c.params["init"]) if c.params["init"] in INIT_LABELS else 99)
        if len(side) > 1:
            out[model] = [c.runs[0] for c in side]
    return out


def qualitative_figure(model: str, runs, selection: pd.DataFrame, gold: pd.DataFrame, cache,
                       predictions: dict) -> bytes:
    """Rows: the selected phrases; columns: the runs (``ScoredRun``) of one model, e.g. base / AGPT / AGPT + synonyms.

    ``predictions`` maps a run directory to its predictions table.  Ground-truth boxes are blue,
    the prediction red; the phrase, its category and each panel's IoU are written on the figure.
    """
    ncols = len(runs)
    fig, axes = plt.subplots(len(selection), ncols, figsize=(2.6 * ncols, 3.0 * len(selection)), squeeze=False)
    setting = runs[0].run.params
    for i, phrase in enumerate(selection.itertuples()):
        image, lb = cached_pixels(cache, phrase.dicom_id)
        g = gold[(gold["dicom_id"] == phrase.dicom_id) & (gold["label_text"] == phrase.label_text)]
        gold_canvas = lb.boxes_to_canvas(box_xywh_to_xyxy(g[["x", "y", "w", "h"]].to_numpy(dtype=float)))
        for j, run in enumerate(runs):
            ax = axes[i][j]
            ax.imshow(image, cmap="gray", vmin=0, vmax=255)
            for box in gold_canvas:
                ax.add_patch(Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, ec="#1e90ff", lw=2))
            pred = predictions[str(run.run.path)]
            p = pred[(pred["dicom_id"] == phrase.dicom_id) & (pred["label_text"] == phrase.label_text)]
            pairs = run.pairs
            iou = float(pairs[(pairs["dicom_id"] == phrase.dicom_id) & (pairs["label_text"] == phrase.label_text)]
                        ["iou"].iloc[0])
            if len(p):
                # Drawn as scored: clamped to the image first.
                xyxy = clamp_boxes(box_xywh_to_xyxy(p[["x", "y", "w", "h"]].to_numpy(dtype=float)[0]),
                                   lb.width, lb.height)
                box = lb.boxes_to_canvas(xyxy)
                ax.add_patch(Rectangle(box[:2], box[2] - box[0], box[3] - box[1], fill=False, ec="#ff2020", lw=2))
                verdict = f"IoU {iou:.2f}"
            else:
                verdict = "no prediction (IoU 0)"
            ax.set_xlim(-0.5, image.shape[1] - 0.5)
            ax.set_ylim(image.shape[0] - 0.5, -0.5)
            ax.set_xticks([])
            ax.set_yticks([])
            init = INIT_LABELS.get(run.run.params.get("init", ""), run.run.params.get("init", ""))
            if i == 0:
                ax.set_title(init, fontsize=10, fontweight="bold")
            ax.set_xlabel(f"“{_wrap(phrase.label_text)}”\n{verdict}", fontsize=8)
        where = "names an anatomy" if phrase.names_anatomy else "no anatomy named"
        axes[i][0].set_ylabel(f"{phrase.category_name}\n({where})", fontsize=8)
    title = f"{model}: {SETTING_LABELS.get(setting.get('setting', ''), setting.get('setting', ''))}"
    if setting.get("mode"):
        title += f", {setting['mode']}"
    if setting.get("seed"):
        title += f", seed {setting['seed']}"
    fig.suptitle(f"{title}\nblue: ground truth, red: prediction", fontsize=10)
    # tight_layout ignores the suptitle: keep ~0.5 inch free above the first row.
    fig.tight_layout(rect=(0, 0, 1, 1 - 0.5 / fig.get_figheight()))
    return to_png(fig)


def _wrap(text: str, width: int = 34) -> str:
    words, lines, line = text.split(), [], ""
    for w in words:
        if line and len(line) + 1 + len(w) > width:
            lines.append(line)
            line = w
        else:
            line = f"{line} {w}".strip()
    lines.append(line)
    return "\n".join(lines[:3])
