"""Stage compare: the literature table (data/literature.csv) beside this project's measured results.

Writes metrics/compare.md, plots/compare.png and metrics/headline.md (the README's first numbers,
each linked to its file). Our rows come from
metrics/seeds.json (mean and spread over split seeds, `make seeds`, tools/seeds.py) while it describes
the data in metrics/data.json; otherwise from this run alone (n=1). The few-label rows (N = 1, 5
and 10 labelled images per class) come from metrics/learning_curve.json, the exported models' rows
from metrics/export.json and their latency from metrics/benchmark.json, the worst moderate perturbation's
from metrics/robustness.json. Rows on other datasets are
listed separately and never ranked or plotted (see steel_defect/compare.py).
"""

import json
from pathlib import Path

import pandas as pd

from steel_defect.atomic import atomic_file
from steel_defect.compare import curve_rows, export_rows, figure, join, literature_rows, measured_rows, report
from steel_defect.errors import UserError, run_stage
from steel_defect.headline import headline
from steel_defect.params import get, integer, load_params, strings
from steel_defect.robustness import compare_rows
from steel_defect.seeds import single_run

LITERATURE = Path("data/literature.csv")
SEEDS = Path("metrics/seeds.json")
BENCHMARK = Path("metrics/benchmark.json")
EXPORT = Path("metrics/export.json")
CURVE = Path("metrics/learning_curve.json")
ROBUSTNESS = Path("metrics/robustness.json")
ROBUST_SEEDS = Path("metrics/robust_seeds.json")  # `make robust-seeds`: the default over split seeds


def read_json(path: Path) -> dict | None:
    return json.loads(path.read_text()) if path.exists() else None


def main() -> None:
    params = load_params()
    datasets = strings(params, "compare.datasets")
    copies = integer(params, "augment.copies", minimum=0)
    evaluate = json.loads(Path("metrics/evaluate/metrics.json").read_text())
    data = json.loads(Path("metrics/data.json").read_text())
    seeds = read_json(SEEDS)
    if not isinstance(seeds, dict) or seeds.get("dataset") != data:
        split = json.loads(Path("metrics/split.json").read_text())
        print(f"compare: {SEEDS} is missing or describes other data; our rows are this run alone (n=1)")
        seeds = single_run(evaluate, get(params, "split.strategy"), get(params, "split.seed"), split["train"]["total"])
    try:
        literature = literature_rows(pd.read_csv(LITERATURE, dtype=str, keep_default_na=False).replace("", None), datasets)
    except (ValueError, pd.errors.ParserError) as err:
        raise UserError(f"{LITERATURE}: {err}") from None
    benchmark = read_json(BENCHMARK)
    measured = measured_rows(seeds, evaluate, benchmark, datasets[0], copies)
    export = read_json(EXPORT)
    if export:
        measured = pd.concat([measured, export_rows(export, benchmark, evaluate, datasets[0])], ignore_index=True)
    curve = read_json(CURVE)
    if curve:
        measured = pd.concat([measured, curve_rows(curve, evaluate, datasets[0])], ignore_index=True)
    robust = read_json(ROBUSTNESS)
    if robust:
        measured = pd.concat([measured, pd.DataFrame(compare_rows(robust, evaluate, datasets[0]))], ignore_index=True)
    same, other = join(literature, measured)
    with atomic_file("metrics/compare.md") as tmp:
        tmp.write_text(report(same, other, datasets[0]))
    figure(same, "plots/compare.png", datasets[0])
    split_seed, strategy = integer(params, "split.seed", minimum=0), get(params, "split.strategy")
    with atomic_file("metrics/headline.md") as tmp:
        tmp.write_text(headline(evaluate, benchmark, read_json(ROBUST_SEEDS), curve, split_seed, strategy, robust))
    print(
        f"compare: {len(same)} rows on {datasets[0]} ({(same['origin'] != 'measured (this project)').sum()} reported), "
        f"{len(other)} on other datasets -> metrics/compare.md, plots/compare.png"
    )


if __name__ == "__main__":
    run_stage(main)
