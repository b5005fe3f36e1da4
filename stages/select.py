"""Stage select: score every candidate model on the validation images and deploy the best in models/deployed/.

The model users get is chosen on validation data, never on test (see steel_defect/selection.py for
the rule); models/deployed/model.json records the choice, why, the classes and the input it expects.
"""

from pathlib import Path

from steel_defect.atomic import atomic_dir, save_model, write_json
from steel_defect.dataset import read_spec
from steel_defect.errors import run_stage
from steel_defect.params import choices_list, integer, load_params
from steel_defect.selection import CANDIDATES, choose, load_candidates, score

OUT = Path("models/deployed")


def main() -> None:
    params = load_params()
    spec = read_spec()
    images, y = spec.load_subset("val")
    candidates = load_candidates(choices_list(params, "select.candidates", CANDIDATES))
    batch_size = integer(params, "features.batch_size", minimum=1)
    scores = {name: score(y, model.predict(images, batch_size=batch_size, verbose=0)) for name, model in candidates.items()}
    chosen, why = choose(scores)
    for name, s in scores.items():
        errors = f"{s['errors']} errors in {len(y)}"
        print(f"select: {name:10s} validation accuracy {s['accuracy']:.4f} ({errors}), log-loss {s['loss']:.2e}")
    with atomic_dir(OUT) as tmp:
        save_model(candidates[chosen], tmp / "model.keras")
        write_json(
            tmp / "model.json",
            {
                "chosen": chosen,
                "why": why,
                "classes": spec.classes,
                "input": f"{spec.color} images, 0..255, any size, shape (height, width, {spec.channels})",
                "channels": spec.channels,
            },
        )
    write_json("metrics/select.json", {"chosen": chosen, "why": why, "val_images": len(y), "candidates": scores})
    print(f"select: deployed {chosen} -> {OUT}/model.keras ({why})")


if __name__ == "__main__":
    run_stage(main)
