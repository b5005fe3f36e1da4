"""The tiny DVC project of tests/test_dvc_repro.py and tests/test_dvc_rerun.py: this repository's own dvc.yaml,
stages/ and steel_defect/ (MobileNetV2 cut to five blocks), a tiny synthetic dataset with a user's traits
(colour, spaces and accents in names, mixed formats and sizes, unequal classes) and the tiny model params,
so it exercises the same wiring a user's `dvc repro` does.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tests.conftest import PARAMS, TINY, set_param, use_tiny_mobilenet, use_user_dataset

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


def build(repo: Path) -> Path:
    """A git + DVC project with the real pipeline, tiny params and a user's dataset at `repo`, reproduced once."""
    repo.mkdir(parents=True)
    for folder in ("stages", "steel_defect", "data/NEU-CLS"):  # code, and NEU-CLS's listing (a dependency of fetch)
        shutil.copytree(ROOT / folder, repo / folder, ignore=shutil.ignore_patterns("__pycache__"))
    use_tiny_mobilenet(repo / "steel_defect")
    shutil.copyfile(ROOT / "dvc.yaml", repo / "dvc.yaml")
    shutil.copyfile(ROOT / "params.yaml", repo / "params.yaml")
    # inputs of compare, committed as in a clone
    for committed in ("data/literature.csv", "metrics/seeds.json", "metrics/robust_seeds.json"):
        (repo / committed).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(ROOT / committed, repo / committed)
    for key, value in {**PARAMS, **TINY}.items():
        set_param(repo, key, value)
    # every export kind, Keras in robustness, the curve's repeats and fine-tuned points: stage tests of their own;
    # here the default's LiteRT float32 and int8 (compare's int8 row)
    set_param(repo, "export.kinds", ["float32", "int8"])
    set_param(repo, "robustness.models", ["float32"])
    set_param(repo, "curve.quick", {**TINY["curve"]["quick"], "repeats": 1, "finetune_at": [], "pseudo_finetune_at": []})
    use_user_dataset(repo)
    run(["git", "init", "-q"], repo)
    run(["dvc", "init", "-q"], repo)
    run(["dvc", "config", "core.analytics", "false"], repo)
    run(["git", "add", "-A"], repo)
    run(["git", "commit", "-qm", "tiny project"], repo)  # dvclive reads the baseline commit, as in any clone
    run(["dvc", "repro"], repo)
    return repo
