"""What photometric augmentation costs on clean images and buys under perturbation, gathered from DVC experiments.

Each setting of `augment.{brightness,contrast,gain,noise,specks,blur}` is one run of the pipeline up to
the robustness stage (`dvc exp run robustness -S augment.noise=10 ...`). This module keeps the runs
that are the reference's pipeline except for those keys (and an absolute `data.source`), the way
`steel_defect.seeds` keeps the seeds, and lays out per setting the clean test accuracy beside the
worst moderate accuracy of each perturbation (metrics/robustness.json of the same run).

Every number comes from files the robustness stage and its upstream wrote (robustness.json, and
select.json for the deployed candidate): an experiment run up to robustness leaves evaluate's
metrics as the baseline commit's, so they are never read here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from steel_defect.plots import plt, save
from steel_defect.robust_seeds import KEYS, label
from steel_defect.seeds import ROBUSTNESS, Run, Upstream, same_pipeline
from steel_defect.tables import markdown_table

VARIED = (*(f"augment.{k}" for k in KEYS), "data.source")
SELECT = "metrics/select.json"


def strengths(run: Run) -> dict[str, float]:
    augment = run.params.get("augment") or {}
    return {k: float(augment.get(k) or 0.0) for k in KEYS}


def clean_errors(run: Run, model: str) -> int:
    """Test errors on the clean images, as the robustness stage scored them."""
    robustness = run.files[ROBUSTNESS]
    return round((1 - robustness[model]["clean_accuracy"]) * robustness["test_images"])


def total_strength(setting: dict[str, float]) -> float:
    """The strengths summed, to order settings from mild to strong; `jpeg` is the one key where lower is
    stronger, so it counts as how far below 100 its lowest quality goes (0, off, counts nothing)."""
    return sum((100.0 - v if v else 0.0) if k == "jpeg" else v for k, v in setting.items())


def collect(runs: list[Run], reference: Run, up: Upstream, model: str = "keras") -> dict:
    """Per photometric setting (none first, then by total strength): the run, its clean test errors and `model`'s robustness.

    Two runs of one setting that made different clean test errors are a reproducibility failure
    (ValueError); a setting's first run counts (the workspace comes first in `dvc exp show`).
    """
    chosen: dict[tuple, tuple[Run, int]] = {}  # setting -> its first run and that run's clean test errors
    for run in runs:
        if not same_pipeline(run, reference, up, VARIED, needs=ROBUSTNESS) or model not in (run.files.get(ROBUSTNESS) or {}):
            continue
        key, errors = tuple(strengths(run).values()), clean_errors(run, model)
        if key in chosen and chosen[key][1] != errors:
            first, first_errors = chosen[key]
            raise ValueError(
                f"{run.name} and {first.name} ran the same pipeline with photometric {label(strengths(run))} "
                f"but made {errors} and {first_errors} clean test errors"
            )
        chosen.setdefault(key, (run, errors))
    settings = []
    for key in sorted(chosen, key=lambda k: (any(k), total_strength(dict(zip(KEYS, k, strict=True))), k)):
        run, errors = chosen[key]
        robustness = run.files[ROBUSTNESS]
        robust = robustness[model]
        settings.append(
            {
                "augment": dict(zip(KEYS, key, strict=True)),
                "run": run.name,
                "rev": run.rev[:7],
                "split_seed": run.seed,
                "errors": errors,
                "test_images": robustness["test_images"],
                "accuracy": robust["clean_accuracy"],
                "deployed": (run.files.get(SELECT) or {}).get("chosen"),
                "worst_moderate_accuracy": robust["worst_moderate_accuracy"],
                "worst_moderate": robust["worst_moderate"],
                "worst_accuracy": robust["worst_accuracy"],
                "worst": robust["worst"],
                "moderate": robust["moderate"],
            }
        )
    identity = reference.identity
    return {"model": model, "identity": identity, "settings": settings}


def recommend(table: dict, clean_goal: float) -> dict | None:
    """The setting to make the default, by a rule fixed before the results were in (issue 10's order of goals).

    Of the settings whose clean test accuracy is at least `clean_goal`, the one with the best worst
    moderate accuracy; ties go to the higher clean accuracy, then to the weaker augmentation. None
    if no setting keeps the clean goal. The scores are test scores: with three or four settings on
    one split the choice can flatter the winner by an image or two, so docs/experiments.md says so.
    """
    kept = [s for s in table["settings"] if s["accuracy"] >= clean_goal - 1e-9]
    if not kept:
        return None
    return max(kept, key=lambda s: (s["worst_moderate_accuracy"], s["accuracy"], -total_strength(s["augment"])))


def _pct(value: float) -> str:
    return f"{100 * value:.1f}"


def markdown(
    table: dict,
    goal_each: float | None = None,
    goal_worst: float | None = None,
    goal_clean: float | None = None,
    command: str = "python -m experiments.photometric",
) -> str:
    """One row per setting: clean errors, each perturbation's worst moderate accuracy, and the worst of them."""
    settings = table["settings"]
    perturbations = list(settings[0]["moderate"]) if settings else []
    rows = []
    for s in settings:
        row = {
            "photometric augmentation": label(s["augment"]),
            "run": s["run"],
            "clean test errors": f"{s['errors']} in {s['test_images']}",
        }
        for name in perturbations:  # the worst moderate strength can differ between settings: each cell names its own
            m = s["moderate"].get(name)
            row[name.replace("_", " ")] = f"{_pct(m['accuracy'])} ({m['value']:g})" if m else ""
        row["worst moderate (%)"] = f"**{_pct(s['worst_moderate_accuracy'])}** ({s['worst_moderate']})"
        rows.append(row)
    goals = ""
    if goal_each is not None and goal_worst is not None:
        goals = f" Issue 10's goals: each moderate perturbation >= {100 * goal_each:g}%, worst >= {100 * goal_worst:g}%."
    if goal_clean is not None:
        best = recommend(table, goal_clean)
        goals += f" Clean accuracy >= {100 * goal_clean:g}%; of the settings that keep it, the best worst moderate accuracy: " + (
            f"**{label(best['augment'])}** ({best['run']})." if best else "none keeps it."
        )
    identity = table["identity"]
    return (
        markdown_table(pd.DataFrame(rows).fillna(""))
        + f"\nTest accuracy (%) of the deployed {table['model']} model on the {settings[0]['test_images'] if settings else 0} "
        "test images under each perturbation at its worst moderate strength (robustness.moderate; in brackets), "
        f"one split (seed {settings[0]['split_seed'] if settings else '?'}); augment.* strengths are the largest each "
        f"augmented copy draws from. {identity.get('backbone')} ({identity.get('weights')}), {identity.get('input')} input."
        f"{goals} Generated by `{command}`.\n"
    )


def figure(table: dict, path: str | Path, goal_each: float | None = None) -> None:
    """Per perturbation (and clean), each setting's test errors at the worst moderate strength, one marker per setting.

    Errors on a symlog axis: the interesting gaps are 0 against 1 or 3 errors, and 3 against 150.
    """
    from matplotlib.ticker import FixedLocator, ScalarFormatter

    settings = table["settings"]
    n = settings[0]["test_images"]
    names = ["clean", *settings[0]["moderate"]]
    fig, ax = plt.subplots(figsize=(8, 0.38 * len(names) + 1.6))
    markers = "osD^v<>"
    for i, s in enumerate(settings):
        accuracies = [s["accuracy"], *(s["moderate"][p]["accuracy"] for p in names[1:])]
        errors = [round((1 - a) * n) for a in accuracies]
        y = np.arange(len(names)) + (i - (len(settings) - 1) / 2) * 0.18
        ax.plot(errors, y, markers[i % len(markers)], markersize=6, label=f"{label(s['augment'])} ({s['run']})")
    if goal_each is not None:
        limit = (1 - goal_each) * n
        ax.axvline(limit, color="grey", linestyle="--", linewidth=1, label=f"goal: {100 * goal_each:g}% ({limit:.1f} errors)")
    ax.set_xscale("symlog", linthresh=1)
    ax.xaxis.set_major_locator(FixedLocator([0, 1, 2, 5, 10, 20, 50, 100, 200]))
    ax.xaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlim(-0.3, n)
    ax.set_yticks(np.arange(len(names)))
    ax.set_yticklabels([p.replace("_", " ") for p in names])  # the worst moderate strength can differ between settings
    ax.invert_yaxis()
    ax.set_xlabel(f"test errors of {n} (symlog scale) at each perturbation's worst moderate strength")
    ax.set_title("Photometric augmentation: what it costs clean and buys under perturbation (one split)", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=1)
    fig.tight_layout()
    save(fig, path)
