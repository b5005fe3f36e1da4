"""Stage weights: resolve model.backbone + model.weights into a saved Keras backbone and a provenance record.

The backbone's input takes the dataset's channel count (data/dataset.json), so grayscale data gets a
1-channel model and colour data a 3-channel one.
"""

from pathlib import Path

import keras

from steel_defect.atomic import atomic_dir, save_model, write_json
from steel_defect.backbones import BACKBONES, NORMALIZE, build_backbone
from steel_defect.dataset import read_spec
from steel_defect.errors import run_stage
from steel_defect.params import choice, get, integer, load_params

OUT = Path("models/backbone")


def main() -> None:
    params = load_params()
    keras.utils.set_random_seed(integer(params, "model.seed", minimum=0))  # for weights: null (random init)
    backbone, info = build_backbone(
        choice(params, "model.backbone", BACKBONES),
        integer(params, "model.image_size", minimum=32),
        get(params, "model.weights"),
        read_spec().channels,
        choice(params, "model.normalize", NORMALIZE),
    )
    with atomic_dir(OUT) as tmp:
        save_model(backbone, tmp / "backbone.keras")
        write_json(tmp / "backbone.json", info)
    print(
        f"weights: {info['backbone']} with {info['weights']} weights, {info['channels']}-channel input, "
        f"{info['backbone_params']:,} parameters -> {OUT}/"
    )


if __name__ == "__main__":
    run_stage(main)
