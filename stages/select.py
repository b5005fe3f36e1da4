"""Stage select: score every candidate model on the validation images and deploy the best in models/deployed/.

The model users get is chosen on validation data, never on test (see steel_defect/selection.py for
the rule: the lowest validation log-loss, unless another candidate makes significantly fewer
errors); models/deployed/model.json records the choice, why, the classes, the input it expects,
the backbone and weights, and the commit and params it was trained from (steel_defect/deploy.py reads it).
With select.validation: perturbed each candidate is also scored on the validation images under
finetune.validation_perturbations, seeded by augment.seed as fine_tune's early stopping is.
"""

import json
from pathlib import Path

import numpy as np

from steel_defect.atomic import atomic_dir, save_model, write_json
from steel_defect.dataset import read_spec
from steel_defect.deploy import git_commit, params_sha256
from steel_defect.errors import run_stage
from steel_defect.params import choice, choices_list, integer, load_params, number
from steel_defect.perturb import perturbation_table
from steel_defect.selection import CANDIDATES, VALIDATION, choose, load_candidates, right, score, score_perturbed

OUT = Path("models/deployed")


def main() -> None:
    params = load_params()
    spec = read_spec()
    images, y = spec.load_subset("val")
    names = choices_list(params, "select.candidates", CANDIDATES)
    perturbed = choice(params, "select.validation", VALIDATION) == "perturbed"
    family = perturbation_table(params, "finetune.validation_perturbations")  # read (and checked) either way
    batch_size = integer(params, "features.batch_size", minimum=1)
    seed = integer(params, "augment.seed", minimum=0)
    significance = number(params, "select.significance", 0, 1, open_low=True)
    candidates = load_candidates(names)
    probs = {name: model.predict(images, batch_size=batch_size, verbose=0) for name, model in candidates.items()}
    scores = {name: score(y, p) for name, p in probs.items()}
    correct = {name: right(y, p) for name, p in probs.items()}
    if perturbed:
        extras, perturbed_correct = score_perturbed(candidates, images, y, family, seed, batch_size)
        for name, extra in extras.items():
            scores[name]["perturbed"] = extra
            correct[name] = np.concatenate([correct[name], perturbed_correct[name]])
    chosen, why = choose(scores, len(y), correct, significance)
    for name, s in scores.items():
        errors = f"{s['errors']} errors in {len(y)}"
        if "perturbed" in s:
            errors += f"; perturbed {s['perturbed']['errors']} in {s['perturbed']['images']}"
        print(f"select: {name:10s} validation accuracy {s['accuracy']:.4f} ({errors}), log-loss {s['loss']:.2e}")
    backbone = json.loads(Path("models/backbone/backbone.json").read_text())
    with atomic_dir(OUT) as tmp:
        save_model(candidates[chosen], tmp / "model.keras")
        write_json(
            tmp / "model.json",
            {
                "chosen": chosen,
                "why": why,
                "classes": spec.classes,
                "input": f"{spec.color} images, 0..255, loaded at {spec.size[0]}x{spec.size[1]} (resized if not)",
                "channels": spec.channels,
                "color": spec.color,
                "input_size": list(spec.size),
                "backbone": backbone["backbone"],
                "weights": backbone["weights"],
                "backbone_image_size": backbone["image_size"],
                "params": int(candidates[chosen].count_params()),
                "commit": git_commit(),
                "params_sha256": params_sha256(),
            },
        )
    write_json("metrics/select.json", {"chosen": chosen, "why": why, "val_images": len(y), "candidates": scores})
    print(f"select: deployed {chosen} -> {OUT}/model.keras ({why})")


if __name__ == "__main__":
    run_stage(main)
