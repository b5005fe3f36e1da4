"""Gather the photometric-augmentation experiments into docs/experiments/photometric.json, .md and .png.

Run the settings with DVC's queue first, up to the robustness stage (docs/experiments.md, row 1),
for example:

    dvc exp run --queue -n photo-bounds robustness -S augment.noise=10 -S augment.specks=0.01 \\
        -S augment.brightness=0.2 -S augment.gain=0.2 -S augment.contrast=0.3 -S data.source=$(realpath ../shared/data/NEU-CLS)
    dvc queue start --jobs 1
    python -m experiments.photometric        # --reference REV: match against that commit instead of the workspace
                                            # --replace: overwrite a file that holds more settings than now match
                                            # --name NAME: a round of its own, docs/experiments/photometric-NAME.*

Each round compares settings run on one commit's code: a later round (`--name blur`, run after
augment.blur existed) gets files of its own rather than mixing code versions in one table.

Reads `dvc exp show --json -A` and never touches the workspace, so uncommitted work is safe.
"""

from __future__ import annotations

import sys

from experiments.lib.photometric import collect, figure, label, markdown, recommend
from steel_defect.errors import UserError, run_stage
from steel_defect.robustness import GOAL_CLEAN, GOAL_EACH, GOAL_WORST
from tools.seeds import gather, publish, round_args


def main() -> None:
    args, command = round_args(__doc__, "tools.photometric")
    stem = f"photometric-{args.name}" if args.name else "photometric"
    out, table_md, figure_png = f"docs/experiments/{stem}.json", f"docs/experiments/{stem}.md", f"docs/experiments/{stem}.png"
    table, reference = gather(collect, "robustness", args.reference)
    if len(table["settings"]) < 2:
        raise UserError(
            "fewer than two photometric settings match the reference's pipeline; queue them (see experiments/photometric.py)"
        )
    table["reference"] = reference.rev[:7] if reference.rev != "workspace" else "workspace"
    publish(
        out,
        table,
        table_md,
        markdown(table, GOAL_EACH, GOAL_WORST, GOAL_CLEAN, command),
        lambda t: len(t["settings"]),
        args.replace,
    )
    figure(table, figure_png, goal_each=GOAL_EACH)
    for s in table["settings"]:
        print(
            f"{label(s['augment'])} ({s['run']}): {s['errors']} clean errors; worst moderate "
            f"{100 * s['worst_moderate_accuracy']:.1f}% ({s['worst_moderate']})"
        )
    best = recommend(table, GOAL_CLEAN)
    print(f"recommended (params.yaml augment.*): {label(best['augment']) if best else 'none keeps the clean goal'}")
    print(f"-> {out}, {table_md}, {figure_png}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
