"""Effect plots for the report (matplotlib/seaborn, Agg): gains with CIs, per-category heatmap, IoU
distributions, LoRA vs full, data efficiency and training curves.  Each returns PNG bytes or None."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from agpt.report.runs import INIT_LABELS, SETTING_LABELS, cell_label  # noqa: E402

DPI = 110
INIT_PALETTE = {"base": "#7f7f7f", "AGPT": "#1f77b4", "AGPT + synonyms": "#d62728"}
METRIC_NAMES = {"miou": "mIoU", "acc@0.5": "Acc@0.5"}


def to_png(fig) -> bytes:
    """Render and close ``fig``; PNG without metadata beyond matplotlib's software tag."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _with_labels(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.copy()
    for col in ("model", "init", "setting", "mode", "fraction", "baseline"):
        if col not in frame.columns:
            frame[col] = ""
    frame["init_label"] = frame["init"].map(lambda v: INIT_LABELS.get(v, v))
    frame["setting_label"] = frame["setting"].map(lambda v: SETTING_LABELS.get(v, v))
    return frame


def effect_plot(comparisons: pd.DataFrame) -> bytes | None:
    """Forest plot: difference (treatment - control) x100 with its paired-bootstrap 95% CI, per comparison."""
    if comparisons.empty:
        return None
    names = list(dict.fromkeys(comparisons["comparison"]))
    metrics = [m for m in ("miou", "acc@0.5") if (comparisons["metric"] == m).any()]
    heights = [max(1, (comparisons["comparison"] == n).sum() // len(metrics)) for n in names]
    fig, axes = plt.subplots(len(names), len(metrics), squeeze=False, sharex="col",
                             figsize=(11, 1.2 + 0.32 * sum(heights) + 0.6 * len(names)),
                             gridspec_kw={"height_ratios": heights})
    for i, name in enumerate(names):
        for j, metric in enumerate(metrics):
            ax = axes[i][j]
            sub = comparisons[(comparisons["comparison"] == name) & (comparisons["metric"] == metric)]
            sub = sub.iloc[::-1]
            y = np.arange(len(sub))
            lo = sub["diff_x100"] - sub["ci95_low_x100"]
            hi = sub["ci95_high_x100"] - sub["diff_x100"]
            excludes_zero = (sub["ci95_low_x100"] > 0) | (sub["ci95_high_x100"] < 0)
            colors = np.where(excludes_zero, "#1f77b4", "#999999")
            for k in range(len(sub)):
                ax.errorbar(sub["diff_x100"].iloc[k], y[k], xerr=[[lo.iloc[k]], [hi.iloc[k]]], fmt="none",
                            ecolor=colors[k], elinewidth=2, capsize=3)
            ax.scatter(sub["diff_x100"], y, c=colors, zorder=3, s=25)
            ax.axvline(0, color="black", lw=0.8)
            ax.set_yticks(y, sub["label"] if j == 0 else [""] * len(y), fontsize=8)
            ax.set_title(f"{sub['title'].iloc[0] if len(sub) else name}: Δ {METRIC_NAMES[metric]}", fontsize=10)
            ax.grid(axis="x", alpha=0.3)
            if i == len(names) - 1:
                ax.set_xlabel(f"Δ {METRIC_NAMES[metric]} x100 (bar: paired-bootstrap 95% CI)", fontsize=9)
    fig.suptitle("Effects (treatment minus control) on the same test phrases; blue = CI excludes 0", fontsize=11)
    fig.tight_layout()
    return to_png(fig)


def category_heatmap(per_category: pd.DataFrame) -> bytes | None:
    """Heatmap of mIoU x100 (mean over seeds): rows cells, columns finding categories."""
    if per_category.empty:
        return None
    table = per_category.pivot_table(index="label", columns="category", values="miou_mean_x100", sort=False)
    fig, ax = plt.subplots(figsize=(2.5 + 0.9 * table.shape[1], 1.2 + 0.28 * table.shape[0]))
    sns.heatmap(table, annot=True, fmt=".0f", cmap="viridis", vmin=0, vmax=100, ax=ax,
                cbar_kws={"label": "mIoU x100 (mean over seeds)"}, annot_kws={"fontsize": 7})
    ax.set_xlabel("finding category")
    ax.set_ylabel("")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_title("mIoU per finding category")
    fig.tight_layout()
    return to_png(fig)


def iou_distributions(cells) -> bytes | None:
    """Share of test phrases with IoU >= t (all seeds pooled), per initialisation; panels model x column."""
    rows = []
    for cell in cells:
        p = cell.params
        if "model" not in p or "init" not in p:
            continue
        panel = cell_label({k: v for k, v in p.items() if k not in ("init",)})
        for ious in cell.ious:
            rows += [{"panel": panel, "init": INIT_LABELS.get(p["init"], p["init"]), "iou": v} for v in ious]
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    panels = list(dict.fromkeys(frame["panel"]))
    ncols = min(4, len(panels))
    nrows = -(-len(panels) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(3.2 * ncols, 2.6 * nrows), squeeze=False, sharey=True)
    for ax, panel in zip(axes.flat, panels):
        sub = frame[frame["panel"] == panel]
        sns.ecdfplot(data=sub, x="iou", hue="init", complementary=True, ax=ax,
                     palette={k: v for k, v in INIT_PALETTE.items() if k in set(sub["init"])},
                     legend=ax is axes.flat[0])
        for t in (0.3, 0.5, 0.7):
            ax.axvline(t, color="#bbbbbb", lw=0.7, ls="--")
        ax.set_title(panel, fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("IoU threshold t")
        ax.set_ylabel("share of phrases with IoU ≥ t")
    for ax in list(axes.flat)[len(panels):]:
        ax.axis("off")
    fig.suptitle("IoU distributions (the curve at t = 0.5 is Acc@0.5)", fontsize=11)
    fig.tight_layout()
    return to_png(fig)


def lora_vs_full_plot(ablation: pd.DataFrame) -> bytes | None:
    """Bars of fine-tuned mIoU (mean ± std over seeds) with full and LoRA fine-tuning, per model and init."""
    frame = _with_labels(ablation)
    frame = frame[(frame["setting"] == "finetune") & frame["mode"].isin(["full", "lora"])]
    if frame.empty or frame["mode"].nunique() < 2:
        return None
    fractions = pd.to_numeric(frame["fraction"], errors="coerce")
    if fractions.notna().any():
        frame = frame[fractions == fractions.max()]
    frame = frame.assign(group=frame["model"] + "\n" + frame["init_label"])
    groups = list(dict.fromkeys(frame["group"]))
    x = np.arange(len(groups))
    fig, ax = plt.subplots(figsize=(1.2 + 1.1 * len(groups), 3.6))
    for k, (mode, color) in enumerate((("full", "#4c72b0"), ("lora", "#dd8452"))):
        sub = frame[frame["mode"] == mode].set_index("group").reindex(groups)
        ax.bar(x + (k - 0.5) * 0.38, sub["miou_mean_x100"], 0.38, yerr=sub["miou_std_x100"].fillna(0),
               color=color, capsize=3, label="full fine-tuning" if mode == "full" else "LoRA")
    ax.set_xticks(x, groups, fontsize=8)
    ax.set_ylabel("mIoU x100 (mean ± std over seeds)")
    ax.set_title("LoRA vs full fine-tuning (fine-tuned, largest training fraction)")
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return to_png(fig)


def data_efficiency_plot(ablation: pd.DataFrame) -> bytes | None:
    """mIoU vs the fraction of MS-CXR train used for fine-tuning (only when the grid has several fractions)."""
    frame = _with_labels(ablation)
    frame = frame[frame["setting"] == "finetune"].copy()
    frame["fraction_value"] = pd.to_numeric(frame["fraction"], errors="coerce")
    frame = frame[frame["fraction_value"].notna()]
    if frame["fraction_value"].nunique() < 2:
        return None
    frame["panel"] = frame["model"] + " / " + frame["mode"].replace("", "fine-tuned")
    panels = list(dict.fromkeys(frame["panel"]))
    fig, axes = plt.subplots(1, len(panels), figsize=(3.4 * len(panels), 3.2), squeeze=False, sharey=True)
    for ax, panel in zip(axes[0], panels):
        sub = frame[frame["panel"] == panel]
        for init, g in sub.groupby("init_label", sort=False):
            g = g.sort_values("fraction_value")
            ax.errorbar(100 * g["fraction_value"], g["miou_mean_x100"], yerr=g["miou_std_x100"].fillna(0),
                        marker="o", capsize=3, label=init, color=INIT_PALETTE.get(init))
        ax.set_title(panel, fontsize=9)
        ax.set_xlabel("% of MS-CXR train used")
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel("test mIoU x100 (mean ± std)")
    axes[0][0].legend(fontsize=8)
    fig.suptitle("Data efficiency", fontsize=11)
    fig.tight_layout()
    return to_png(fig)


def training_curves(logs: list[tuple[dict, list[dict]]]) -> bytes | None:
    """Train loss and validation mIoU per epoch, mean over seeds (band: ± std); one panel column per model."""
    rows = []
    for params, entries in logs:
        rest = cell_label({k: v for k, v in params.items() if k not in ("model", "seed", "init")}) or "pre-training"
        init = INIT_LABELS.get(params.get("init", ""), params.get("init", "") or "?")
        for e in entries:
            rows.append({"model": params.get("model", "?"), "initialisation": init, "run": rest,
                         "seed": params.get("seed", ""),
                         "epoch": e["epoch"], "train loss": e.get("train_loss", np.nan),
                         "val mIoU x100": 100 * e["val_miou"] if e.get("val_miou") is not None else np.nan})
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    models = list(dict.fromkeys(frame["model"]))
    fig, axes = plt.subplots(2, len(models), figsize=(5.2 * len(models), 6), squeeze=False, sharex=True)
    for j, model in enumerate(models):
        sub = frame[frame["model"] == model]
        for i, y in enumerate(("train loss", "val mIoU x100")):
            ax = axes[i][j]
            if sub[y].notna().any():
                sns.lineplot(data=sub, x="epoch", y=y, hue="initialisation", style="run", errorbar="sd", ax=ax,
                             legend=(i == 0), marker="o", markersize=3,
                             palette={k: v for k, v in INIT_PALETTE.items() if k in set(sub["initialisation"])}
                             if set(sub["initialisation"]) <= set(INIT_PALETTE) else None)
            ax.set_title(f"{model}: {y}", fontsize=9)
            ax.grid(alpha=0.3)
        if axes[0][j].get_legend():
            sns.move_legend(axes[0][j], "upper right", fontsize=6, title=None, ncols=2)
    fig.suptitle("Training curves (mean over seeds, band ± std)", fontsize=11)
    fig.tight_layout()
    return to_png(fig)
