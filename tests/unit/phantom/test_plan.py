"""Cohort plan at the DEFAULT size (no pixels): category skew, splits, leakage set-up, id uniqueness."""

from collections import Counter

import pytest

from agpt.phantom import PhantomConfig, make_plan


@pytest.fixture(scope="module")
def plan():
    return make_plan(PhantomConfig(seed=0))


def test_sizes_and_unique_ids(plan):
    kinds = Counter(s.subset for s in plan.images)
    assert kinds == {"pretrain": 2000, "mscxr": 350}
    assert len({s.dicom_id for s in plan.images}) == len(plan.images)
    assert len({s.study_id for s in plan.images}) == len(plan.images)


def test_category_skew_like_mscxr(plan):
    counts = Counter(c for s in plan.images if s.subset == "mscxr" for c in s.categories)
    ranked = [c for c, _ in counts.most_common()]
    assert set(ranked[:2]) == {"Cardiomegaly", "Pneumothorax"}
    assert len(counts) == 8 and counts["Edema"] < counts["Pneumonia"] / 2
    assert 450 <= sum(counts.values()) <= 560  # ~500 phrases


def test_mscxr_split_by_patient_roughly_70_10_20(plan):
    patients = [p for p in plan.patients.values() if p.mscxr_split]
    share = Counter(p.mscxr_split for p in patients)
    assert abs(share["train"] / len(patients) - 0.7) < 0.02 and share["val"] > 0 and share["test"] > 0
    extra = sum(s.subset == "pretrain" and plan.patients[s.subject_id].mscxr_split != "" for s in plan.images)
    assert 50 < extra < 400  # MS-CXR patients also have pre-training studies


def test_config_round_trip_and_errors():
    cfg = PhantomConfig(seed=3, n_pretrain=10)
    assert PhantomConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="n_mscxr_images"):
        PhantomConfig(n_mscxr_images=1)
