"""`nudge report regions --category marketing --model [--metric conversion]`: the regional
model printed with every prediction's interval and the better / worse regions named."""

from __future__ import annotations

from typing import Any

import pytest

from nudge_cli import region_report
from nudge_cli.main import main
from tests.unit.test_regional_model_service import world  # noqa: F401 - the fixture


def test_the_model_is_printed_with_intervals_and_verdicts(
    monkeypatch: pytest.MonkeyPatch,
    world: Any,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    service, *_ = world
    service.run()
    calls: list[str] = []

    def fake_call(args: Any, method: str, path: str, body: Any = None) -> Any:
        calls.append(path)
        return service.report("marketing", "conversion" if "metric=" in path else None)

    monkeypatch.setattr(region_report, "admin_call", fake_call)
    assert main(["report", "regions", "--category", "marketing", "--metric", "conversion"]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    first = next(line for line in lines if line.strip().startswith("1  NL"))
    assert "better" in first and "(" in first  # a prediction always comes with its interval
    assert "  better than the rest: NL" in lines
    assert "  worse than the rest: ES" in lines
    assert "last published at" in out
    assert main(["report", "regions", "--category", "marketing", "--model", "--json"]) == 0
    assert '"opt_out"' in capsys.readouterr().out
    assert calls == [
        "/admin/v1/reports/regions?category=marketing&metric=conversion",
        "/admin/v1/reports/regions?category=marketing",
    ]
    with pytest.raises(SystemExit, match="--category"):
        main(["report", "regions", "welcome", "--model"])
