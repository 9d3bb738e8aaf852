"""Inference over a dataset, IoU in original pixels, and the predictions CSV / metrics JSON."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader

from agpt.boxes import box_xyxy_to_xywh, paired_iou
from agpt.engine.datasets import collate
from agpt.engine.runtime import autocast

PREDICTION_COLUMNS = ("dicom_id", "label_text", "x", "y", "w", "h", "score")


@dataclass
class Predictions:
    """One row per phrase, in dataset order.

    ``pred_xyxy``/``gold_xyxy``: ``float64[N, 4]`` xyxy in original pixels (prediction clamped
    to the image); ``gold_xyxy`` is the training target (the union of the phrase's boxes).
    """

    dicom_ids: list[str]
    phrases: list[str]
    pred_xyxy: np.ndarray
    gold_xyxy: np.ndarray
    scores: np.ndarray

    def iou(self) -> np.ndarray:
        return np.asarray(paired_iou(self.pred_xyxy, self.gold_xyxy), dtype=np.float64)

    def summary(self) -> dict[str, float]:
        """``miou`` and ``acc@0.5`` (fractions) against the target boxes; used for model selection."""
        iou = self.iou()
        if len(iou) == 0:
            return {"miou": float("nan"), "acc@0.5": float("nan"), "n": 0}
        return {"miou": float(iou.mean()), "acc@0.5": float((iou >= 0.5).mean()), "n": int(len(iou))}

    def to_frame(self):
        """The ``agpt score`` prediction format: ``dicom_id,label_text,x,y,w,h,score`` (xywh, original px)."""
        import pandas as pd

        xywh = np.asarray(box_xyxy_to_xywh(self.pred_xyxy), dtype=np.float64).reshape(-1, 4)
        return pd.DataFrame({
            "dicom_id": self.dicom_ids,
            "label_text": self.phrases,
            "x": xywh[:, 0], "y": xywh[:, 1], "w": xywh[:, 2], "h": xywh[:, 3],
            "score": self.scores,
        }, columns=list(PREDICTION_COLUMNS))


def move_text(text: dict[str, Any], device: torch.device) -> dict[str, Any]:
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in text.items()}


@torch.no_grad()
def predict(model: torch.nn.Module, dataset, cache: Any, device: torch.device, batch_size: int = 32,
            amp: bool = True, num_workers: int = 0, progress=None) -> Predictions:
    """Run ``model`` over an un-augmented dataset; map every box back through the cache's Letterbox."""
    was_training = model.training
    model.eval()
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False, collate_fn=collate, num_workers=num_workers)
    dicom_ids: list[str] = []
    phrases: list[str] = []
    preds, golds, scores = [], [], []
    try:
        for batch in loader:
            text = move_text(model.tokenize(batch["phrases"]), device)
            with autocast(device, amp):
                out = model(batch["images"].to(device), text, batch["image_index"].to(device))
            boxes = out.pred_boxes.float().cpu().numpy().astype(np.float64)
            score = out.scores.float().cpu().numpy().astype(np.float64)
            for i, dicom_id in enumerate(batch["dicom_ids"]):
                lb = cache.letterbox(dicom_id)
                preds.append(np.asarray(lb.normalised_cxcywh_to_original_xyxy(boxes[i])))
                golds.append(np.asarray(lb.normalised_cxcywh_to_original_xyxy(batch["boxes"][i].double().numpy())))
            dicom_ids.extend(batch["dicom_ids"])
            phrases.extend(batch["phrases"])
            scores.append(score)
            if progress is not None:
                progress.update(len(batch["phrases"]))
    finally:
        model.train(was_training)
    return Predictions(
        dicom_ids=dicom_ids,
        phrases=phrases,
        pred_xyxy=np.asarray(preds, dtype=np.float64).reshape(-1, 4),
        gold_xyxy=np.asarray(golds, dtype=np.float64).reshape(-1, 4),
        scores=np.concatenate(scores) if scores else np.zeros(0),
    )
