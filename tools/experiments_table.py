"""Benchmark report: a Markdown table of DVC experiments, straight from `dvc exp show --csv` (never typed).

Usage: `python -m tools.experiments_table PATTERN OUT.md` keeps the experiments whose name
matches the regular expression PATTERN, with the params that vary among them and the test metrics.
"""

from __future__ import annotations

import argparse
import io
import subprocess

import pandas as pd

from steel_defect.atomic import atomic_file
from steel_defect.tables import markdown_table

EVALUATE = "metrics/evaluate/metrics.json"
PARAMS = ["data.source", "data.color", "train.class_weight", "split.val_fraction"]
METRICS = {
    "val_images": "validation images",
    "metrics/evaluate/metrics.json:chosen": "deployed (chosen on validation)",
    "metrics/evaluate/metrics.json:accuracy": "deployed test accuracy",
    "errors": "test errors",
    "test_images": "test images",
    "fine_tuned_accuracy": "fine-tuned",
    "head_accuracy": "head",
    "baseline_accuracy": "baseline",
}


def metric_column(runs: pd.DataFrame, key: str) -> str:
    """`key`'s column; DVC prefixes a metric name with its file once two metrics files share it (test_images)."""
    for name in (key, f"{EVALUATE}:{key}"):
        if name in runs.columns:
            return name
    raise SystemExit(f"error: `dvc exp show` has no column {key!r} (nor {EVALUATE}:{key}); has the metric been renamed?")


def table(pattern: str) -> str:
    csv = subprocess.run(["dvc", "exp", "show", "-A", "--csv", "--no-pager"], capture_output=True, text=True, check=True).stdout
    runs = pd.read_csv(io.StringIO(csv), dtype=str, keep_default_na=False)
    runs = runs[runs["Experiment"].str.contains(pattern, regex=True)].drop_duplicates("Experiment").sort_values("Experiment")
    if runs.empty:
        raise SystemExit(f"error: no experiment name matches {pattern!r}; see `dvc exp show`")
    out = pd.DataFrame({"Experiment": runs["Experiment"], **{p: runs[p] for p in PARAMS}})
    for key, title in METRICS.items():
        out[title] = runs[metric_column(runs, key)]
    for column in ["deployed test accuracy", "fine-tuned", "head", "baseline"]:
        out[column] = out[column].map(lambda v: f"{float(v):.4f}" if v else "")
    return markdown_table(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pattern")
    parser.add_argument("out")
    args = parser.parse_args()
    text = table(args.pattern)
    with atomic_file(args.out) as tmp:
        tmp.write_text(f"<!-- python -m tools.experiments_table '{args.pattern}' {args.out} -->\n" + text)
    print(text)


if __name__ == "__main__":
    main()
