"""`nudge report html` against the local stack: the self-contained report is written from the
admin API's real reports and carries each chart as an inline image."""

from __future__ import annotations

import base64
import re
from pathlib import Path

import pytest

from tests.e2e.helpers import nudge
from tests.unit.test_report_html import TITLES

pytestmark = pytest.mark.e2e


def test_the_html_report_is_written_with_every_chart(tmp_path: Path, stack_dir: Path) -> None:
    out = tmp_path / "report.html"
    result = nudge(stack_dir, "report", "html", "--out", str(out), "--since", "30d")
    assert result.returncode == 0, result.stdout + result.stderr
    page = out.read_text()
    for title in TITLES:
        assert f'alt="{title}"' in page, title
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(TITLES)
    assert all(base64.b64decode(image).startswith(b"\x89PNG") for image in images)
    assert "http://" not in page and "https://" not in page  # nothing fetched from elsewhere
