"""Stage features: run the frozen backbone once over every image and augmented copy, and cache the results."""

import json
import time
from pathlib import Path

import keras
import numpy as np

from steel_defect.atomic import atomic_file
from steel_defect.errors import run_stage
from steel_defect.features import extract, image_table
from steel_defect.model import unfreeze_setting
from steel_defect.params import integer, load_params

OUT = Path("data/features.npz")


def main() -> None:
    params = load_params()
    start = time.time()
    backbone = keras.models.load_model("models/backbone/backbone.keras")
    table = image_table("data/split.csv", "data/augmented", "data/raw")
    arrays = extract(backbone, unfreeze_setting(params), table, integer(params, "train.batch_size", minimum=1))
    with atomic_file(OUT) as tmp:
        np.savez(
            tmp,
            path=table["path"].to_numpy(str),
            **{"class": table["class"].to_numpy(str)},
            subset=table["subset"].to_numpy(str),
            **arrays,
        )
    info = json.loads(Path("models/backbone/backbone.json").read_text())
    shapes = ", ".join(f"{k} {v.shape[1:]}" for k, v in arrays.items())
    print(
        f"features: {info['backbone']} ({info['weights']}): {len(table)} images -> {OUT} [{shapes}] in {time.time() - start:.0f}s"
    )


if __name__ == "__main__":
    run_stage(main)
