"""`make report` (steel_defect/report.py) on a tiny two-commit DVC repository.

The tiny stage writes a metric, a line plot (TSV) and an image plot from one param; changing the
param must show up in all three sections of the report, and an unchanged plot must not.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from steel_defect import report
from steel_defect.errors import UserError

TRAIN = """
import json, yaml
from PIL import Image
lr = yaml.safe_load(open("params.yaml"))["train"]["lr"]
json.dump({"acc": round(1 - lr, 3)}, open("metrics.json", "w"))
open("curve.tsv", "w").write("step\\tloss\\n" + "".join(f"{s}\\t{lr / (s + 1)}\\n" for s in range(5)))
open("fixed.tsv", "w").write("step\\tvalue\\n0\\t1\\n1\\t2\\n")
Image.new("RGB", (40, 30), (int(255 * lr), 80, 80)).save("picture.png")
"""
DVC_YAML = f"""
stages:
  train:
    cmd: {sys.executable} train.py
    deps: [train.py]
    params: [train.lr]
    metrics: [metrics.json: {{cache: false}}]
    plots: [curve.tsv: {{cache: false}}, fixed.tsv: {{cache: false}}, picture.png: {{cache: false}}]
"""


def sh(repo: Path, *args: str) -> None:
    subprocess.run(args, cwd=repo, check=True, capture_output=True, text=True)


@pytest.fixture
def two_commits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """main: lr 0.1, reproduced and committed; the workspace: lr 0.5, reproduced, not committed."""
    monkeypatch.setenv("PATH", f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("DVC_NO_ANALYTICS", "1")
    for who in ("AUTHOR", "COMMITTER"):
        monkeypatch.setenv(f"GIT_{who}_NAME", "test")
        monkeypatch.setenv(f"GIT_{who}_EMAIL", "t@example.org")
    repo = tmp_path / "tiny"
    repo.mkdir()
    (repo / "train.py").write_text(TRAIN)
    (repo / "dvc.yaml").write_text(DVC_YAML)
    (repo / "params.yaml").write_text("train:\n  lr: 0.1\n")
    sh(repo, "git", "init", "-q", "-b", "main")
    sh(repo, "dvc", "init", "-q")
    sh(repo, "dvc", "repro", "-q")
    sh(repo, "git", "add", "-A")
    sh(repo, "git", "commit", "-qm", "lr 0.1")
    (repo / "params.yaml").write_text("train:\n  lr: 0.5\n")
    sh(repo, "dvc", "repro", "-q")
    monkeypatch.chdir(repo)
    return repo


def test_report_shows_the_changed_param_metric_and_plots(two_commits: Path):
    before = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout
    report.main(["--rev", "main", "--out", "report"])
    text = (two_commits / "report/report.md").read_text()
    params, rest = text.split("### Metrics")
    metrics, plots = rest.split("### Plots")
    assert "train.lr" in params and "0.1" in params and "0.5" in params
    assert "acc" in metrics and "0.9" in metrics and "0.5" in metrics
    assert "#### curve.tsv" in plots and "#### picture.png" in plots
    assert "fixed.tsv" not in plots, "a plot whose data did not change is left out"
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", plots)
    assert len(images) == 3, "curve.tsv rendered once (both revisions overlaid), picture.png old and new"
    assert all((two_commits / "report" / image).stat().st_size > 0 for image in images)
    red = {image: Image.open(two_commits / "report" / image).getpixel((0, 0))[0] for image in images if "picture" in image}
    assert red == {"picture_png-main.png": int(255 * 0.1), "picture_png-workspace.png": int(255 * 0.5)}, (
        "old and new, each its own"
    )
    assert "| main | workspace |" in plots, "an image plot is shown old | new"
    after = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True).stdout
    assert after == before + "?? report/\n", "the report changes nothing but its own folder"


def test_report_refuses_to_clear_a_folder_it_did_not_write(two_commits: Path):
    (two_commits / "notes").mkdir()
    (two_commits / "notes" / "mine.txt").write_text("keep me")
    with pytest.raises(UserError, match=r"notes/ holds files this command did not write \(mine.txt\)"):
        report.main(["--out", "notes"])
    assert (two_commits / "notes" / "mine.txt").read_text() == "keep me"
