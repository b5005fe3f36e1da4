"""Stage augment: materialise seeded augmented copies of the training images, once, for feature caching."""

from pathlib import Path

import numpy as np
import pandas as pd

from steel_defect.atomic import atomic_dir
from steel_defect.augmentation import augment_images, check_held_out, held_out_params, photometric_params, trained_families
from steel_defect.dataset import read_spec
from steel_defect.errors import UserError, run_stage
from steel_defect.images import write_png
from steel_defect.params import boolean, get, integer, load_params, number
from steel_defect.plots import contact_sheet

OUT = Path("data/augmented")


def own_chance(params: dict, key: str) -> float | None:
    """A change's own chance, checked as a number from 0 to 1; null (None) means augment.probability."""
    return None if get(params, key, None) is None else number(params, key, 0.0, 1.0)


def main() -> None:
    params = load_params()
    copies = integer(params, "augment.copies", minimum=0)
    angles = get(params, "augment.rotations")
    if not isinstance(angles, list) or not all(isinstance(a, (int, float)) and not isinstance(a, bool) for a in angles):
        raise UserError(f"params.yaml: 'augment.rotations' is {angles!r}; expected a list of angles in degrees")
    photometric = photometric_params(params)
    flip = boolean(params, "augment.horizontal_flip")
    # families declared held out of training are measured by the robustness stage as unseen: none may reach a copy
    check_held_out(held_out_params(params), trained_families(photometric, angles, flip))
    probability = number(params, "augment.probability", 0.0, 1.0)
    light_probability = own_chance(params, "augment.light_probability")
    specks_probability = own_chance(params, "augment.specks_probability")
    line_probability = own_chance(params, "augment.line_probability")
    spec = read_spec()
    split = pd.read_csv("data/split.csv", keep_default_na=False)
    train = split[split["subset"] == "train"].reset_index(drop=True)
    light = f", photometric {photometric}" if photometric.any() else ", geometric only"
    if photometric.any() and probability < 1:
        light += f", each change with probability {probability:g}"
    if photometric.any() and light_probability is not None:
        light += f", brightness and contrast with probability {light_probability:g}"
    if photometric.specks and specks_probability is not None:
        light += f", specks with probability {specks_probability:g}"
    if photometric.line_camera() and line_probability is not None:
        light += f", each line-camera change with probability {line_probability:g}"
    print(f"augment: {copies} variant(s) of each of {len(train)} training images ({spec.color}{light})")
    images = spec.load(train["path"].tolist())
    variants = augment_images(
        images,
        copies,
        angles,
        flip,
        shear=number(params, "augment.shear", 0.0, 1.0),
        zoom=number(params, "augment.zoom", 0.0, 0.9),
        seed=integer(params, "augment.seed", minimum=0),
        photometric=photometric,
        probability=probability,
        light_probability=light_probability,
        specks_probability=specks_probability,
        line_probability=line_probability,
    )
    rows = []
    with atomic_dir(OUT) as tmp:
        for i, (path, cls) in enumerate(zip(train["path"], train["class"], strict=True)):
            (tmp / cls).mkdir(exist_ok=True)
            for k in range(copies):
                rel = f"{cls}/{Path(path).name}.aug{k}.png"  # the full name: a.jpg and a.png may both exist
                write_png(tmp / rel, variants[i, k])
                rows.append((rel, path, cls, k))
        pd.DataFrame(rows, columns=["path", "source", "class", "copy"]).to_csv(tmp / "manifest.csv", index=False)
    rng = np.random.default_rng(0)
    shown = [int(rng.choice(np.flatnonzero(train["class"] == c))) for c in sorted(train["class"].unique())]
    if copies:
        title = (
            f"What training sees: one image per class and its {copies} augmented copies "
            "(turned, flipped, sheared, zoomed, with the camera faults in augment.*)"
        )
        contact_sheet("plots/augmentation.png", images[shown], variants[shown], [train["class"][i] for i in shown], title)
    print(f"augment: wrote {len(rows)} images to {OUT}/ and plots/augmentation.png")


if __name__ == "__main__":
    run_stage(main)
