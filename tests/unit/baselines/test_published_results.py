"""The published MS-CXR results table: loads, values as published, every row names its source."""

from __future__ import annotations

import math

from agpt.baselines.published import PUBLISHED_COLUMNS, load_published_results


def test_table_loads_and_every_row_names_its_source():
    df = load_published_results()
    assert tuple(df.columns) == PUBLISHED_COLUMNS
    assert len(df) == 8
    assert all(isinstance(s, str) and len(s) > 10 for s in df["source"])
    assert all(isinstance(c, str) and c for c in df["caveat"])


def test_values_exactly_as_published():
    df = load_published_results().set_index("system")
    assert math.isnan(df.loc["AGPT, best fine-tuned model", "acc@0.5"])
    assert df.loc["AGPT, best fine-tuned model", "miou"] == 61.2
    expected = {"MedRPG": (69.86, 59.37), "TransVG (RefCOCO init)": (65.87, 58.91), "SeqTR": (63.20, 56.63),
                "VGTR": (60.27, 53.58), "RefTR": (53.69, 50.11), "GLoRIA (weakly supervised)": (28.74, 31.17),
                "BioViL (weakly supervised)": (7.78, 19.99)}
    for system, (acc, miou) in expected.items():
        assert (df.loc[system, "acc@0.5"], df.loc[system, "miou"]) == (acc, miou)
    assert set(df["n_test"]) == {167}
    assert set(df.loc[["GLoRIA (weakly supervised)", "BioViL (weakly supervised)"], "setting"]) == {"zero-shot"}
