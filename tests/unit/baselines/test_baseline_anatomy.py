"""The anatomy matcher (synonyms, laterality, plurals, negation, absent anatomy) and the lookup baseline."""

from __future__ import annotations

import numpy as np
import pytest
from baseline_fixtures import (ANATOMY, BIBASILAR_T1, CENTRE_300, MEAN_RIGHT_APEX_300, TEST, TRAIN,
                               write_prepared)

from agpt.baselines.anatomy_lookup import AnatomyLookup
from agpt.baselines.anatomy_match import AnatomyMatcher
from agpt.data.prepared import read_prepared_anatomy
from agpt.synonyms import load_synonym_table

MATCHER = AnatomyMatcher(load_synonym_table(None))
RL, LL = "right lower lung zone", "left lower lung zone"


@pytest.mark.parametrize("phrase,expected", [
    # canonical names and synonyms from the table
    ("Opacity in the right lower lung zone.", (RL,)),
    ("Opacity at the right lung base.", (RL,)),
    ("Blunting of the left CP angle.", ("left costophrenic angle",)),
    ("Elevation of the dome of the right hemidiaphragm.", ("right hemidiaphragm",)),
    ("Enlarged cardiac silhouette.", ("cardiac silhouette",)),
    ("Cardiomegaly.", ("cardiac silhouette",)),
    ("Widening of the superior mediastinum.", ("upper mediastinum",)),
    ("Fullness of the left hilum.", ("left hilar structures",)),
    ("Small right apical pneumothorax.", ("right apical zone",)),
    ("Left retrocardiac opacity.", (LL,)),
    ("Left-sided lower lobe consolidation.", (LL,)),
    # laterality
    ("Opacity at the left base.", (LL,)),
    ("Apical pneumothorax on the right.", ("right apical zone",)),
    ("Right upper and lower lung opacities.", ("right upper lung zone", RL)),
    ("Right apex and left base.", ("right apical zone", LL)),
    ("Bilateral lower lobe opacities.", (RL, LL)),
    ("Opacities in both lower lungs.", (RL, LL)),
    ("Lower lung zone opacities bilaterally.", (RL, LL)),
    # plurals and bi- words
    ("Bibasilar atelectasis.", (RL, LL)),
    ("Bibasal opacities.", (RL, LL)),
    ("Patchy opacities at the lung bases.", (RL, LL)),
    ("Biapical pleural thickening.", ("right apical zone", "left apical zone")),
    ("Pleural thickening at the apices.", ("right apical zone", "left apical zone")),
    ("Blunting of the costophrenic angles.", ("right costophrenic angle", "left costophrenic angle")),
    # negated anatomy is ignored, the rest of the phrase still counts
    ("No pneumothorax, right basilar opacity.", (RL,)),
    ("No left lower lobe collapse; right lower lobe opacity.", (RL,)),
    ("Absent lung markings at the right apex.", ("right apical zone",)),  # a finding, not a negation
    ("Right lung collapse with opacity at the right base.", (RL,)),  # the zone, not the whole lung
    ("Left lung opacity, right apical pneumothorax.", ("left lung", "right apical zone")),
])
def test_matcher_finds_the_named_anatomies(phrase, expected):
    match = MATCHER.match(phrase)
    assert match is not None and match.anatomies == expected and match.rule == "anatomy"


@pytest.mark.parametrize("phrase,expected", [
    ("Small left pleural effusion.", ("left lung",)),
    ("Right-sided pneumothorax.", ("right lung",)),
    ("Bilateral pleural effusions.", ("right lung", "left lung")),
])
def test_matcher_side_only(phrase, expected):
    match = MATCHER.match(phrase)
    assert match is not None and match.anatomies == expected and match.rule == "side"


@pytest.mark.parametrize("phrase", [
    "No left effusion.", "Without right pneumothorax.", "Free of left-sided opacity.", "Moderate pulmonary edema.", "Multifocal pneumonia.",
    "Opacity at the base.",  # singular region without a side: unknown which
    "Bright spot.",  # "bright" is not "right"
    "", "No lung base opacity on the left.",
])
def test_matcher_no_match(phrase):
    assert MATCHER.match(phrase) is None


def test_matcher_uses_the_given_synonym_table():
    entries = load_synonym_table(None).entries
    entries["right costophrenic angle"] = [*entries["right costophrenic angle"], "right phrenicocostal sinus"]
    table = type(load_synonym_table(None))(entries=entries)
    assert AnatomyMatcher(table).match("Fluid in the right phrenicocostal sinus.").anatomies == ("right costophrenic angle",)
    assert MATCHER.match("Fluid in the right phrenicocostal sinus.").rule == "side"


def test_lookup_rules_and_boxes(tmp_path):
    root = write_prepared(tmp_path / "prepared")
    lookup = AnatomyLookup.fit(MATCHER, TRAIN, read_prepared_anatomy(root, "mscxr"))
    np.testing.assert_allclose(lookup.mean_boxes["right apical zone"], [0.1, 0.1, 0.4, 0.4])
    assert "right lower lung zone" not in lookup.mean_boxes  # only training images count
    preds = {p.label_text: p for p in (lookup.predict(s) for s in TEST)}
    bibasilar = preds["Bibasilar atelectasis."]
    assert bibasilar.rule == "anatomy_image" and bibasilar.anatomy == f"{RL}+{LL}"
    np.testing.assert_allclose(bibasilar.box_xyxy, BIBASILAR_T1)
    apex = preds["Right apical pneumothorax."]
    assert apex.rule == "anatomy_mean" and apex.anatomy == "right apical zone"
    np.testing.assert_allclose(apex.box_xyxy, MEAN_RIGHT_APEX_300)
    negated = preds["No left effusion."]  # unseen category -> centre
    assert negated.rule == "centre_unseen_category" and negated.anatomy == ""
    np.testing.assert_allclose(negated.box_xyxy, CENTRE_300)
    heart = preds["Cardiomegaly."]  # named, but no cardiac box anywhere -> category prior
    assert heart.rule == "category"
    assert set(ANATOMY) >= {s.dicom_id for s in TEST} - {"img-t2"}
