"""Published results beside this project's measured ones, without ranking across datasets.

Literature rows come from a committed CSV (data/literature.csv) and are labelled "reported" with
their citation, protocol and hardware; rows the source marks UNVERIFIED say so. Rows on another
dataset (the seed paper's Table 5 compares NEU-CLS with a 3-class rolled-metal set and Severstal)
go to a separate table and never into the ranking or the plot. Our rows are all measured: the
seed aggregate (metrics/seeds.json), the parameter counts and the latency of the deployed model.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

LITERATURE_COLUMNS = [
    "method",
    "dataset",
    "accuracy_pct",
    "protocol",
    "params_M",
    "latency_ms",
    "latency_hw",
    "train_images",
    "citation",
    "doi",
    "source",
    "verification",
]
CANDIDATES = {"accuracy": "deployed (chosen on validation)", "fine_tuned_accuracy": "fine-tuned", "head_accuracy": "head only"}
BASELINE = {"baseline_accuracy": "frozen-feature baseline (logistic regression)"}
TABLE = [
    "origin",
    "method",
    "dataset",
    "accuracy (%)",
    "protocol",
    "params (M)",
    "ms per image",
    "latency hardware",
    "training images",
]
SOURCE = ["citation", "verification"]


def accuracy_range(text: str) -> tuple[float, float, float] | None:
    """'98.06' -> (98.06, 98.06, 98.06); '99.41-99.77' -> (mid, low, high); '~100' -> (100, 100, 100); '' -> None."""
    numbers = [float(x) for x in re.findall(r"\d+(?:\.\d+)?", str(text))]
    if not numbers:
        return None
    low, high = min(numbers), max(numbers)
    return (low + high) / 2, low, high


def same_dataset(name: str, datasets: list[str]) -> bool:
    """'NEU-CLS (GAN-augmented)' is NEU-CLS; 'rolled-metal 3-class (NOT NEU-CLS)' and 'per seed Table 5' are not."""
    head = str(name).split("(")[0].strip()
    return head in datasets and "NOT" not in str(name)


def literature_rows(table: pd.DataFrame, datasets: list[str]) -> pd.DataFrame:
    missing = [c for c in LITERATURE_COLUMNS if c not in table.columns]
    if missing:
        raise ValueError(f"missing columns {missing}")
    out = pd.DataFrame(
        {
            "origin": np.where(table["verification"].str.contains("UNVERIFIED", na=False), "reported, UNVERIFIED", "reported"),
            "method": table["method"],
            "dataset": table["dataset"],
            "accuracy (%)": table["accuracy_pct"].fillna("").astype(str),
            "protocol": table["protocol"].fillna(""),
            "params (M)": table["params_M"].fillna("").astype(str),
            "ms per image": table["latency_ms"].fillna("").astype(str),
            "latency hardware": table["latency_hw"].fillna(""),
            "training images": table["train_images"].fillna("").astype(str),
            "citation": table["citation"].fillna("")
            + np.where(table["doi"].fillna("") != "", " doi:" + table["doi"].fillna(""), ""),
            "verification": table["verification"].fillna(""),
        }
    )
    out["same_dataset"] = [same_dataset(d, datasets) for d in table["dataset"]]
    return out


def _pct(summary: dict) -> str:
    if summary["std"] is None:
        return f"{100 * summary['mean']:.2f} (n=1)"
    low, high = summary["ci95"]
    return f"{100 * summary['mean']:.2f} ± {100 * summary['std']:.2f} (n={summary['n']}; 95% CI {100 * low:.2f}-{100 * high:.2f})"


def measured_rows(seeds: dict, evaluate: dict, latency: dict | None, dataset: str, copies: int) -> pd.DataFrame:
    """Our rows: per split strategy, the deployed model and each candidate (mean ± std over seeds)."""
    model = f"{evaluate['backbone']} ({evaluate['weights']}, {evaluate['input']} input)"
    latency_ok = latency is not None and latency.get("params") == evaluate["params"]
    rows = []
    for strategy, result in seeds["strategies"].items():
        train = result.get("train_images")
        train_text = (
            ""
            if train is None
            else f"{train if isinstance(train, int) else '-'.join(map(str, train))} (+{copies} augmented copies each)"
        )
        for key, label in {**CANDIDATES, **BASELINE}.items():
            if key not in result:
                continue
            name = "deployed" if key == "accuracy" else key.removesuffix("_accuracy")
            params = evaluate["params"] if key == "accuracy" else evaluate.get(f"{name}_params")
            deployed = key == "accuracy"
            rows.append(
                {
                    "origin": "measured (this project)",
                    "method": f"{label}: {model}",
                    "dataset": dataset,
                    "accuracy (%)": _pct(result[key])
                    + (f"; {result['total_errors']} errors in {result['test_predictions']}" if deployed else ""),
                    "protocol": f"{strategy} 80/20 split, {len(result['seeds'])} seeds; test unseen in training and selection",
                    "params (M)": "" if params is None else f"{params / 1e6:.2f}",
                    "ms per image": f"{latency['ms_per_image_batch1_median']:.1f}" if deployed and latency_ok else "",
                    "latency hardware": f"this machine: {latency['cpu_cores']}-core {latency['cpu']} CPU, batch 1"
                    if deployed and latency_ok
                    else "",
                    "training images": train_text,
                    "citation": "this repository (metrics/seeds.json)",
                    "verification": "measured",
                    "same_dataset": True,
                    "mean": 100 * result[key]["mean"],
                    "std": 100 * (result[key]["std"] or 0.0),
                    "strategy": strategy,
                }
            )
    return pd.DataFrame(rows)


def join(literature: pd.DataFrame, measured: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(same dataset, sorted by accuracy; other datasets, in file order and never ranked)."""
    both = pd.concat([measured, literature], ignore_index=True)
    acc = [accuracy_range(a) for a in both["accuracy (%)"]]
    both["mean"] = both["mean"].where(both["mean"].notna(), [a[0] if a else np.nan for a in acc]) if "mean" in both else np.nan
    same = both[both["same_dataset"]].sort_values("mean", ascending=False, na_position="last", kind="stable")
    other = both[~both["same_dataset"]]
    return same, other


def markdown(frame: pd.DataFrame, columns: list[str]) -> str:
    cells = frame[columns].fillna("").astype(str).map(lambda v: v.replace("|", "/"))
    header = "| " + " | ".join(columns) + " |\n|" + "---|" * len(columns) + "\n"
    return header + "".join("| " + " | ".join(row) + " |\n" for row in cells.itertuples(index=False))


def report(same: pd.DataFrame, other: pd.DataFrame, dataset: str) -> str:
    return (
        f"### {dataset}: measured here and reported in the literature\n\n"
        "Sorted by accuracy; protocols differ (see the protocol column); only this project's rows are measured here.\n\n"
        + markdown(same, TABLE + SOURCE)
        + f"\n### Other datasets (not comparable with {dataset}; not ranked)\n\n"
        "The seed paper's Table 5 lists these beside NEU-CLS; they are results on different data.\n\n"
        + markdown(other, TABLE + SOURCE)
    )


def _short(method: str) -> str:
    return method.split(":")[0] if method.startswith(tuple(CANDIDATES.values()) + tuple(BASELINE.values())) else method[:28]


def figure(same: pd.DataFrame, path: str, dataset: str) -> None:
    """Accuracy against size and against CPU latency, same-dataset rows only: ours with ±std bars, the literature as reported."""
    from steel_defect.plots import plt, save

    rows = same.copy()
    rows["params"] = pd.to_numeric(rows["params (M)"], errors="coerce")
    rows["latency"] = pd.to_numeric(rows["ms per image"], errors="coerce")
    cpu = rows["latency hardware"].str.contains("CPU|Raspberry", case=False, na=False)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2))
    panels = [
        (axes[0], "params", "parameters (millions, log scale)", rows["params"].notna()),
        (axes[1], "latency", "ms per image on a CPU (log scale; hardware differs)", rows["latency"].notna() & cpu),
    ]
    for ax, column, xlabel, keep in panels:
        for _, row in rows[keep & rows["mean"].notna()].iterrows():
            ours = row["origin"].startswith("measured")
            style = dict(fmt="o", color="tab:blue", ms=7) if ours else dict(fmt="s", color="tab:gray", ms=6, mfc="white")
            ax.errorbar(row[column], row["mean"], yerr=row.get("std") if ours else None, capsize=3, **style)
            label = _short(row["method"]) + (f" ({row['strategy']})" if ours else "")
            if column == "latency" and not ours:
                label += f"\n[{row['latency hardware']}]"
            ax.annotate(label, (row[column], row["mean"]), textcoords="offset points", xytext=(6, -3), fontsize=7)
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"test accuracy on {dataset} (%)")
        ax.grid(alpha=0.3)
    axes[0].set_title("Accuracy against size")
    axes[1].set_title("Accuracy against CPU latency, where reported")
    fig.suptitle(
        f"{dataset} only (other datasets: table only). Blue: measured here, mean ± std over seeds; grey: as reported.",
        fontsize=9,
    )
    fig.tight_layout()
    save(fig, path)
