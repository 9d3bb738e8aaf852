"""Reviewing a table against the curated one: additions, removals, rejected entries with reasons."""

from __future__ import annotations

import json

from agpt.synonyms import load_synonym_table
from agpt.synonyms.review import review_file


def test_review_lists_additions_removals_and_rejections(tmp_path):
    entries = load_synonym_table(None).entries
    entries["right lung"] = ["right lung", "right hemithorax", "right chest", "right breast"]
    entries["carina"] = ["carina", "carina", "tracheal carina"]
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"synonyms": entries, "rejected": [
        {"anatomy": "abdomen", "synonym": "stomach", "reason": "an abdominal organ"}]}))
    review = review_file(path).to_dict()
    diffs = {d["anatomy"]: d for d in review["diffs"]}
    assert diffs["right lung"]["additions"] == ["right chest"]
    assert "right lung field" in diffs["right lung"]["removals"]
    assert "tracheal bifurcation" in diffs["carina"]["removals"]
    rejected = {(r["anatomy"], r["synonym"]): r["reason"] for r in review["rejected"]}
    assert "breast" in rejected[("right lung", "right breast")]
    assert rejected[("carina", "carina")] == "duplicate"
    assert rejected[("abdomen", "stomach")] == "an abdominal organ"
    assert review["n_additions"] == 1


def test_review_of_the_curated_table_against_itself_is_empty(tmp_path):
    path = tmp_path / "c.json"
    load_synonym_table(None).save(path)
    review = review_file(path, "curated").to_dict()
    assert review["n_additions"] == review["n_removals"] == review["n_rejected"] == 0
