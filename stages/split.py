"""Stage split: stratified train/val/test assignment, duplicates and (optionally) neighbours kept together."""

from pathlib import Path

from steel_defect.atomic import atomic_file, write_json
from steel_defect.dataset import read_manifest
from steel_defect.errors import run_stage
from steel_defect.params import choice, fraction, integer, load_params
from steel_defect.splitting import STRATEGIES, make_split, subset_counts

OUT = Path("data/split.csv")


def main() -> None:
    params = load_params()
    split = make_split(
        read_manifest("data/raw"),
        test_fraction=fraction(params, "split.test_fraction"),
        val_fraction=fraction(params, "split.val_fraction"),
        seed=integer(params, "split.seed", minimum=0),
        strategy=choice(params, "split.strategy", STRATEGIES),
        group_size=integer(params, "split.group_size", minimum=1),
    )
    with atomic_file(OUT) as tmp:
        split.to_csv(tmp, index=False)
    counts = subset_counts(split)
    write_json("metrics/split.json", counts)
    print("split: " + ", ".join(f"{s} {c['total']}" for s, c in counts.items()) + f" -> {OUT}")


if __name__ == "__main__":
    run_stage(main)
