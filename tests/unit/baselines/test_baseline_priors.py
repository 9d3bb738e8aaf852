"""Centre and category priors on a hand-made split with known answers."""

from __future__ import annotations

import numpy as np
import pytest
from baseline_fixtures import CARDIOMEGALY_300, CENTRE_300, PNEUMOTHORAX_300, TEST, TRAIN, write_prepared

from agpt.baselines.priors import CategoryPrior, CentrePrior, normalised_phrase_box, write_predictions
from agpt.data.prepared import read_prepared_mscxr


def test_normalised_phrase_box_merges_multi_box_phrases():
    np.testing.assert_allclose(normalised_phrase_box(TRAIN[2]), [0.1, 0.2, 0.4, 0.9])


def test_centre_prior_is_the_mean_normalised_training_box():
    prior = CentrePrior.fit(TRAIN)
    np.testing.assert_allclose(prior.box_norm, [0.7 / 3, 0.4 / 3, 1.9 / 3, 1.7 / 3])
    for sample in TEST:
        p = prior.predict(sample)
        assert p.rule == "centre" and (p.dicom_id, p.label_text) == (sample.dicom_id, sample.label_text)
        np.testing.assert_allclose(p.box_xyxy, CENTRE_300)


def test_centre_prior_scales_to_each_image():
    prior = CentrePrior.fit(TRAIN)
    np.testing.assert_allclose(prior.predict(TRAIN[0]).box_xyxy, np.array([0.7, 0.4, 1.9, 1.7]) / 3 * [100, 200, 100, 200])


def test_category_prior_with_unseen_category_fallback():
    prior = CategoryPrior.fit(TRAIN)
    by_text = {s.label_text: prior.predict(s) for s in TEST}
    np.testing.assert_allclose(by_text["Cardiomegaly."].box_xyxy, CARDIOMEGALY_300)
    np.testing.assert_allclose(by_text["Right apical pneumothorax."].box_xyxy, PNEUMOTHORAX_300)
    assert by_text["Cardiomegaly."].rule == "category"
    unseen = by_text["Bibasilar atelectasis."]
    assert unseen.rule == "centre_unseen_category"
    np.testing.assert_allclose(unseen.box_xyxy, CENTRE_300)


def test_prior_needs_training_data():
    with pytest.raises(ValueError, match="at least one training phrase"):
        CentrePrior.fit([])


def test_predictions_round_trip_through_the_prepared_readers(tmp_path):
    root = write_prepared(tmp_path / "prepared")
    train = read_prepared_mscxr(root, "train")
    assert [s.label_text for s in train] == [s.label_text for s in TRAIN]
    np.testing.assert_allclose(CentrePrior.fit(train).box_norm, CentrePrior.fit(TRAIN).box_norm)
    out = write_predictions(tmp_path / "p.csv", [CentrePrior.fit(train).predict(s) for s in TEST])
    lines = out.read_text().splitlines()
    assert lines[0] == "dicom_id,label_text,x,y,w,h,score,rule,anatomy"
    assert lines[1] == "img-t1,Bibasilar atelectasis.,70.0,40.0,120.0,130.0,1.0,centre,"
