"""The stage-time table: every stage of dvc.yaml in order, slowest first in the table, an unknown stage named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from steel_defect.errors import UserError
from tests.test_dvc_wiring import ROOT, STAGES
from tools import stage_times


def test_every_stage_in_the_pipeline_order_and_the_table_slowest_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    assert stage_times.stage_order(ROOT / "dvc.yaml") == list(STAGES)
    (tmp_path / "dvc.yaml").write_text("stages:\n  fetch: {cmd: x}\n  split: {cmd: y}\n  fine_tune: {cmd: z}\n")
    monkeypatch.chdir(tmp_path)
    ran = []
    monkeypatch.setattr(
        stage_times, "time_stage", lambda stage: ran.append(stage) or {"fetch": 2.0, "split": 1.0}.get(stage, 57.0)
    )
    stage_times.main([])
    assert ran == ["fetch", "split", "fine_tune"], "dvc.yaml's order"
    table = Path("metrics/stage_times.md").read_text()
    assert table.index("| fine_tune | 57 | 95% |") < table.index("| fetch | 2 | 3% |") < table.index("| split | 1 | 2% |")
    assert "All 3 stages: 1.0 min." in table
    assert json.loads(Path("metrics/stage_times.json").read_text())["total_seconds"] == 60.0
    with pytest.raises(UserError, match="no stage trian in dvc.yaml; stages: fetch, split, fine_tune"):
        stage_times.main(["trian"])
