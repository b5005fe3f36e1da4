"""Benchmark: the whole pipeline over several split seeds (one test error = 0.28 points, so one seed proves little).

Each seed runs as a DVC experiment in the workspace (`dvc exp run -S split.seed=N`); the table goes to
metrics/seeds.json and the workspace is restored to the committed run afterwards.
Usage: `python -m benchmarks.seed_sweep 1 2 3 4 [--set split.strategy=grouped]`
"""

import argparse
import json
import subprocess
import time
from pathlib import Path

from steel_defect.atomic import write_json

KEYS = ["accuracy", "errors", "head_accuracy", "baseline_accuracy", "f1_macro", "loss"]


def run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("seeds", type=int, nargs="+")
    parser.add_argument("--set", action="append", default=[], help="extra param overrides, e.g. split.strategy=grouped")
    args = parser.parse_args()
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True, check=True).stdout
    if dirty.strip():
        # the restore at the end resets params.yaml, dvc.lock, metrics/ and plots/: never over a user's own edits
        raise SystemExit("error: uncommitted changes in the working tree; commit or stash them before the sweep")
    out = Path("metrics/seeds.json")
    table = json.loads(out.read_text()) if out.exists() else []
    try:
        for seed in args.seeds:
            start = time.time()
            overrides = [f"split.seed={seed}", *args.set]
            run(["dvc", "exp", "run", *[a for o in overrides for a in ("-S", o)]])
            metrics = json.loads(Path("metrics/evaluate/metrics.json").read_text())
            row = {
                "overrides": overrides,
                **{k: metrics[k] for k in KEYS},
                "backbone": metrics["backbone"],
                "weights": metrics["weights"],
                "wall_s": round(time.time() - start),
            }
            table = [r for r in table if r["overrides"] != overrides] + [row]
            print(json.dumps(row), flush=True)
    finally:
        run(["git", "checkout", "--", "params.yaml", "dvc.lock", "metrics", "plots"])
        run(["dvc", "checkout", "--force"])
    write_json(out, table)


if __name__ == "__main__":
    main()
