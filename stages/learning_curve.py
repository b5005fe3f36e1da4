"""Stage learning_curve: test accuracy against the number of labelled training images per class.

For each N in the grid (curve.grid picks `quick` for dvc repro or `full` for docs/results.md's curve)
and each repeat, a seeded draw of N labelled images per class from the training subset; every
method sees the same draw. Methods (steel_defect/curve.py): the logistic-regression baseline, the
head on frozen features with the draw's augmented copies, fine-tuning at the N in `finetune_at`,
and class-balanced self-training on the rest of the training subset with its labels hidden
(curve.semi_supervised switches it off), plus, at the N in `pseudo_head_at`, the head trained on
its pseudo-labels, and at the N in `pseudo_finetune_at` that head's model fine-tuned on them.
All of it reads the features cache; the backbone never runs.
"""

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from steel_defect.atomic import atomic_dir, atomic_file, write_json
from steel_defect.compare import reported_few_label_points
from steel_defect.curve import (
    ALL,
    METHODS,
    copies_by_original,
    draw,
    feasible,
    figure,
    markdown,
    metrics,
    per_class_values,
    summarise,
)
from steel_defect.dataset import read_spec
from steel_defect.errors import UserError, run_stage
from steel_defect.features import load_features
from steel_defect.few_labels import Cache, Settings, score_draw
from steel_defect.model import OPTIMIZERS
from steel_defect.params import boolean, choice, fraction, get, integer, load_params, number, strings
from steel_defect.training import rows_of

GRIDS = ["quick", "full"]
OUT_JSON, OUT_MD = Path("metrics/learning_curve.json"), Path("metrics/learning_curve.md")
OUT_PNG, OUT_CSV = Path("plots/learning_curve.png"), Path("plots/learning_curve")


def settings(params: dict) -> Settings:
    return Settings(
        c=number(params, "baseline.C", 0, None, open_low=True),
        max_iter=integer(params, "baseline.max_iter", minimum=1),
        units=integer(params, "train.units", minimum=1),
        dropout=fraction(params, "train.dropout"),
        head_lr=number(params, "train.learning_rate", 0, 1, open_low=True),
        head_batch=integer(params, "train.batch_size", minimum=1),
        head_epochs=integer(params, "curve.head_epochs", minimum=1),
        optimizer=choice(params, "optimizer", OPTIMIZERS),
        ft_lr=number(params, "finetune.learning_rate", 0, 1, open_low=True),
        ft_decay=number(params, "finetune.lr_decay", 0, 1, open_low=True),
        ft_batch=integer(params, "finetune.batch_size", minimum=1),
        ft_epochs=integer(params, "curve.finetune_epochs", minimum=1),
        rounds=integer(params, "curve.self_training_rounds", minimum=1),
        pseudo_head_epochs=integer(params, "curve.pseudo_head_epochs", minimum=1),
        pseudo_finetune_epochs=integer(params, "curve.pseudo_finetune_epochs", minimum=1),
    )


def main() -> None:
    params = load_params()
    grid = choice(params, "curve.grid", GRIDS)
    per_class = per_class_values(get(params, f"curve.{grid}.per_class"), f"curve.{grid}.per_class")
    finetune_at = per_class_values(get(params, f"curve.{grid}.finetune_at"), f"curve.{grid}.finetune_at", empty=True)
    pseudo_head_at = per_class_values(get(params, f"curve.{grid}.pseudo_head_at"), f"curve.{grid}.pseudo_head_at", empty=True)
    pseudo_finetune_at = per_class_values(
        get(params, f"curve.{grid}.pseudo_finetune_at"), f"curve.{grid}.pseudo_finetune_at", empty=True
    )
    repeats = integer(params, f"curve.{grid}.repeats", minimum=1)
    semi, seed = boolean(params, "curve.semi_supervised"), integer(params, "curve.seed", minimum=0)
    s = settings(params)

    table, arrays = load_features("data/features.npz")
    rows = rows_of(table, read_spec())
    cut_names = [str(n) for n in arrays["cut_names"]]
    cache = Cache(
        table=table,
        y=rows.y,
        pooled=arrays["pooled"],
        cuts=[arrays[f"cut_{i}"] for i in range(len(cut_names))],
        cut_names=cut_names,
        copies=copies_by_original(table, pd.read_csv("data/augmented/manifest.csv", keep_default_na=False)),
        test=np.flatnonzero(rows.test),
        n_classes=len(rows.classes),
    )
    pool = np.flatnonzero(rows.originals)
    pool_per_class = round(len(pool) / cache.n_classes)  # where 'all' sits on the x axis; from the pool's size, not its labels
    counts = {name: int((rows.y[pool] == c).sum()) for c, name in enumerate(rows.classes)}
    per_class, skipped = feasible(per_class, counts)
    for n, why in skipped.items():
        print(f"learning_curve: N={n} skipped: {why} (curve.{grid}.per_class)")
    if not per_class:
        raise UserError(f"params.yaml: 'curve.{grid}.per_class': every N is too large ({next(iter(skipped.values()))}); add 1")

    points, start = [], time.time()
    print(
        f"learning_curve: grid {grid}: N per class {per_class}, {repeats} draws each; fine-tuning at {finetune_at}, "
        f"on pseudo-labels at {pseudo_finetune_at if semi else []}"
    )
    for n in per_class:
        for repeat in range(repeats):
            rng = np.random.default_rng([seed, repeat, 0 if n == ALL else n])
            labelled = pool[draw(rows.y[pool], n, cache.n_classes, rng, rows.classes)]
            unlabelled = np.setdiff1d(pool, labelled)
            chosen = (n in finetune_at, semi, n in pseudo_head_at, n in pseudo_finetune_at)
            result = score_draw(cache, s, labelled, unlabelled, seed + repeat, *chosen)
            points += [{"method": m, "per_class": n, "repeat": repeat, "accuracy": a} for m, a in result.items()]
            shown = ", ".join(f"{m} {100 * a:.2f}" for m, a in result.items())
            print(f"learning_curve: N={n} draw {repeat + 1}/{repeats}: {shown} ({time.time() - start:.0f}s)", flush=True)

    summary = summarise(pd.DataFrame(points))
    info = {
        "grid": grid,
        "pool": f"training subset originals ({len(pool)}; about {pool_per_class} per class)",
        "test_images": len(cache.test),
        "classes": cache.n_classes,
        "semi_supervised": semi,
        "backbone": json.loads(Path("models/backbone/backbone.json").read_text())["backbone"],
        "goals": goals(get(params, "curve.goals")),
        **({"skipped": skipped} if skipped else {}),
    }
    write_json(OUT_JSON, metrics(summary, info))
    with atomic_file(OUT_MD) as tmp:
        tmp.write_text(markdown(summary, info))
    write_plot_data(summary, pool_per_class)
    datasets = strings(params, "compare.datasets")
    literature = pd.read_csv("data/literature.csv", dtype=str, keep_default_na=False)
    title = f"{datasets[0]}: test accuracy from N labelled images per class ({repeats} draws; {info['backbone']})"
    figure(summary, reported_few_label_points(literature, datasets), str(OUT_PNG), pool_per_class, title)
    # the time goes to the log only: outputs stay byte-identical on a rerun (tests/test_dvc_repro.py)
    print(f"learning_curve: {len(points)} fits in {time.time() - start:.0f}s -> {OUT_JSON}, {OUT_MD}, {OUT_PNG}, {OUT_CSV}/")


def goals(value: object) -> dict:
    """curve.goals: {N: accuracy between 0 and 1}; keys as strings, so JSON and YAML agree."""
    ok = isinstance(value, dict) and all(
        (isinstance(k, int) and k > 0 or k == ALL) and isinstance(v, (int, float)) and 0 < v <= 1 for k, v in value.items()
    )
    if not ok:
        raise UserError(f"params.yaml: 'curve.goals' is {value!r}; expected {{N per class: accuracy between 0 and 1}}")
    return {str(k): float(v) for k, v in value.items()}


def write_plot_data(summary: pd.DataFrame, pool_per_class: int) -> None:
    """One CSV per method (DVC draws one line per file; header only if the grid skipped it), 'all' -> the pool per class."""
    with atomic_dir(OUT_CSV) as folder:
        for method in METHODS:
            rows = summary[summary["method"] == method]
            frame = pd.DataFrame(
                {
                    "labelled_per_class": [pool_per_class if v == ALL else v for v in rows["per_class"]],
                    "accuracy": rows["mean"].round(6),
                    "std": rows["std"].round(6),
                    "repeats": rows["repeats"],
                }
            )
            frame.to_csv(folder / f"{method}.csv", index=False)


if __name__ == "__main__":
    run_stage(main)
