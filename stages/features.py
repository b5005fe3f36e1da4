"""Stage features: run the frozen backbone once over every image and augmented copy, and cache the results.

The cache also records where fine-tuning starts (the cut, from finetune.unfreeze_from) and what its
early stopping watches (finetune.validation: the validation originals, or those and the same images
under finetune.validation_perturbations), so those decisions are made here once and fine_tune reads
them rather than working them out again.
"""

import json
import time
from pathlib import Path

import keras

from steel_defect.atomic import write_npz
from steel_defect.dataset import read_spec
from steel_defect.errors import run_stage
from steel_defect.features import extract, image_table, with_perturbed_validation
from steel_defect.params import choice, integer, load_params, unfreeze_setting
from steel_defect.perturb import perturbation_table

VALIDATION = ["clean", "perturbed"]

OUT = Path("data/features.npz")


def main() -> None:
    params = load_params()
    start = time.time()
    backbone = keras.models.load_model("models/backbone/backbone.keras")
    table = image_table("data/split.csv", "data/augmented", "data/raw")
    family = perturbation_table(params, "finetune.validation_perturbations")  # read (and checked) either way
    if choice(params, "finetune.validation", VALIDATION) == "perturbed":
        table = with_perturbed_validation(table, family)
    batch_size, seed = integer(params, "features.batch_size", minimum=1), integer(params, "augment.seed", minimum=0)
    arrays = extract(backbone, unfreeze_setting(params), table, read_spec(), batch_size, seed=seed)
    write_npz(
        OUT,
        {
            "path": table["path"].to_numpy(str),
            "class": table["class"].to_numpy(str),
            "subset": table["subset"].to_numpy(str),
            **({"perturbation": table["perturbation"].to_numpy(str)} if "perturbation" in table else {}),
            **arrays,
        },
    )
    info = json.loads(Path("models/backbone/backbone.json").read_text())
    shapes = ", ".join(f"{k} {v.shape[1:]}" for k, v in arrays.items() if k != "cut_names")
    print(
        f"features: {info['backbone']} ({info['weights']}): {len(table)} images -> {OUT} [{shapes}], "
        f"cut at {', '.join(arrays['cut_names'])} in {time.time() - start:.0f}s"
    )


if __name__ == "__main__":
    run_stage(main)
