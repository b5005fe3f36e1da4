"""The tiny DVC project (tests/dvc_project.py) run again stage by stage in one process: identical outputs, only
declared params read. Its own file, so that it runs on the other test worker while test_dvc_repro.py kills and
clones its copy of the project.
"""

from __future__ import annotations

import importlib
import json
import shutil
from pathlib import Path

import keras
import pytest

from steel_defect import params as params_module
from tests.dvc_project import locked_hashes, run
from tests.test_dvc_wiring import STAGES, check_params_read

# Timings differ from run to run by nature: the benchmark's files and compare's, which show them.
TIMED = {"metrics/benchmark.json", "metrics/benchmark.md", "metrics/compare.md", "plots/compare.png", "metrics/headline.md"}


def test_a_rerun_in_one_process_writes_identical_outputs_and_reads_only_declared_params(
    reproduced: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Every stage's main(), run again one after another in this one process on a copy of the project,
    rewrites each output byte for byte as DVC's fresh processes wrote it (each stage seeds all it draws),
    and reads exactly the params dvc.yaml lists for it. Each stage starts with a fresh Keras session, as
    each of DVC's processes does: Keras numbers the names of layers and optimizers per session, and the
    saved models carry those names (other tests in this worker process have built models before)."""
    copy = tmp_path / "copy"
    shutil.copytree(reproduced, copy, symlinks=True)
    monkeypatch.chdir(copy)
    for name in STAGES:
        params_module.READ.clear()
        keras.utils.clear_session()
        importlib.import_module(f"stages.{name}").main()
        check_params_read(name, set(params_module.READ))

    def changed() -> set[str]:
        status = json.loads(run(["dvc", "status", "--json"], copy).stdout)
        return {path for entries in status.values() for e in entries if isinstance(e, dict) for path in e.get("changed outs", {})}

    assert TIMED <= set(locked_hashes(reproduced)), "the timed outputs are still outputs"
    assert changed() <= TIMED, f"a rerun changed {sorted(changed() - TIMED)}"
    with open("data/split.csv", "a") as f:
        f.write("\n")
    assert "data/split.csv" in changed(), "dvc status sees a one-byte change"
    outputs = sum(len(stage.get(kind, [])) for stage in STAGES.values() for kind in ("outs", "metrics", "plots"))
    assert len(locked_hashes(reproduced)) == outputs, "dvc status compares every output"
