"""What the deployed model gets wrong under the perturbations that miss issue 10's 99% goal.

    python -m benchmarks.robust_errors     # -> metrics/robust_errors.json and .md (about 10 s per perturbation)

Reads metrics/robustness.json for the perturbations below the goal and their worst moderate
strengths, perturbs the test images exactly as the robustness stage does (robustness.seed), and
lists each error as true -> predicted class. Run it after `dvc repro robustness`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from benchmarks.photometric import GOAL_EACH
from steel_defect.atomic import atomic_file, write_json
from steel_defect.dataset import read_spec
from steel_defect.deploy import load_runner
from steel_defect.errors import UserError, run_stage
from steel_defect.params import integer, load_params
from steel_defect.perturb import perturb
from steel_defect.robust_errors import below_goal, confusions, markdown

ROBUSTNESS, DEPLOYED = Path("metrics/robustness.json"), Path("models/deployed/model.keras")
OUT, TABLE = "metrics/robust_errors.json", "metrics/robust_errors.md"


def main() -> None:
    if not ROBUSTNESS.exists() or not DEPLOYED.exists():
        raise UserError(f"{ROBUSTNESS} or {DEPLOYED} is missing; run `dvc repro robustness` first")
    params = load_params()
    seed, batch = integer(params, "robustness.seed", minimum=0), integer(params, "robustness.batch_size", minimum=1)
    spec = read_spec()
    images, y = spec.load_subset("test")
    predict = load_runner(DEPLOYED, batch_size=batch).predict
    rows = []
    for name, value, accuracy in below_goal(json.loads(ROBUSTNESS.read_text()), "keras", GOAL_EACH):
        predicted = predict(perturb(images, name, value, seed)).argmax(1)
        errors = int((predicted != y).sum())
        if abs((1 - errors / len(y)) - accuracy) > 1e-9:
            raise UserError(
                f"{name} {value:g}: {errors} errors here, but {ROBUSTNESS} says {accuracy:.4f}; rerun `dvc repro robustness`"
            )
        rows.append(
            {"perturbation": name, "value": value, "errors": errors, "confusions": confusions(y, predicted, spec.classes)}
        )
        print(f"robust_errors: {name} {value:g}: {errors} errors", file=sys.stderr, flush=True)
    write_json(OUT, {"test_images": len(y), "goal": GOAL_EACH, "perturbations": rows})
    with atomic_file(TABLE) as tmp:
        tmp.write_text(markdown(rows, len(y), GOAL_EACH, "python -m benchmarks.robust_errors"))
    print(f"-> {OUT}, {TABLE}", file=sys.stderr)


if __name__ == "__main__":
    run_stage(main)
