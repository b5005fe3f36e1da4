"""Gather robustness over split seeds into metrics/robust_seeds.json and .md (the robustness goals are means over seeds).

Run the other seeds with DVC's queue first, through robustness (and evaluate, for tools.seeds;
see docs/results.md, "Robustness on the line"); the workspace's run is one seed:

    for s in 1 2 3 4; do dvc exp run --queue -n robust-seed-$s evaluate robustness -S split.seed=$s \\
        -S data.source=$(realpath ../shared/data/NEU-CLS); done
    dvc queue start --jobs 1
    python -m tools.robust_seeds      # --replace: overwrite a file that holds more runs than now match
                                           # --reference REV: match against that commit or experiment instead
                                           # --name NAME: write docs/experiments/robust_seeds-NAME.* (another setting's seeds)
                                           # --also REV: runs of that commit's pipeline count too, if its
                                           #   setting is the same (new seeds on newer code; repeatable)
                                           # --keep: the runs already in the file count too (their
                                           #   experiments lost with a machine; same setting only)

Reads `dvc exp show --json -A` and never touches the workspace, so uncommitted work is safe.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from steel_defect.errors import UserError, run_stage
from steel_defect.robust_seeds import collect, markdown
from steel_defect.robustness import GOAL_CLEAN, GOAL_EACH, GOAL_WORST
from tools.seeds import gather, publish, round_args, runs_in


def main() -> None:
    args, command = round_args(__doc__, "tools.robust_seeds", also=True)
    stem = f"docs/experiments/robust_seeds-{args.name}" if args.name else "metrics/robust_seeds"
    out, table_md = f"{stem}.json", f"{stem}.md"
    kept = None
    if args.keep:
        try:
            kept = json.loads(Path(out).read_text())
        except (OSError, ValueError) as err:
            raise UserError(f"{out}: --keep needs the table written before, readable as JSON ({err})") from err
    table, _ = gather(collect, "robustness", args.reference, args.also, kept, machines=True)
    if not table["strategies"]:
        raise UserError("no run matches the workspace's pipeline through robustness; run `dvc repro` and queue the seeds")
    text = markdown(table, GOAL_EACH, GOAL_WORST, GOAL_CLEAN, command)
    publish(out, table, table_md, text, runs_in, args.replace)
    for strategy, result in table["strategies"].items():
        worst, clean = result["worst_moderate_accuracy"], result["clean_accuracy"]
        print(
            f"{strategy}: seeds {result['seeds']}: clean {100 * clean['mean']:.2f}%, "
            f"worst moderate {100 * worst['mean']:.2f}% (mean over seeds)"
        )
    print(f"-> {out}, {table_md}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
