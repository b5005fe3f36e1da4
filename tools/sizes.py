"""Gather the input-size experiments into metrics/sizes.json, metrics/sizes.md and plots/sizes.png.

Run the sizes with DVC's queue first (see docs/results.md, "Input size"):

    dvc exp run --queue -n size-160 -S model.image_size=160 -S data.source=$(realpath ../shared/data/NEU-CLS)
    (and 128, 96, ...)
    dvc queue start --jobs 1      # one at a time: each run's benchmark stage times its models
    python -m tools.sizes      # --replace: overwrite a file that holds more sizes than now match

The workspace's run is the reference (its size is one point). Reads `dvc exp show --json -A` and
never touches the workspace, so uncommitted work is safe.
"""

from __future__ import annotations

import sys

from steel_defect.errors import UserError, run_stage
from steel_defect.sizes import collect, figure, markdown
from tools.seeds import gather, publish, replace_flag

OUT, TABLE, FIGURE = "metrics/sizes.json", "metrics/sizes.md", "plots/sizes.png"
GOAL_MS, GOAL_ACCURACY = 0.8, 0.997  # issue 9: best exported model at batch 1, with test accuracy at least this


def main() -> None:
    args = replace_flag(__doc__).parse_args()
    table, _ = gather(collect, "benchmark")
    if len(table["sizes"]) < 2:
        raise UserError("no experiment at another input size matches the workspace's pipeline; queue them (see tools/sizes.py)")
    publish(OUT, table, TABLE, markdown(table), lambda t: len(t["sizes"]), args.replace)
    figure(table, FIGURE, goal_ms=GOAL_MS, goal_accuracy=GOAL_ACCURACY)
    for s in table["sizes"]:
        speeds = ", ".join(f"{k} {m['ms_batch1_median']:.2f} ms" for k, m in s["models"].items())
        print(f"{s['image_size']} px ({s['run']}): {s['errors']} test errors in {s['test_images']}; {speeds}")
    print(f"-> {OUT}, {TABLE}, {FIGURE}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
