"""What the deployed model gets wrong under the perturbations that miss issue 10's 99% goal.

    python -m experiments.robust_errors     # -> docs/experiments/robust_errors.json and .md (about 10 s per perturbation)
    python -m experiments.robust_errors --run prob5-s3 --run prob5-s4 --setting 'brightness 0.2' --name bright
                                           # those runs, checked out beside the workspace -> robust_errors-bright.*

Reads each run's metrics/robustness.json for the perturbations below the goal and their worst
moderate strengths (or takes the --setting given), perturbs the test images exactly as the
robustness stage does (robustness.seed), and lists each error as true -> predicted class, with the
share of the misread images' pixels that the perturbation left at 0 or 255: whether the picture
was lost (most of it clipped) or misread (little clipped). Run it after `dvc repro robustness`.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import shlex
import sys
from collections.abc import Iterator
from pathlib import Path

from experiments.int8_robust import checkout
from experiments.lib.robust_errors import below_goal, markdown, parse_chain, saturated_ranges
from steel_defect.atomic import atomic_file, write_json
from steel_defect.dataset import read_spec
from steel_defect.deploy import load_runner
from steel_defect.errors import UserError, run_stage
from steel_defect.metrics import confusions
from steel_defect.params import integer, load_params
from steel_defect.perturb import perturb
from steel_defect.robust_seeds import DEPLOYED as DEPLOYED_SCORES
from steel_defect.robust_seeds import entry
from steel_defect.robustness import GOAL_EACH

ROBUSTNESS, DEPLOYED = Path("metrics/robustness.json"), Path("models/deployed/model.keras")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--run", action="append", default=[], help="a commit or experiment to read (repeatable)")
    parser.add_argument(
        "--setting", action="append", default=[], help="'name value' to list (repeatable; default: those below the goal)"
    )
    parser.add_argument("--name", help="write docs/experiments/robust_errors-NAME.* instead of docs/experiments/robust_errors.*")
    args = parser.parse_args(argv)
    for setting in args.setting:
        if len(steps := parse_chain(setting)) != 1 or steps[0][1] is None:  # a mistyped setting stops before any model loads
            raise UserError(f"--setting {setting!r}: give one 'name value', such as 'brightness 0.2'")
    return args


@contextlib.contextmanager
def folder(run: str | None) -> Iterator[str]:
    """The workspace (run None), or `run` checked out beside it; yields the label its rows carry."""
    if run is None:
        yield "workspace"
        return
    with checkout(run) as (work, _commit, label), contextlib.chdir(work):
        yield label


def errors_of(label: str, settings: list[tuple[str, float]]) -> list[dict]:
    """Rows for the deployed model in the current folder: each setting's errors, their classes and clipping."""
    if not ROBUSTNESS.exists() or not DEPLOYED.exists():
        raise UserError(f"{label}: {ROBUSTNESS} or {DEPLOYED} is missing; run `dvc repro robustness` first")
    params = load_params()
    seed, batch = integer(params, "robustness.seed", minimum=0), integer(params, "robustness.batch_size", minimum=1)
    robustness = json.loads(ROBUSTNESS.read_text())
    scored = entry(robustness, DEPLOYED_SCORES)
    measured = {(s["perturbation"], float(s["value"])): s["accuracy"] for s in robustness[scored].get("settings", [])}
    todo = settings or [(name, value) for name, value, _ in below_goal(robustness, scored, GOAL_EACH)]
    spec = read_spec()
    images, y = spec.load_subset("test")
    predict = load_runner(DEPLOYED, batch_size=batch).predict
    rows = []
    for name, value in todo:
        x = perturb(images, name, value, seed)
        predicted = predict(x).argmax(1)
        errors = int((predicted != y).sum())
        accuracy = measured.get((name, value))
        if accuracy is not None and abs((1 - errors / len(y)) - accuracy) > 1e-9:
            raise UserError(
                f"{label}, {name} {value:g}: {errors} errors here, but {ROBUSTNESS} says {accuracy:.4f}; "
                "rerun `dvc repro robustness`"
            )
        rows.append(
            {
                "run": label,
                "perturbation": name,
                "value": value,
                "errors": errors,
                "test_images": len(y),
                "confusions": confusions(y, predicted, spec.classes),
                "saturated": saturated_ranges(x, y, predicted, spec.classes),
            }
        )
        print(f"robust_errors: {label}, {name} {value:g}: {errors} errors", file=sys.stderr, flush=True)
    return rows


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    settings = [(name, float(value)) for name, value in (parse_chain(s)[0] for s in args.setting)]
    rows = []
    for run in args.run or [None]:
        with folder(run) as label:
            rows += errors_of(label, settings)
    stem = f"docs/experiments/robust_errors-{args.name}" if args.name else "docs/experiments/robust_errors"
    command = shlex.join(
        ["python", "-m", "tools.robust_errors"]
        + [f for run in args.run for f in ("--run", run)]
        + [f for s in args.setting for f in ("--setting", s)]
        + (["--name", args.name] if args.name else [])
    )
    test_images = sorted({r["test_images"] for r in rows}) or [0]
    write_json(f"{stem}.json", {"test_images": test_images[0], "goal": GOAL_EACH, "perturbations": rows})
    with atomic_file(f"{stem}.md") as tmp:
        tmp.write_text(markdown(rows, test_images[0], GOAL_EACH, command, chosen=bool(settings)))
    print(f"-> {stem}.json, {stem}.md", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
