"""Radiology-report-style phrases for drawn findings; some name the anatomy (with laterality), some do not."""

from __future__ import annotations

import numpy as np

from agpt.phantom.findings import Finding

# Fraction of phrases that name the anatomy (the rest are bare findings, e.g. "Cardiomegaly.").
NAMED_FRACTION = 0.65

_ZONE_WORDS = {
    "lower": ["lower lung zone", "lung base", "lower lobe", "lower lung", "base"],
    "mid": ["mid lung zone", "mid lung", "perihilar region", "middle lung zone"],
    "upper": ["upper lung zone", "upper lobe", "upper lung"],
    "apical": ["apex", "apical region", "lung apex"],
}
_ZONE_ADJ = {"lower": ["basilar", "lower lobe", "basal"], "mid": ["mid lung"], "upper": ["upper lobe", "upper lung"]}


def _pick(rng: np.random.Generator, options: list[str]) -> str:
    return options[int(rng.integers(len(options)))]


def _cap(s: str) -> str:
    return s[0].upper() + s[1:]


def _named(f: Finding, rng) -> str:
    side = "bilateral" if len(f.sides) == 2 else f.sides[0]
    c, size = f.category, f.size
    if c == "Pneumothorax":
        if f.zone == "lateral":
            return _pick(rng, [f"Large {side} pneumothorax.", f"Large {side} apicolateral pneumothorax.",
                               f"Large {side} pneumothorax with partial collapse of the {side} lung."])
        return _pick(rng, [f"{_cap(size)} {side} apical pneumothorax.", f"{_cap(size)} {side} pneumothorax at the apex.",
                           f"There is a {size} {side} apical pneumothorax.",
                           f"{_cap(side)} apical pneumothorax with visible pleural line.",
                           f"{_cap(size)} pneumothorax at the {side} lung apex."])
    if c == "Pleural Effusion":
        if side == "bilateral":
            return _pick(rng, [f"{_cap(size)} bilateral pleural effusions.", "Bilateral pleural effusions.",
                               "Blunting of both costophrenic angles from small effusions."
                               if size == "small" else f"{_cap(size)} bilateral effusions at the lung bases."])
        if size == "small":
            return _pick(rng, [f"Blunting of the {side} costophrenic angle consistent with small effusion.",
                               f"Small {side} effusion blunting the CP angle.",
                               f"Small {side} pleural effusion.", f"Trace {side} pleural effusion at the CP angle."])
        return _pick(rng, [f"{_cap(size)} {side} pleural effusion.", f"{_cap(size)} layering {side} effusion.",
                           f"{_cap(side)} basilar pleural effusion, {size} in size.",
                           f"{_cap(size)} {side} effusion at the lung base."])
    if c in ("Consolidation", "Pneumonia", "Lung Opacity"):
        noun = {"Consolidation": _pick(rng, ["consolidation", "airspace consolidation"]),
                "Pneumonia": _pick(rng, ["pneumonia", "opacity concerning for pneumonia", "infiltrate consistent with pneumonia"]),
                "Lung Opacity": _pick(rng, ["opacity", "hazy opacity", "ill-defined opacity", "opacification"])}[c]
        if side == "bilateral":
            where = {"lower": "bibasilar", "mid": "bilateral mid lung", "upper": "bilateral upper lobe"}[f.zone]
            return f"{_cap(where)} {noun}{'s' if noun in ('consolidation', 'opacity') else ''}."
        if rng.random() < 0.5:
            return f"{_cap(side)} {_pick(rng, _ZONE_ADJ[f.zone])} {noun}."
        return _cap(f"{noun} in the {side} {_pick(rng, _ZONE_WORDS[f.zone])}.")
    if c == "Atelectasis":
        if side == "bilateral":
            return _pick(rng, ["Bibasilar atelectasis.", "Bibasilar plate-like atelectasis.",
                               "Atelectasis at both lung bases."])
        return _pick(rng, [f"{_cap(side)} basilar atelectasis.", f"Plate-like atelectasis at the {side} lung base.",
                           f"Linear atelectasis in the {side} lower lung.", f"{_cap(side)} basal subsegmental atelectasis."])
    if c == "Edema":
        if f.merged:
            return _pick(rng, [f"{_cap(f.size)} pulmonary edema.", "Bilateral perihilar haziness consistent with edema."])
        return _pick(rng, ["Bilateral perihilar haziness consistent with edema.", f"{_cap(f.size)} perihilar edema in both lungs.",
                           "Perihilar opacities in both lungs compatible with pulmonary edema."])
    if c == "Cardiomegaly":
        return _pick(rng, ["Enlarged cardiac silhouette.", f"{_cap(f.size)} enlargement of the cardiac silhouette.",
                           "The cardiac silhouette is enlarged.", "Cardiac silhouette is enlarged."])
    raise ValueError(f"no phrase templates for category {c!r}")


def _bare(f: Finding, rng) -> str:
    c = f.category
    options = {
        "Pneumothorax": ["Pneumothorax.", f"{_cap(f.size)} pneumothorax.",
                         "Pleural line with absent lung markings peripherally, consistent with pneumothorax."],
        "Pleural Effusion": ["Pleural effusion.", f"{_cap(f.size)} effusion.", "Effusion."],
        "Consolidation": ["Consolidation.", "Patchy consolidation.", "Airspace consolidation.", "Focal consolidation."],
        "Pneumonia": ["Pneumonia.", "Patchy opacity concerning for pneumonia.", "Findings compatible with pneumonia."],
        "Lung Opacity": ["Patchy opacity.", "Ill-defined opacity.", "Opacity.", "Hazy opacity."],
        "Atelectasis": ["Atelectasis.", "Subsegmental atelectasis.", "Plate-like atelectasis."],
        "Edema": ["Pulmonary edema.", f"{_cap(f.size)} pulmonary edema.", "Interstitial edema.", "Edema."],
        "Cardiomegaly": ["Cardiomegaly.", "The heart size is enlarged.", "Heart size is enlarged.",
                         f"{_cap(f.size)} cardiomegaly."],
    }[c]
    return _pick(rng, options)


def phrase_for(f: Finding, rng: np.random.Generator) -> str:
    """One phrase for a drawn finding; laterality is always explicit when an anatomy is named."""
    if f.category == "Cardiomegaly" and rng.random() < 0.75:
        return _bare(f, rng)  # real reports mostly say just "Cardiomegaly."
    return _named(f, rng) if rng.random() < NAMED_FRACTION else _bare(f, rng)
