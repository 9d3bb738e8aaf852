"""The HTML report: its main table agrees with ablation.csv; it is self-contained and leaks no identifiers."""

import re
from html.parser import HTMLParser

import numpy as np
import pytest

from agpt.errors import AgptError
from agpt.report.aggregate import read_tables
from agpt.report.privacy import check_no_identifiers, visible_text
from agpt.report.qualitative import names_anatomy, select_phrases
from agpt.report.render import fmt
from report_fixtures import FORBIDDEN


class _MainTable(HTMLParser):
    """Collects (model, init, column, metric) -> text and baseline -> metric -> text from #main-table."""

    def __init__(self):
        super().__init__()
        self.cells, self.baselines, self.best, self.cis = {}, {}, set(), {}
        self._cell = None
        self._metric = None
        self._last = None  # key of the last metric value, which its CI span follows
        self._ci = False
        self._in_main = False
        self._text = ""

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "table" and a.get("id") == "main-table":
            self._in_main = True
        if not self._in_main:
            return
        if tag == "td" and "data-model" in a:
            self._cell = ("model", a["data-model"], a["data-init"], a["data-column"])
        elif tag == "td" and "data-baseline" in a:
            self._cell = ("baseline", a["data-baseline"])
        elif tag == "span" and "data-metric" in a and self._cell:
            self._metric, self._text = a["data-metric"], ""
        elif tag == "span" and a.get("class") == "star" and self._cell:
            self.best.add(self._cell)
        elif tag == "span" and a.get("class") == "ci" and self._cell and self._last:
            self._ci, self._text = True, ""

    def handle_endtag(self, tag):
        if tag == "table":
            self._in_main = False
        if tag == "span" and self._metric:
            self._last = (*self._cell, self._metric)
            self.cells[self._last] = self._text.strip()
            self._metric = None
        elif tag == "span" and self._ci:
            self.cis[self._last] = self._text.strip()
            self._ci, self._last = False, None
        if tag == "td":
            self._cell = None

    def handle_data(self, data):
        if self._metric or self._ci:
            self._text += data


@pytest.fixture(scope="module")
def html_text(built_report) -> str:
    return built_report["html"].read_text(encoding="utf-8")


def test_main_table_agrees_with_ablation_csv(built_report, html_text):
    parser = _MainTable()
    parser.feed(html_text)
    ablation = read_tables(built_report["tables"])["ablation"]
    titles = {("zeroshot", ""): "zero-shot", ("finetune", "full"): "fine-tuned (full, 100% train)",
              ("finetune", "lora"): "fine-tuned (LoRA, 100% train)"}
    checked = 0
    for _, row in ablation.iterrows():
        if row["baseline"]:
            for m in ("acc@0.5", "miou"):
                assert parser.cells[("baseline", row["baseline"], m)] == fmt(row[f"{m}_mean_x100"])
                checked += 1
            continue
        if row["fraction"] not in ("", "1.0"):
            continue  # the main table shows the largest training fraction
        column = titles[(row["setting"], row["mode"])]
        for m in ("acc@0.5", "miou"):
            text = parser.cells[("model", row["model"], row["init"], column, m)]
            std = row[f"{m}_std_x100"]
            assert text == f"{row[f'{m}_mean_x100']:.1f} ± " + ("–" if np.isnan(std) else f"{std:.1f}")
            ci = parser.cis[("model", row["model"], row["init"], column, m)]
            assert ci == f"[{row[f'{m}_ci95_low_x100']:.1f}, {row[f'{m}_ci95_high_x100']:.1f}]"
            checked += 1
    # zero-shot: 2 models x 2 pre-trained inits; fine-tuned full and LoRA at 100%: 2 x 3 each; 2 baselines
    assert checked == 2 * (2 * 2 + 2 * 3 * 2) + 2 * 2
    assert ("model", "transvg", "base", "zero-shot", "miou") not in parser.cells
    # best cell per column: the star sits on the cell with the highest mean
    for column in titles.values():
        cells = {k: float(v.split(" ")[0]) for k, v in parser.cells.items()
                 if k[0] == "model" and k[3] == column and k[4] == "miou"}
        best = max(cells, key=cells.get)
        assert best[:4] in parser.best


def test_report_has_every_section_and_the_phantom_statement(html_text):
    for anchor in ('id="what"', 'id="main"', 'id="effects"', 'id="qualitative"', 'id="provenance"'):
        assert anchor in html_text
    assert 'id="phantom-warning"' in html_text and "not clinical evidence" in html_text
    assert 'id="at-a-glance"' in html_text and "AGPT vs base initialisation: mIoU difference from" in html_text
    assert "published, not reproduced here" in html_text and "MedRPG" in html_text
    n_bench = 2 * 2 * 2 + 2 * 3 * 2 * 2 * 2 * 2 + 2  # zero-shot eval + pretrain, fine-tune + eval, baselines
    assert "Total compute" in html_text and f"min wall-clock summed over {n_bench} " in html_text
    assert "preset tiny" in html_text and "split source: medrpg" in html_text
    assert html_text.count("data:image/png;base64,") >= 8  # 6 effect figures + 2 qualitative


def test_report_is_self_contained(built_report, html_text):
    assert "<script" not in html_text.lower() and "<link" not in html_text.lower()
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html_text)
    assert "@import" not in html_text and "url(" not in visible_text(html_text)
    for href in re.findall(r'href="([^"]+)"', html_text):
        assert not href.startswith("/") and (built_report["html"].parent / href).is_file()


def test_report_contains_no_identifying_header_values(html_text):
    text = visible_text(html_text)
    for value in FORBIDDEN:
        assert value not in text


def test_privacy_guard_refuses_identifiers():
    with pytest.raises(AgptError, match="identifier"):
        check_no_identifiers("<p>patient p10999999</p>", {"p10999999"})
    with pytest.raises(AgptError):
        check_no_identifiers("<td>10999999</td>", {"10999999"})
    check_no_identifiers('<img src="data:image/png;base64,p10999999AAAA">', {"p10999999"})
    check_no_identifiers("<p>hash 3a10999999f0</p>", {"10999999"})  # part of a longer token


def test_qualitative_selection_is_seeded_and_mixed():
    import pandas as pd

    pairs = pd.DataFrame({"dicom_id": [f"d{i}" for i in range(12)],
                          "label_text": ["left effusion", "cardiomegaly", "right lower lobe opacity", "pneumothorax",
                                         "edema", "bibasilar atelectasis", "opacity", "consolidation",
                                         "left apical pneumothorax", "pneumonia", "retrocardiac opacity", "effusion"],
                          "category_name": ["A", "B", "C", "D"] * 3})
    a, b = select_phrases(pairs, 6, seed=1), select_phrases(pairs, 6, seed=1)
    assert a.equals(b) and len(a) == 6
    assert a["names_anatomy"].sum() == 3
    assert a["category_name"].nunique() >= 3
    assert names_anatomy("small left pleural effusion") and not names_anatomy("cardiomegaly")


def test_html_refuses_tables_built_from_other_runs(built_report, tmp_path):
    from report_fixtures import run_agpt

    out = run_agpt("report", "html", "--tables", str(built_report["tables"]), "--runs", str(built_report["runs"][0]),
                   "--gold", str(built_report["gold"]), "--cache", str(built_report["cache"]),
                   "--out", str(tmp_path / "r.html"))
    assert out.returncode == 2 and "runs.csv" in out.stderr and "rebuild the tables" in out.stderr
    assert not (tmp_path / "r.html").exists()
