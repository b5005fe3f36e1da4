"""The few-labels learning curve: seeded draws of N labelled images per class, and self-training on the rest.

Everything here works on the features cache (pooled features and cut activations), so a point on
the curve costs a few classifier fits, never a pass of the backbone. The draw comes from the
training subset's originals only; the test subset is never touched (not even unlabelled), and the
validation slice is not used: with one labelled image per class there is nothing to hold out, and
a labelled validation set larger than the draw would be the labels the curve says we do not have.
So every method trains for a fixed number of epochs.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from steel_defect.errors import UserError
from steel_defect.tables import markdown_table

ALL = "all"
METHODS = {
    "baseline": "logistic regression, labelled originals",
    "head": "head on frozen features, labelled + augmented copies",
    "fine_tuned": "fine-tuned top of the backbone, labelled + augmented copies",
    "self_training": "class-balanced self-training (labelled + unlabelled rest), logistic regression",
    "self_training_head": "head on the labelled + self-training's pseudo-labelled images and their augmented copies",
    "self_training_fine_tuned": "self_training_head's model, then its backbone top fine-tuned on the same pseudo-labelled images",
}


def per_class_values(value: object, key: str, empty: bool = False) -> list[int | str]:
    """A list (non-empty unless `empty`) of positive integers and/or 'all', in increasing order; a typo names the key."""
    ok = (
        isinstance(value, list)
        and (empty or value)
        and all((isinstance(v, int) and not isinstance(v, bool) and v > 0) or v == ALL for v in value)
    )
    if not ok:
        raise UserError(f"params.yaml: '{key}' is {value!r}; expected a list of positive integers and/or '{ALL}'")
    return sorted(value, key=lambda v: math.inf if v == ALL else v)


def feasible(per_class: list[int | str], counts: dict[str, int]) -> tuple[list[int | str], dict[str, str]]:
    """The N every class can supply (each class's labelled images are drawn from its own training images), and
    why each other N is skipped: a user's smallest class decides, so a measuring stage never fails on it."""
    smallest = min(counts, key=counts.get)
    kept = [n for n in per_class if n == ALL or n <= counts[smallest]]
    skipped = {str(n): f"class '{smallest}' has only {counts[smallest]} training images" for n in per_class if n not in kept}
    return kept, skipped


def draw(
    labels: np.ndarray, n: int | str, n_classes: int, rng: np.random.Generator, names: Sequence[str] | None = None
) -> np.ndarray:
    """Positions (into `labels`) of exactly n images per class, drawn without replacement; 'all' takes every one."""
    picked = []
    for c in range(n_classes):
        members = np.flatnonzero(labels == c)
        if n == ALL:
            picked.append(members)
            continue
        if len(members) < n:
            name = f"'{names[c]}'" if names else str(c)
            raise UserError(
                f"params.yaml: 'curve' asks for {n} labelled images per class, but class {name} has only {len(members)} "
                "training images; lower the value or use 'all'"
            )
        picked.append(np.sort(rng.choice(members, n, replace=False)))
    return np.concatenate(picked)


def copies_by_original(table: pd.DataFrame, manifest: pd.DataFrame) -> dict[str, np.ndarray]:
    """Original image path -> row numbers of its augmented copies in the features table."""
    source = dict(zip(manifest["path"], manifest["source"], strict=True))
    rows = table.index[table["subset"] == "augmented"]
    try:
        owners = [source[p] for p in table.loc[rows, "path"]]
    except KeyError as err:
        raise UserError(f"data/augmented/manifest.csv: no entry for augmented image {err}; run `dvc repro augment`") from None
    grouped = pd.Series(rows, dtype=int).groupby(pd.Series(owners, dtype=str))
    return {path: group.to_numpy() for path, group in grouped}


def class_balanced_pick(probs: np.ndarray, quota: int) -> np.ndarray:
    """Pseudo-labels (-1: not picked) taking the `quota` most probable images for every class.

    Ranking per class rather than by overall confidence is the point: a global ranking fills up with
    the easiest class and the model drifts towards it (measured: 35-71% at 1 label per class). An
    image ranked in two classes' quotas keeps the class it is more probable in.
    """
    labels = np.full(len(probs), -1)
    best = np.full(len(probs), -np.inf)
    for c in range(probs.shape[1]):
        top = np.argsort(-probs[:, c], kind="stable")[:quota]
        better = probs[top, c] > best[top]
        labels[top[better]], best[top[better]] = c, probs[top[better], c]
    return labels


def self_train(
    x_labelled: np.ndarray,
    y_labelled: np.ndarray,
    x_unlabelled: np.ndarray,
    n_classes: int,
    rounds: int,
    fit: Callable[[np.ndarray, np.ndarray], object],
) -> tuple[object, np.ndarray]:
    """Class-balanced self-training (after Zou et al., ECCV 2018, "CBST"): the fitted model and the final pseudo-labels.

    Round r of `rounds` refits on the labelled images plus, per class, the r/rounds share of the
    unlabelled pool (len/n_classes each) the previous model is most sure of, so the pseudo-labelled set grows
    from easy to hard. The unlabelled images' labels are never an argument: the method cannot read them.
    `fit(x, y)` returns an object with predict_proba (scikit-learn style).
    """
    model = fit(x_labelled, y_labelled)
    pseudo = np.full(len(x_unlabelled), -1)
    for r in range(1, rounds + 1):
        quota = math.ceil(len(x_unlabelled) / n_classes * r / rounds)
        pseudo = class_balanced_pick(model.predict_proba(x_unlabelled), quota)
        keep = pseudo >= 0
        model = fit(np.concatenate([x_labelled, x_unlabelled[keep]]), np.concatenate([y_labelled, pseudo[keep]]))
    return model, pseudo


def summarise(points: pd.DataFrame) -> pd.DataFrame:
    """One row per (method, per_class): mean, std (sample, ddof=1; 0 for one draw), repeats, min and max accuracy."""
    grouped = points.groupby(["method", "per_class"], sort=False)["accuracy"]
    out = grouped.agg(
        mean="mean", std=lambda a: float(np.std(a, ddof=1)) if len(a) > 1 else 0.0, repeats="size", low="min", high="max"
    )
    return out.reset_index()


def metrics(summary: pd.DataFrame, info: dict) -> dict:
    """The metrics file: {method: {per_class: {mean, std, repeats, ...}}} so `dvc metrics diff` lists every point."""
    out: dict = {"info": info}
    for row in summary.itertuples(index=False):
        out.setdefault(row.method, {})[str(row.per_class)] = {
            "mean": round(float(row.mean), 6),
            "std": round(float(row.std), 6),
            "repeats": int(row.repeats),
            "min": round(float(row.low), 6),
            "max": round(float(row.high), 6),
        }
    return out


def goals_markdown(summary: pd.DataFrame, goals: dict, skipped: dict[str, str] | None = None) -> str:
    """The goals (N -> accuracy) against the best method's mean at each N, met or not: generated, never typed."""
    rows = []
    for n, goal in sorted(goals.items(), key=lambda item: math.inf if item[0] == ALL else int(item[0])):
        at = summary[summary["per_class"].astype(str) == str(n)]
        if at.empty:
            why = (skipped or {}).get(str(n))
            rows.append(
                {"labelled per class": n, "goal": f">= {100 * goal:g}%", "best measured": f"skipped: {why}" if why else "not run"}
            )
            continue
        best = at.loc[at["mean"].idxmax()]
        others = ", ".join(f"{r.method} {100 * r.mean:.2f}" for r in at.itertuples() if r.method != best["method"])
        rows.append(
            {
                "labelled per class": n,
                "goal": f">= {100 * goal:g}%",
                "best measured": f"{100 * best['mean']:.2f} ± {100 * best['std']:.2f}",
                "method": best["method"],
                "met": "yes" if best["mean"] >= goal else f"no ({100 * (goal - best['mean']):.2f} points short)",
                "the other methods": others,
            }
        )
    return markdown_table(pd.DataFrame(rows))


def markdown(summary: pd.DataFrame, info: dict) -> str:
    """The table docs/results.md shows: one row per N, one column per method (mean ± std over draws), with how it was made."""
    methods = list(dict.fromkeys(summary["method"]))
    cells = summary.assign(cell=[f"{100 * r.mean:.2f} ± {100 * r.std:.2f}" for r in summary.itertuples(index=False)])
    table = cells.pivot(index="per_class", columns="method", values="cell")
    table = table.reindex(index=list(dict.fromkeys(summary["per_class"])), columns=methods)
    table = table.rename_axis(index="labelled per class", columns=None).reset_index()
    repeats = int(summary["repeats"].max())
    made_by = "dvc repro learning_curve" if info["grid"] == "quick" else f"dvc exp run -S curve.grid={info['grid']}"
    return (
        markdown_table(table)
        + f"\nTest accuracy (%), mean ± sample std over {repeats} seeded draws per N (the same draws for every method); "
        f"grid `{info['grid']}`, {info['test_images']} test images, draws from the {info['pool']}; "
        f"backbone {info['backbone']}. "
        + "; ".join(f"{m}: {METHODS.get(m, m)}" for m in methods)
        + f". Generated by `{made_by}`.\n"
        + "".join(f"\nN={n} skipped: {why}.\n" for n, why in info.get("skipped", {}).items())
        + (
            "\nAgainst the goals (`curve.goals`; mean over the draws):\n\n"
            + goals_markdown(summary, info["goals"], info.get("skipped"))
            if info.get("goals")
            else ""
        )
    )


def from_metrics(metrics_json: dict) -> tuple[pd.DataFrame, dict]:
    """The summary and info back from a metrics file (so an experiment's curve re-renders without rerunning it)."""
    data = dict(metrics_json)
    info = data.pop("info")
    rows = [
        {"method": m, "per_class": n if n == ALL else int(n), "mean": v["mean"], "std": v["std"], "repeats": v["repeats"],
         "low": v["min"], "high": v["max"]}
        for m, points in data.items()
        for n, v in points.items()
    ]  # fmt: skip
    return pd.DataFrame(rows), info


def x_position(per_class: int | str, pool_per_class: int) -> int:
    return pool_per_class if per_class == ALL else int(per_class)


def takeaway(summary: pd.DataFrame) -> str:
    """The figure's message, from its own numbers: what the fewest labels give, and the best line at the most."""
    numeric = summary[summary["per_class"] != ALL]
    if numeric.empty:
        return ""
    fewest, most = numeric["per_class"].min(), numeric["per_class"].max()
    at = numeric[numeric["per_class"] == fewest].set_index("method")["mean"]
    text = f"{fewest} label(s) per class: "
    if "self_training" in at and "baseline" in at:
        text += f"the unlabelled images lift {100 * at['baseline']:.1f}% to {100 * at['self_training']:.1f}%"
    else:
        text += f"best {at.idxmax()} {100 * at.max():.1f}%"
    top = numeric[numeric["per_class"] == most].set_index("method")["mean"]
    return text + f"; {most} per class: best {top.idxmax()} {100 * top.max():.1f}%"


def figure(
    summary: pd.DataFrame, references: Sequence[tuple[int, float, str]], path: str, pool_per_class: int, title: str
) -> None:
    """Accuracy against labelled images per class (log x), mean ± std per method, with reported reference points."""
    from matplotlib.ticker import FixedLocator, NullFormatter

    from steel_defect.plots import plt, save

    fig, ax = plt.subplots(figsize=(9, 7))
    ticks = set()
    for method, rows in summary.groupby("method", sort=False):
        x = [x_position(v, pool_per_class) for v in rows["per_class"]]
        ticks |= set(x)
        ax.errorbar(
            x,
            100 * rows["mean"],
            yerr=100 * rows["std"],
            fmt="-o",
            capsize=3,
            ms=5,
            label=f"{method}: {METHODS.get(method, method)}",
        )
    for n, accuracy, label in references:
        ax.plot([n], [accuracy], marker="*", ms=14, ls="none", color="black", label=f"reported: {label}")
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(FixedLocator(sorted(ticks)))
    ax.xaxis.set_major_formatter("{x:g}")
    ax.xaxis.set_minor_formatter(NullFormatter())
    message = takeaway(summary)
    ax.set(xlabel="labelled training images per class (log scale)", ylabel="test accuracy (%)")
    ax.set_title(f"{title}\n{message}" if message else title, fontsize=10)
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.12), frameon=False)  # below: never over a point
    fig.tight_layout()
    save(fig, path)


def render(metrics_path: str, markdown_path: str) -> None:
    """Re-render a curve's Markdown from its metrics file, with the goals in params.yaml; for a curve made
    by an experiment (`python -m steel_defect.curve metrics/learning_curve_full.json metrics/learning_curve_full.md`)."""
    import json

    from steel_defect.atomic import atomic_file
    from steel_defect.params import get, load_params

    summary, info = from_metrics(json.loads(Path(metrics_path).read_text()))
    info.setdefault("goals", {str(k): float(v) for k, v in get(load_params(), "curve.goals").items()})
    with atomic_file(markdown_path) as tmp:
        tmp.write_text(markdown(summary, info))
    print(f"curve: {metrics_path} -> {markdown_path}")


if __name__ == "__main__":
    import sys

    from steel_defect.errors import run_stage

    run_stage(lambda: render(*sys.argv[1:3]))
