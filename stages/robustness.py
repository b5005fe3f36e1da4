"""Stage robustness: the deployed model, in the forms `robustness.models` names, on the test subset under perturbations.

A camera over a strip mill sees dust, vapour, droplets, vibration and changing light. Each
perturbation in `robustness.perturbations` (steel_defect/perturb.py) is applied at each listed
strength to every test image, seeded, and each model is scored. The default scores the deployed
model through its float32 LiteRT export, about twice as fast as Keras on 2 cores: the export stage
checks that its predictions match Keras's on the test images and records the agreement, which this
stage repeats in its output (`deployed`). Writes:
- metrics/robustness.json (a DVC metric): per model, clean accuracy, the worst case over the
  moderate strengths in `robustness.moderate`, the worst case overall, and every setting; the
  families `robustness.held_out` keeps out of training (the augment stage refuses to train on
  them) are summarised apart, as the honest measure of what the model was never shown, and
  `families` says which families the augmented copies carry (trained), do not (not_trained),
  or must not (held_out);
- metrics/robustness.md, the table docs/results.md shows;
- plots/robustness.csv, the DVC plot: worst moderate accuracy per perturbation;
- plots/robustness.png (accuracy against strength) and plots/robustness_examples.png (one test
  image under every setting, so a person sees what each strength means).
"""

import json
from pathlib import Path

import numpy as np
import pandas as pd

from steel_defect.atomic import atomic_file, write_json
from steel_defect.augmentation import held_out_params, photometric_params, trained_families
from steel_defect.dataset import read_spec
from steel_defect.deploy import load_runner
from steel_defect.errors import UserError, run_stage
from steel_defect.params import get, integer, load_params, strings
from steel_defect.perturb import perturb, perturbation_table, strength
from steel_defect.robustness import contact_sheet, curves_figure, markdown, settings, summarise

DEPLOYED, EXPORT, EXPORT_METRICS = Path("models/deployed/model.keras"), Path("models/export"), Path("metrics/export.json")
OUT, TABLE, PLOT = Path("metrics/robustness.json"), Path("metrics/robustness.md"), Path("plots/robustness.csv")


def perturbation_params(params: dict) -> tuple[dict[str, list[float]], dict[str, float]]:
    """robustness.perturbations (name -> strengths) and robustness.moderate (name -> bound), checked."""
    table, bounds = perturbation_table(params, "robustness.perturbations"), get(params, "robustness.moderate")
    if not isinstance(bounds, dict) or set(bounds) != set(table) or not all(isinstance(v, (int, float)) for v in bounds.values()):
        raise UserError("params.yaml: 'robustness.moderate' must give a number (largest moderate strength) for each perturbation")
    return table, {k: float(v) for k, v in bounds.items()}


def deployed(name: str) -> dict:
    """Which entry scores the deployed model and, for an export, how often it agreed with Keras on the clean test images."""
    if name == "keras":
        return {"model": name}
    return {"model": name, "agrees_with_keras": json.loads(EXPORT_METRICS.read_text())[name]["agrees_with_keras"]}


def main() -> None:
    params = load_params()
    seed = integer(params, "robustness.seed", minimum=0)
    batch = integer(params, "robustness.batch_size", minimum=1)
    threads = integer(params, "export.threads", minimum=1)
    perturbations, moderate = perturbation_params(params)
    held_out = held_out_params(params)
    if missing := [n for n in held_out if n not in perturbations]:
        raise UserError(f"params.yaml: 'robustness.held_out' lists {', '.join(missing)}; add it to robustness.perturbations")
    rotations = get(params, "augment.rotations")
    trained = trained_families(photometric_params(params), rotations, bool(get(params, "augment.horizontal_flip")))
    exported = json.loads((EXPORT / "model.json").read_text())
    names = strings(params, "robustness.models")
    unknown = [n for n in names if n != "keras" and n not in exported["formats"]]
    if not names or unknown or len(set(names)) != len(names):
        raise UserError(
            f"params.yaml: 'robustness.models' is {names}; list each once, from keras and the kinds export wrote "
            f"({', '.join(exported['formats'])})"
        )
    images, y = read_spec().load_subset("test")
    models = {
        name: load_runner(DEPLOYED if name == "keras" else EXPORT / exported["formats"][name], threads, batch).predict
        for name in names
    }

    def accuracy(predict, x: np.ndarray) -> float:
        return float((predict(x).argmax(1) == y).mean())

    clean = {name: accuracy(predict, images) for name, predict in models.items()}
    rows: dict[str, list[dict]] = {name: [] for name in models}
    for name, value in settings(perturbations):
        perturbed = perturb(images, name, value, seed)
        scores = {model: accuracy(predict, perturbed) for model, predict in models.items()}
        for model, acc in scores.items():
            rows[model].append({"perturbation": name, "value": value, "strength": strength(name, value), "accuracy": acc})
        print(f"robustness: {name} {value:g}: " + ", ".join(f"{m} {a:.4f}" for m, a in scores.items()), flush=True)

    results = {model: summarise(clean[model], rows[model], moderate, held_out) for model in models}
    families = {
        "trained": [n for n in perturbations if n in trained and n not in held_out],
        "not_trained": [n for n in perturbations if n not in trained and n not in held_out],
        "held_out": held_out,
    }
    write_json(OUT, {"test_images": len(y), "seed": seed, "deployed": deployed(names[0]), "families": families, **results})
    first = results[names[0]]["moderate"]  # the plot's x: the first model's accuracy, then every model's by name
    worst = pd.DataFrame(
        [
            {"perturbation": p, "accuracy": first[p]["accuracy"], **{m: results[m]["moderate"][p]["accuracy"] for m in models}}
            for p in first
        ]
    )
    with atomic_file(PLOT) as tmp:
        worst.to_csv(tmp, index=False, float_format="%.6f")
    with atomic_file(TABLE) as tmp:
        tmp.write_text(markdown(results, len(y), families))
    curves_figure("plots/robustness.png", results, perturbations, moderate, held_out)
    contact_sheet("plots/robustness_examples.png", images[0], perturbations, seed)
    for model, r in results.items():
        print(
            f"robustness: {model}: clean {r['clean_accuracy']:.4f}; worst moderate {r['worst_moderate_accuracy']:.4f} "
            f"({r['worst_moderate']}); worst {r['worst_accuracy']:.4f} ({r['worst']})"
        )


if __name__ == "__main__":
    run_stage(main)
