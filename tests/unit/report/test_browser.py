"""The report in a real browser: headless Chromium over the DevTools protocol."""

import io

import numpy as np
import pytest
from PIL import Image

from report_browser import ensure_chromium, visit

pytestmark = pytest.mark.browser


def test_report_opens_in_chromium_without_errors_or_network(built_report, tmp_path):
    ensure_chromium()
    page = visit(built_report["html"], max_screens=2)
    assert page.errors == []
    html_url = built_report["html"].resolve().as_uri()
    external = [u for u in page.requests if u != html_url and not u.startswith("data:")]
    assert external == [], external
    assert any(u.startswith("data:image/png") for u in page.requests)  # the figures did load
    assert page.page_height > 3000
    for shot in page.screenshots:
        pixels = np.asarray(Image.open(io.BytesIO(shot)).convert("L"), dtype=float)
        assert pixels.std() > 10, "screenshot is blank"
    (tmp_path / "report_top.png").write_bytes(page.screenshots[0])


def test_the_browser_check_sees_requests_and_console_errors(tmp_path):
    """The detector itself: a page that fetches from the network and logs an error is caught."""
    ensure_chromium()
    page_file = tmp_path / "bad.html"
    page_file.write_text('<html><body><img src="http://127.0.0.1:9/x.png">'
                         '<script>console.error("boom")</script><p>hello</p></body></html>')
    page = visit(page_file, max_screens=1)
    assert "http://127.0.0.1:9/x.png" in page.requests
    assert any("boom" in e for e in page.errors)
