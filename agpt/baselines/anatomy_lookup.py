"""The anatomy-lookup baseline: predict the box of the anatomy a phrase names, else the category prior.

Per phrase (rules, recorded in the ``rule`` column of the predictions):

- ``anatomy_image`` / ``side_image``: the phrase names anatomies (or only a side, see
  :mod:`agpt.baselines.anatomy_match`) and ``anatomy_mscxr.csv`` has all their boxes for this
  image: the enclosing box of them (one anatomy: its box);
- ``anatomy_mean`` / ``side_mean``: some of those boxes are missing for this image: the missing
  ones are the training-set mean box of the anatomy (normalised, scaled to this image), the
  others this image's boxes, enclosed together;
- ``category`` (or ``centre_unseen_category``): the phrase names no anatomy (or only negated
  ones), or the anatomy has no box anywhere: the category prior.

Training-set mean anatomy boxes come from the anatomy boxes of the MS-CXR *training* images.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from agpt.baselines.anatomy_match import AnatomyMatcher
from agpt.baselines.priors import CategoryPrior, Prediction, mean_box, to_pixels
from agpt.boxes import union_box
from agpt.data.records import AnatomyImage, PhraseSample


def normalised_anatomy_box(image: AnatomyImage, anatomy: str) -> np.ndarray:
    w, h = image.image_width, image.image_height
    return np.asarray(image.boxes[anatomy], dtype=np.float64) / np.array([w, h, w, h])


@dataclass
class AnatomyLookup:
    """Phrase -> anatomy (matcher) -> this image's box, the mean box, or the category prior."""

    matcher: AnatomyMatcher
    image_boxes: dict[str, dict[str, tuple[float, float, float, float]]]  # dicom_id -> anatomy -> xyxy pixels
    mean_boxes: dict[str, np.ndarray]  # anatomy -> normalised xyxy
    fallback: CategoryPrior

    @classmethod
    def fit(cls, matcher: AnatomyMatcher, train: list[PhraseSample], anatomy_images: list[AnatomyImage]) -> AnatomyLookup:
        """``anatomy_images``: the anatomy boxes of the MS-CXR images (``anatomy_mscxr.csv``)."""
        train_ids = {s.dicom_id for s in train}
        per_anatomy: dict[str, list[np.ndarray]] = {}
        for image in anatomy_images:
            if image.dicom_id in train_ids:
                for anatomy in image.boxes:
                    per_anatomy.setdefault(anatomy, []).append(normalised_anatomy_box(image, anatomy))
        return cls(
            matcher=matcher,
            image_boxes={img.dicom_id: dict(img.boxes) for img in anatomy_images},
            mean_boxes={a: mean_box(b) for a, b in per_anatomy.items()},
            fallback=CategoryPrior.fit(train),
        )

    def predict(self, sample: PhraseSample) -> Prediction:
        match = self.matcher.match(sample.label_text)
        if match is not None:
            here = self.image_boxes.get(sample.dicom_id, {})
            boxes, from_mean = [], False
            for anatomy in match.anatomies:
                if anatomy in here:
                    boxes.append(here[anatomy])
                elif anatomy in self.mean_boxes:
                    boxes.append(to_pixels(self.mean_boxes[anatomy], sample.image_width, sample.image_height))
                    from_mean = True
                else:
                    boxes = []
                    break
            if boxes:
                box = tuple(float(v) for v in union_box(np.asarray(boxes)))
                rule = f"{match.rule}_{'mean' if from_mean else 'image'}"
                return Prediction(sample.dicom_id, sample.label_text, box, rule, "+".join(match.anatomies))
        return self.fallback.predict(sample)
