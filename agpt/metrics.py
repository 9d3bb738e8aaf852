"""Phrase-grounding metrics: per-pair IoU, Acc@t, mIoU, per-category, bootstrap CIs, seeds.

Exact definitions (see ``docs/metrics.md``):

- A *phrase* is one ``(dicom_id, label_text)`` key of the gold table; MS-CXR writes one gold
  row per box, so a phrase has one or more gold boxes (xywh, original pixels).
- The prediction (one xywh box per phrase) is clamped to the image ``[0, W] x [0, H]``, then
  scored with IoU (never GIoU) in original pixels against

  * ``merged``: the union box (smallest enclosing box) of the phrase's gold boxes, or
  * ``any``: each gold box separately, keeping the best IoU.

- A zero union gives IoU 0; a phrase without a prediction has IoU 0 and ``missing=True``.
- ``Acc@t`` is the fraction of phrases with ``IoU >= t`` (inclusive), t in 0.3, 0.5, 0.7;
  ``mIoU`` is the mean of the per-phrase IoU.  Both are fractions in [0, 1].
- Bootstrap: percentile intervals over ``n_resamples`` resamples of the *phrases* with
  replacement; the indices are ``numpy.random.default_rng(seed).integers(0, n, (n_resamples, n))``
  so a seed fixes every interval exactly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd

from agpt.boxes import box_xywh_to_xyxy, clamp_boxes, paired_iou

PROTOCOLS: tuple[str, ...] = ("merged", "any")
THRESHOLDS: tuple[float, ...] = (0.3, 0.5, 0.7)
METRIC_KEYS: tuple[str, ...] = ("miou", *(f"acc@{t}" for t in THRESHOLDS))
GOLD_REQUIRED: tuple[str, ...] = (
    "dicom_id",
    "category_name",
    "label_text",
    "x",
    "y",
    "w",
    "h",
    "image_width",
    "image_height",
)
PRED_REQUIRED: tuple[str, ...] = ("dicom_id", "label_text", "x", "y", "w", "h")
PAIR_COLUMNS: tuple[str, ...] = ("dicom_id", "label_text", "category_name", "iou", "missing")

# statistic(samples[..., n]) -> [...]: reduces the last axis (one value per resample)
Statistic = Callable[[np.ndarray], np.ndarray]


def _check_columns(df: pd.DataFrame, required: tuple[str, ...], what: str) -> None:
    missing = [c for c in required if c not in df.columns]
    if missing:
        raise ValueError(f"{what} lacks column(s) {missing}; required: {list(required)}")


def _xywh(df: pd.DataFrame) -> np.ndarray:
    """``[N, 4]`` float64 xywh from the x, y, w, h columns."""
    return df[["x", "y", "w", "h"]].to_numpy(dtype=np.float64).reshape(-1, 4)


def per_pair_iou(gold_df: pd.DataFrame, pred_df: pd.DataFrame, protocol: str = "merged") -> pd.DataFrame:
    """IoU of each gold phrase with its prediction.

    Args:
        gold_df: one row per gold *box*: ``dicom_id, category_name, label_text, x, y, w, h,
            image_width, image_height`` (xywh, top-left origin, original pixels); the rows of
            one ``(dicom_id, label_text)`` phrase must agree on category and image size.
        pred_df: at most one row per phrase: ``dicom_id, label_text, x, y, w, h`` (xywh,
            original pixels; clamped to the image here).  Every prediction must name a gold phrase.
        protocol: ``"merged"`` (IoU with the union of the gold boxes) or ``"any"`` (best IoU
            over the gold boxes).

    Returns:
        One row per gold phrase, in order of first appearance in ``gold_df``, with columns
        ``dicom_id, label_text, category_name, iou`` (float in [0, 1]; 0 when missing) and
        ``missing`` (bool).  The order depends on the gold table only, so two prediction sets
        scored on the same gold table give row-aligned results (for :func:`paired_bootstrap`).

    Raises:
        ValueError: unknown protocol, missing columns, inconsistent gold phrases, duplicate
            predictions or predictions for phrases that are not in the gold table.
    """
    if protocol not in PROTOCOLS:
        raise ValueError(f"unknown protocol {protocol!r}; valid: {list(PROTOCOLS)}")
    _check_columns(gold_df, GOLD_REQUIRED, "gold table")
    _check_columns(pred_df, PRED_REQUIRED, "prediction table")
    if len(gold_df) == 0:
        raise ValueError("gold table has no rows")

    gold_keys = pd.MultiIndex.from_arrays(
        [gold_df["dicom_id"].astype(str).to_numpy(), gold_df["label_text"].astype(str).to_numpy()]
    )
    # phrase id per gold row, numbered by first appearance
    phrase_of_row, phrases = pd.factorize(gold_keys, sort=False)
    n = len(phrases)

    _, first_row = np.unique(phrase_of_row, return_index=True)  # codes are 0..n-1, all present
    category = gold_df["category_name"].astype(str).to_numpy()
    size = gold_df[["image_width", "image_height"]].to_numpy(dtype=np.float64)
    disagree = (category != category[first_row][phrase_of_row]) | (
        size != size[first_row][phrase_of_row]
    ).any(axis=1)
    if disagree.any():
        bad = phrases[phrase_of_row[np.flatnonzero(disagree)[0]]]
        raise ValueError(f"gold rows of phrase {bad!r} disagree on category or image size")

    # Predictions -> phrase ids
    pred_keys = pd.MultiIndex.from_arrays(
        [pred_df["dicom_id"].astype(str).to_numpy(), pred_df["label_text"].astype(str).to_numpy()]
    )
    if pred_keys.has_duplicates:
        raise ValueError(f"duplicate predictions for phrase(s) {list(pred_keys[pred_keys.duplicated()][:3])}")
    pred_phrase = phrases.get_indexer(pred_keys)
    if (pred_phrase < 0).any():
        raise ValueError(
            f"predictions for phrase(s) not in the gold table: {list(pred_keys[pred_phrase < 0][:3])}"
        )
    pred_xywh = _xywh(pred_df)
    if (pred_xywh[:, 2:] < 0).any() or not np.isfinite(pred_xywh).all():
        raise ValueError("predicted boxes need finite coordinates and non-negative w, h")

    has_pred = np.zeros(n, dtype=bool)
    has_pred[pred_phrase] = True
    pred_xyxy = np.zeros((n, 4))
    phrase_size = size[first_row]
    # clamp each prediction to its own image (widths/heights are [k], one per prediction)
    pred_xyxy[pred_phrase] = clamp_boxes(
        box_xywh_to_xyxy(pred_xywh), phrase_size[pred_phrase, 0], phrase_size[pred_phrase, 1]
    )
    gold_xywh = _xywh(gold_df)
    if not np.isfinite(gold_xywh).all() or (gold_xywh[:, 2:] < 0).any():
        raise ValueError("gold boxes need finite coordinates and non-negative w, h")
    gold_xyxy = box_xywh_to_xyxy(gold_xywh)

    if protocol == "merged":
        merged = np.empty((n, 4))
        merged[:, :2] = np.inf
        merged[:, 2:] = -np.inf
        np.minimum.at(merged[:, 0], phrase_of_row, gold_xyxy[:, 0])
        np.minimum.at(merged[:, 1], phrase_of_row, gold_xyxy[:, 1])
        np.maximum.at(merged[:, 2], phrase_of_row, gold_xyxy[:, 2])
        np.maximum.at(merged[:, 3], phrase_of_row, gold_xyxy[:, 3])
        iou = paired_iou(pred_xyxy, merged)
    else:  # any: IoU of the phrase's prediction with every gold box, best per phrase
        row_iou = paired_iou(pred_xyxy[phrase_of_row], gold_xyxy)
        iou = np.zeros(n)
        np.maximum.at(iou, phrase_of_row, row_iou)
    iou = np.where(has_pred, iou, 0.0)

    return pd.DataFrame(
        {
            "dicom_id": phrases.get_level_values(0).astype(str),
            "label_text": phrases.get_level_values(1).astype(str),
            "category_name": category[first_row],
            "iou": iou.astype(np.float64),
            "missing": ~has_pred,
        },
        columns=list(PAIR_COLUMNS),
    )


def _values(values) -> np.ndarray:
    v = np.asarray(values, dtype=np.float64).reshape(-1)
    if v.size == 0:
        raise ValueError("need at least one value")
    if not np.isfinite(v).all():
        raise ValueError("values must be finite")
    return v


def accuracy_at(threshold: float) -> Statistic:
    """Statistic ``Acc@threshold``: fraction of IoUs ``>= threshold`` along the last axis."""

    def acc(samples: np.ndarray) -> np.ndarray:
        return (samples >= threshold).mean(axis=-1)

    acc.__name__ = f"acc@{threshold}"
    return acc


def mean_iou(samples: np.ndarray) -> np.ndarray:
    """Statistic ``mIoU``: mean along the last axis."""
    return samples.mean(axis=-1)


STATISTICS: dict[str, Statistic] = {"miou": mean_iou, **{f"acc@{t}": accuracy_at(t) for t in THRESHOLDS}}


def get_statistic(statistic: str | Statistic) -> Statistic:
    """A statistic by name (``miou``, ``acc@0.3``, ``acc@0.5``, ``acc@0.7``) or a callable that
    reduces the last axis of ``samples[..., n]``; raises ValueError on unknown names."""
    if callable(statistic):
        return statistic
    if statistic not in STATISTICS:
        raise ValueError(f"unknown statistic {statistic!r}; valid: {list(STATISTICS)} or a callable")
    return STATISTICS[statistic]


def summarize_ious(ious) -> dict[str, float]:
    """``{miou, acc@0.3, acc@0.5, acc@0.7}`` of per-phrase IoUs ``[n]`` (fractions in [0, 1])."""
    v = _values(ious)
    return {key: float(STATISTICS[key](v)) for key in METRIC_KEYS}


def bootstrap_indices(n: int, n_resamples: int, seed: int) -> np.ndarray:
    """``int64[n_resamples, n]`` phrase indices drawn with replacement; fixed by ``seed``."""
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be >= 1, got {n_resamples}")
    return np.random.default_rng(seed).integers(0, n, size=(n_resamples, n))


def _resampled(statistic: Statistic, samples: np.ndarray) -> np.ndarray:
    out = np.asarray(statistic(samples), dtype=np.float64)
    if out.shape != samples.shape[:-1]:
        raise ValueError(
            f"statistic must reduce the last axis (e.g. np.mean(x, axis=-1)); "
            f"got shape {out.shape} for samples of shape {samples.shape}"
        )
    return out


def _percentile_interval(stats: np.ndarray, level: float) -> tuple[float, float]:
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    alpha = (1 - level) / 2
    lo, hi = np.quantile(stats, [alpha, 1 - alpha])  # linear interpolation between order stats
    return float(lo), float(hi)


def bootstrap_ci(
    values, statistic: str | Statistic, n_resamples: int, seed: int, level: float = 0.95
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``statistic`` over ``values[n]`` (e.g. per-phrase IoUs).

    Resamples the n values with replacement ``n_resamples`` times (:func:`bootstrap_indices`)
    and returns the ``(1 - level) / 2`` and ``(1 + level) / 2`` quantiles (numpy's default
    linear interpolation) of the resampled statistic.
    """
    v = _values(values)
    stats = _resampled(get_statistic(statistic), v[bootstrap_indices(len(v), n_resamples, seed)])
    return _percentile_interval(stats, level)


def paired_bootstrap(
    values_a, values_b, statistic: str | Statistic, n_resamples: int, seed: int, level: float = 0.95
) -> dict:
    """Bootstrap of ``statistic(a) - statistic(b)`` for two prediction sets on the same phrases.

    ``values_a[i]`` and ``values_b[i]`` must belong to the same phrase; every resample draws
    the same indices for both.  Returns ``diff`` (observed), ``ci`` (percentile interval at
    ``level``), ``p_value`` (two-sided: ``min(1, 2 * min(P*(d <= 0), P*(d >= 0)))`` over the
    resampled differences d), ``frac_le_0`` (P*(d <= 0)), ``frac_ge_0``, ``a``, ``b``, ``n``,
    ``n_resamples``, ``seed``, ``level``.
    """
    a, b = _values(values_a), _values(values_b)
    if a.shape != b.shape:
        raise ValueError(f"paired values need the same length, got {len(a)} and {len(b)}")
    stat = get_statistic(statistic)
    idx = bootstrap_indices(len(a), n_resamples, seed)
    d = _resampled(stat, a[idx]) - _resampled(stat, b[idx])
    stat_a, stat_b = float(stat(a[None])[0]), float(stat(b[None])[0])
    frac_le, frac_ge = float((d <= 0).mean()), float((d >= 0).mean())
    return {
        "a": stat_a,
        "b": stat_b,
        "diff": stat_a - stat_b,
        "ci": list(_percentile_interval(d, level)),
        "p_value": min(1.0, 2 * min(frac_le, frac_ge)),
        "frac_le_0": frac_le,
        "frac_ge_0": frac_ge,
        "n": int(len(a)),
        "n_resamples": int(n_resamples),
        "seed": int(seed),
        "level": float(level),
    }


def mean_std_over_seeds(values) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of one metric over seeds.

    With a single seed the spread is unknown: the std is NaN (not 0), so a table can never
    show one run as if it had no variance.
    """
    v = _values(values)
    return float(v.mean()), (float(v.std(ddof=1)) if len(v) > 1 else float("nan"))


def _summary_with_ci(pairs: pd.DataFrame, bootstrap: int, seed: int) -> dict:
    ious = pairs["iou"].to_numpy(dtype=np.float64)
    out = {"n": int(len(ious)), **summarize_ious(ious), "missing": int(pairs["missing"].sum())}
    if bootstrap:
        samples = ious[bootstrap_indices(len(ious), bootstrap, seed)]
        out["ci95"] = {key: list(_percentile_interval(STATISTICS[key](samples), 0.95)) for key in METRIC_KEYS}
    return out


def score(
    gold_df: pd.DataFrame, pred_df: pd.DataFrame, protocol: str = "merged", bootstrap: int = 0, seed: int = 0
) -> dict:
    """The ``agpt score`` result (JSON-ready) for validated gold and prediction tables.

    Keys: ``protocol``, ``n`` (gold phrases scored, missing ones included), ``n_gold_boxes``,
    ``miou``, ``acc@0.3``, ``acc@0.5``, ``acc@0.7``, ``missing`` (count), ``missing_phrases``
    (list of ``{dicom_id, label_text, category_name}``), ``per_category`` (category ->
    ``{n, miou, acc@..., missing[, ci95]}``, sorted by name), and with ``bootstrap > 0`` also
    ``ci95`` (metric -> ``[lo, hi]``) and ``bootstrap`` (``{n_resamples, seed, level, method}``).
    Every category's interval resamples that category's phrases with the same seed.
    """
    if bootstrap < 0:
        raise ValueError(f"bootstrap must be >= 0, got {bootstrap}")
    pairs = per_pair_iou(gold_df, pred_df, protocol)
    overall = _summary_with_ci(pairs, bootstrap, seed)
    missing = pairs[pairs["missing"]]
    result = {"protocol": protocol, "n": overall.pop("n"), "n_gold_boxes": int(len(gold_df))}
    result.update({key: overall[key] for key in METRIC_KEYS})
    result["missing"] = overall["missing"]
    result["missing_phrases"] = missing[["dicom_id", "label_text", "category_name"]].to_dict(orient="records")
    result["per_category"] = {
        str(cat): _summary_with_ci(group, bootstrap, seed)
        for cat, group in sorted(pairs.groupby("category_name", sort=False), key=lambda kv: kv[0])
    }
    if bootstrap:
        result["ci95"] = overall["ci95"]
        result["bootstrap"] = {
            "n_resamples": int(bootstrap),
            "seed": int(seed),
            "level": 0.95,
            "method": "percentile; phrases resampled with replacement",
        }
    return result
