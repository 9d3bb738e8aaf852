"""The bundled curated table, the validator and strict table loading."""

from __future__ import annotations

import json

import pytest

from agpt.anatomy import ANATOMIES, SILVER_BOX_NAMES
from agpt.errors import DataError
from agpt.synonyms import load_synonym_table
from agpt.synonyms.table import table_problems
from agpt.synonyms.validate import check_synonym, normalise


def test_bundled_table_is_complete_and_valid():
    table = load_synonym_table(None)
    assert list(table.entries) == list(SILVER_BOX_NAMES)
    for anatomy in ANATOMIES:
        names = table.synonyms(anatomy)
        assert names[0] == anatomy
        assert len(names) >= 6, anatomy  # canonical + at least 5
    fatal, rejections = table_problems(table.entries)
    assert fatal == [] and rejections == []
    for key in ("source", "version", "date", "curated_by", "method", "sources"):
        assert table.provenance[key]
    assert load_synonym_table("bundled").entries == table.entries


def test_bundled_names_are_unique_across_anatomies():
    owners: dict[str, str] = {}
    for anatomy, names in load_synonym_table(None).entries.items():
        for name in names:
            assert owners.setdefault(normalise(name), anatomy) == anatomy, name


def test_bundled_table_has_the_terms_radiologists_write():
    t = load_synonym_table(None)
    assert "right CP angle" in t.synonyms("right costophrenic angle")
    assert "right lung base" in t.synonyms("right lower lung zone")
    assert "left apex" in t.synonyms("left apical zone")
    assert "heart" in t.synonyms("cardiac silhouette")
    assert "right hilum" in t.synonyms("right hilar structures")
    assert "superior vena cava" in t.synonyms("svc")
    assert "dome of the left hemidiaphragm" in t.synonyms("left hemidiaphragm")
    # the clinical errors of the AGPT authors' table are absent, and laterality is exact
    everything = " | ".join(n for names in t.entries.values() for n in names).lower()
    for wrong in ("breast", "stomach", "liver", "ventricle", "rigt", "lobe"):
        assert wrong not in everything
    for anatomy, names in t.entries.items():
        side = anatomy.split()[0]
        if side in ("right", "left"):
            other = "left" if side == "right" else "right"
            assert all(side in n.lower() and other not in n.lower() for n in names), anatomy
    # "lung base" is the lower zone, never the costophrenic angle
    assert not any("base" in n for n in t.synonyms("right costophrenic angle"))


@pytest.mark.parametrize("anatomy,synonym,reason", [
    ("right lung", "", "empty"),
    ("right lung", " right hemithorax", "whitespace"),
    ("right lung", "left hemithorax", "other side"),
    ("left lower lung zone", "right base", "other side"),
    ("right lung", "right breast", "breast"),
    ("abdomen", "stomach", "abdominal organ"),
    ("abdomen", "liver", "abdominal organ"),
    ("cardiac silhouette", "left ventricle", "adds a side"),
    ("cardiac silhouette", "ventricle", "cardiac chamber"),
    ("right lung", "right atrium", "another anatomy"),
    ("mediastinum", "heart", "heart"),
    ("right apical zone", "rigt apex", "misspelt"),
    ("left apical zone", "lfet apex", "misspelt"),
    ("right lower lung zone", "lung base", "drops the side"),
    ("right lower lung zone", "bibasilar region", "both sides"),
    ("right lower lung zone", "right lower lobe", "lobe"),
    ("right lower lung zone", "right costophrenic angle", "another anatomy"),
    ("trachea", "carina", "another anatomy"),
    ("right lung", 3, "not a string"),
])
def test_validator_rejects(anatomy, synonym, reason):
    assert reason in check_synonym(anatomy, synonym)


@pytest.mark.parametrize("anatomy,synonym", [
    ("right lung", "right hemithorax"), ("right costophrenic angle", "right CP angle"),
    ("svc", "SVC contour"), ("cavoatrial junction", "junction of the superior vena cava and right atrium"),
    ("right atrium", "right atrial border"), ("cardiac silhouette", "heart"),
    ("right lower lung zone", "right lung base"), ("right upper lung zone", "bright right upper zone"),
])
def test_validator_accepts(anatomy, synonym):
    assert check_synonym(anatomy, synonym) is None


def test_validator_uses_reference_synonyms_of_other_anatomies():
    owners = load_synonym_table(None).name_owners()
    assert "another anatomy" in check_synonym("right lower lung zone", "right CP angle", owners)
    assert check_synonym("right costophrenic angle", "right CP angle", owners) is None


def _write(tmp_path, synonyms, **extra):
    path = tmp_path / "table.json"
    path.write_text(json.dumps({"format": "agpt-synonyms/1", "synonyms": synonyms, **extra}))
    return path


def test_load_rejects_bad_tables_naming_file_and_problem(tmp_path):
    good = load_synonym_table(None).entries
    missing = {a: s for a, s in good.items() if a != "carina"}
    with pytest.raises(DataError, match=r"table.json: missing anatomies: carina"):
        load_synonym_table(_write(tmp_path, missing))
    not_first = {**good, "carina": ["tracheal carina", "carina"]}
    with pytest.raises(DataError, match="canonical name must come first"):
        load_synonym_table(_write(tmp_path, not_first))
    dup = {**good, "carina": ["carina", "main carina", "Main  carina".replace("  ", " ")]}
    with pytest.raises(DataError, match="duplicate"):
        load_synonym_table(_write(tmp_path, dup))
    cross = {**good, "trachea": [*good["trachea"], "tracheal bifurcation"]}
    with pytest.raises(DataError, match="names another anatomy"):
        load_synonym_table(_write(tmp_path, cross))
    unknown = {**good, "left ventricle": ["left ventricle"]}
    with pytest.raises(DataError, match="unknown anatomies"):
        load_synonym_table(_write(tmp_path, unknown))
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(DataError, match="broken.json, row line 1: not valid JSON"):
        load_synonym_table(tmp_path / "broken.json")
    with pytest.raises(DataError, match="cannot read"):
        load_synonym_table(tmp_path / "absent.json")
    with pytest.raises(ValueError, match="no synonyms for anatomy 'liver'"):
        load_synonym_table(None).synonyms("liver")


def test_a_29_anatomy_table_loads(tmp_path):
    good = load_synonym_table(None).entries
    table = load_synonym_table(_write(tmp_path, {a: good[a] for a in ANATOMIES}))
    assert table.anatomies == list(ANATOMIES)
