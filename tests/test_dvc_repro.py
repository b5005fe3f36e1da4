"""Real `dvc repro` on a tiny copy of this project: identical reruns, and training stages killed part-way.

The copy uses this repository's own dvc.yaml, stages/ and steel_defect/, the tiny synthetic dataset
and the tiny model params, so it exercises the same wiring a user's `dvc repro` does.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest
import yaml

from tests.conftest import PARAMS, TINY, set_param, write_dataset

ROOT = Path(__file__).resolve().parent.parent
ENV = {
    **os.environ,
    "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
    "DVC_NO_ANALYTICS": "1",
    "PYTHONUNBUFFERED": "1",  # so the test sees each epoch line as it is printed
    **{
        f"GIT_{who}_{what}": value
        for who in ("AUTHOR", "COMMITTER")
        for what, value in (("NAME", "test"), ("EMAIL", "t@example.org"))
    },
}


def run(args: list[str], cwd: Path, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=900)
    assert not check or result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
    return result


def locked_hashes(repo: Path) -> dict[str, str]:
    """Output path -> md5 for every output in dvc.lock (files, folders, metrics, plots)."""
    lock = yaml.safe_load((repo / "dvc.lock").read_text())
    return {out["path"]: out["md5"] for stage in lock["stages"].values() for out in stage.get("outs", [])}


def stage_processes(dvc_pid: int) -> list[psutil.Process]:
    """The Python process running `python -m stages.train_head` under this `dvc repro`.

    DVC starts a stage with `$SHELL -c CMD`; where SHELL is unset (CI) that is `/bin/sh -c`, and
    Debian's dash stays as the parent. The signal must reach Python itself: killing only the shell
    would leave Python training on as an orphan that writes its model after DVC has given up.
    """
    return [p for p in psutil.Process(dvc_pid).children(recursive=True) if "stages.train_head" in p.cmdline()]


def leftovers(repo: Path) -> list[Path]:
    return [p for folder in ("data", "models", "metrics", "plots") for p in (repo / folder).rglob(".*.tmp-*")]


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A git + DVC project with the real pipeline and tiny params, reproduced once."""
    repo = tmp_path_factory.mktemp("dvc-project")
    for folder in ("stages", "steel_defect", "data/NEU-CLS"):  # code, and NEU-CLS's listing (a dependency of fetch)
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copyfile(ROOT / "params.yaml", repo / "params.yaml")
    # inputs of compare, committed as in a clone
    for committed in ("data/literature.csv", "metrics/seeds.json", "metrics/robust_seeds.json"):
        (repo / committed).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / committed, repo / committed)
    for key, value in {**PARAMS, **TINY}.items():
        set_param(repo, key, value)
    # the export kinds a user's run makes; the other kinds and the curve's repeats have stage tests of their own
    set_param(repo, "export.kinds", ["float32", "float16"])
    set_param(repo, "curve.quick.repeats", 1)
    write_dataset(repo / "source")
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny project"], repo)  # dvclive reads the baseline commit, as in any clone
    run(["dvc", "repro"], repo)
    return repo


# Timings differ from run to run by nature: the benchmark's files and compare's, which show them.
TIMED = {"metrics/benchmark.json", "metrics/benchmark.md", "metrics/compare.md", "plots/compare.png", "metrics/headline.md"}


def test_rerun_gives_byte_identical_outputs(repo: Path):
    first = locked_hashes(repo)
    run(["dvc", "repro", "-f"], repo)
    second = locked_hashes(repo)
    assert TIMED <= set(first), "the timed outputs are still outputs"
    differ = {k: (first[k], second.get(k)) for k in first if first[k] != second.get(k) and k not in TIMED}
    assert not differ, differ
    declared = yaml.safe_load((repo / "dvc.yaml").read_text())["stages"]
    outputs = sum(len(stage.get(kind, [])) for stage in declared.values() for kind in ("outs", "metrics", "plots"))
    assert len(first) == outputs, "every output is compared"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_training_stage_killed_part_way_leaves_no_partial_output_and_repro_completes(repo: Path, sig: signal.Signals):
    head_before = (repo / "models/head.keras").read_bytes()
    set_param(repo, "train.epochs", 500)
    set_param(repo, "train.patience", 500)
    dvc = subprocess.Popen(["dvc", "repro"], cwd=repo, env=ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output, deadline = [], time.time() + 300
    for line in dvc.stdout:
        output.append(line)
        if line.startswith("Epoch 3/500") or time.time() > deadline:
            break
    stage = stage_processes(dvc.pid)
    assert len(stage) == 1, "train_head was not running:\n" + "".join(output[-30:])
    stage[0].send_signal(sig)
    rest, _ = dvc.communicate(timeout=120)
    assert dvc.returncode != 0
    assert not stage[0].is_running(), "the stage itself stopped (not only the shell DVC started it with)"
    head = repo / "models/head.keras"
    assert not head.exists() or head.read_bytes() == head_before, "a killed stage never leaves a half-written model"
    if sig == signal.SIGTERM:
        assert "interrupted: no output was written" in rest
        assert not leftovers(repo), "SIGTERM runs the cleanup"
    set_param(repo, "train.epochs", TINY["train"]["epochs"])
    set_param(repo, "train.patience", TINY["train"]["patience"])
    run(["dvc", "repro"], repo)
    assert "up to date" in run(["dvc", "status"], repo).stdout
    assert not leftovers(repo), "the next run removes what a SIGKILL left"
    assert head.read_bytes() == head_before, "the rerun reproduces the same model, byte for byte"


def test_a_fresh_clone_pulls_data_and_models_from_a_remote_and_has_nothing_to_rerun(repo: Path, tmp_path: Path):
    """The user's own storage as a DVC remote (here a local folder): push once, then any clone pulls instead of retraining."""
    run(["dvc", "remote", "add", "-d", "-f", "store", str(tmp_path / "remote")], repo)
    run(["dvc", "push"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "results and remote"], repo)
    clone = tmp_path / "clone"
    run(["git", "clone", "-q", str(repo), str(clone)], tmp_path)
    assert not (clone / "models" / "deployed").exists(), "git alone does not carry the models"
    run(["dvc", "pull"], clone)
    assert "up to date" in run(["dvc", "status"], clone).stdout
    assert "Running stage" not in run(["dvc", "repro"], clone).stdout, "nothing to rerun after a pull"
    photos = sorted((clone / "source" / "crazing").iterdir())[:3]
    result = run([sys.executable, "-m", "steel_defect.cli", "predict", *map(str, photos), "--out", "p.csv", "--quiet"], clone)
    assert "3 images classified, 0 failed" in result.stdout
