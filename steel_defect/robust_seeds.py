"""Robustness over several split seeds: the robustness goals are means over the seeds, not one split's luck.

One split's 360 test images put a perturbation's accuracy on a grid of 0.28 points, and which
images land in the test subset moves it by more than that. The seeds run as queued DVC experiments
through `robustness`; this module keeps the runs that are the reference's pipeline except for the
split seed (matched as `steel_defect.seeds` matches them, on the code and params `robustness`
depends on) and summarises, per perturbation, the accuracy at its worst moderate
strength over the seeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

import pandas as pd

from steel_defect.augmentation import Photometric
from steel_defect.params import unfreeze_setting
from steel_defect.robustness import GOAL_HELD_OUT, GOAL_LINE_CAMERA, LINE_CAMERA, goal
from steel_defect.seeds import EVALUATE, ROBUSTNESS, Run, Upstream, interval, param_differences, same_pipeline
from steel_defect.tables import markdown_table

KEYS = tuple(f.name for f in fields(Photometric))  # augment.*: the photometric strengths, as the augment stage reads them


def label(setting: dict[str, float]) -> str:
    """'none' or e.g. 'noise 10, specks 0.01': the non-zero strengths, in KEYS order."""
    return ", ".join(f"{k} {v:g}" for k, v in setting.items() if v) or "none"


DEPLOYED = "deployed"  # whichever form of the deployed model a run scored first (robustness.models)
SCORES = ("clean_accuracy", "worst_moderate_accuracy")  # two runs of one seed on one machine agree on both


def _errors(accuracy: float, n: int) -> int:
    return round((1 - accuracy) * n)


def collect(
    runs: list[Run],
    reference: Run,
    up: Upstream,
    model: str = DEPLOYED,
    also: Sequence[Run] = (),
    kept: dict | None = None,
) -> dict:
    """Per split strategy: each seed's clean and worst-moderate result, and per perturbation the mean over seeds.

    A run counts if it ran the reference's pipeline, or one in `also`: references whose code
    differs (a refactor, a key added with an off default) but whose described setting and shared
    params are the same, as when new seeds run on newer code (ValueError otherwise). Two runs of
    one seed that disagree on the clean or the worst moderate test score are a reproducibility
    failure (ValueError), except as `_choose` says. Only robustness.json is read: a run that stopped at robustness
    carries its baseline's stale evaluate metrics.

    `kept` is a table this function wrote before (its JSON): its runs of seeds no recorded run
    covers count too, because experiments live only in one clone (a new machine starts without
    them) while the committed table survives. It must describe the same setting and params.
    """
    setting = describe(reference)
    for other in also:
        if differ := _differences(reference, other, up):
            raise ValueError(f"{other.name} cannot be gathered with {reference.name}: they differ in {', '.join(differ)}")
    references = [reference, *also]
    rows: dict[tuple[str, int], list[dict]] = {}  # (strategy, seed) -> its runs, as listed
    home, left_out = reference.machine, []
    for run in runs:
        robustness = run.files.get(ROBUSTNESS) or {}
        if entry(robustness, model) not in robustness or not any(same_pipeline(run, r, up, needs=ROBUSTNESS) for r in references):
            continue
        if None not in (home, run.machine) and run.machine != home:
            left_out.append({"name": run.name, "seed": run.seed, "why": f"another machine ({machine_text(run.machine)})"})
            continue
        rows.setdefault((run.strategy, run.seed), []).append(_row(run, robustness, model))
    for key, row in _kept_rows(kept, reference, up, model):
        rows.setdefault(key, []).append(row)
    chosen = {key: _choose(key, these, home, left_out) for key, these in rows.items()}
    out: dict = {"model": model, "identity": reference.identity, "strategies": {}}
    out["augment"] = reference.params.get("augment")
    out.update({k: v for k, v in setting.items() if k not in ("identity", "augment")})
    out["params"] = reference.params  # what a later --keep checks its own reference against
    out["machine"], out["left_out"] = home, left_out
    declared_held_out = (reference.params.get("robustness") or {}).get("held_out") or []  # for runs that predate the record
    for strategy in sorted({s for s, _ in chosen}):
        these = sorted((r for (s, _), r in chosen.items() if s == strategy), key=lambda r: r["seed"])
        perturbations = list(these[0]["moderate"])
        out["strategies"][strategy] = {
            "seeds": [r["seed"] for r in these],
            "runs": these,
            "clean_accuracy": interval(r["clean_accuracy"] for r in these),
            "worst_moderate_accuracy": interval(r["worst_moderate_accuracy"] for r in these),
            "perturbations": {p: interval(r["moderate"][p] for r in these if p in r["moderate"]) for p in perturbations},
            "families": these[0].get("families"),  # which families training showed (runs since issue 40)
        }
        if any(p in LINE_CAMERA for r in these for p in r["moderate"]):  # issue 39's worst, before the line camera came
            first = interval(first_families_worst(r, declared_held_out) for r in these)
            out["strategies"][strategy]["first_families_worst_moderate_accuracy"] = first
        if all("held_out_worst_moderate_accuracy" in r for r in these):
            held = interval(r["held_out_worst_moderate_accuracy"] for r in these)
            out["strategies"][strategy]["held_out_worst_moderate_accuracy"] = held
    return out


def first_families_worst(row: dict, held_out: Sequence[str] = ()) -> float:
    """A run's worst moderate accuracy over the camera faults other than the line camera's and the held-out
    families (the run's record of them, else `held_out`): the 11 families issue 39's worst goal speaks of."""
    held_out = (row.get("families") or {}).get("held_out", held_out)
    return min(v for p, v in row["moderate"].items() if p not in LINE_CAMERA and p not in held_out)


def entry(robustness: dict, model: str) -> str:
    """The key of robustness.json that holds `model`'s scores; DEPLOYED is the entry the run names as
    the deployed model's (robustness.models' first; 'keras' in runs older than that list)."""
    if model != DEPLOYED:
        return model
    return (robustness.get("deployed") or {}).get("model", "keras")


def _row(run: Run, robustness: dict, model: str) -> dict:
    """One run's line of the table, with every moderate score, so a later gathering can keep it."""
    x, n = robustness[entry(robustness, model)], int(robustness["test_images"])
    return {
        "seed": run.seed,
        "name": run.name,
        "rev": run.rev[:7],
        "test_images": n,
        "clean_errors": _errors(x["clean_accuracy"], n),
        "clean_accuracy": x["clean_accuracy"],
        "worst_moderate": x["worst_moderate"],
        "worst_moderate_accuracy": x["worst_moderate_accuracy"],
        "moderate": {p: v["accuracy"] for p, v in x["moderate"].items()},
        "machine": run.machine,
        **({"families": robustness["families"]} if "families" in robustness else {}),
        **{k: x[k] for k in ("held_out_worst_moderate", "held_out_worst_moderate_accuracy") if k in x},
    }


def machine_text(machine: dict) -> str:
    """'AMD EPYC, avx512_core_bf16, ONEDNN_MAX_CPU_ISA=AVX2': what tells two machines' numerics apart."""
    extra = [f"{k}={v}" for k, v in machine.items() if k not in ("cpu", "usable_cores", "isa")]
    return ", ".join([str(machine.get("cpu")), str(machine.get("isa")), *extra])


def _choose(key: tuple[str, int], rows: list[dict], home: dict | None, left_out: list[dict]) -> dict:
    """The run that counts for one seed: the first made on the reference's machine (`home`), else the first listed.

    Every other run must agree with it on the clean and the worst moderate test score, except a run
    without a machine record (older than the record) when the chosen one was made at home: that
    one was made elsewhere, and is left out. A record says where a result trained, so it wins
    whatever order `dvc exp show` lists the runs in.

    Training differs between machines (steel_defect/machine.py): a rerun of seed 1 on another
    machine once matched the first on clean images only. Two runs on the same machine must agree.
    """
    at_home = [r for r in rows if home is not None and r.get("machine") == home]
    chosen = (at_home or rows)[0]
    for row in rows:
        differ = [score for score in SCORES if row[score] != chosen[score]]
        if not differ:
            continue
        if at_home and row.get("machine") is None:
            left_out.append({"name": row["name"], "seed": key[1], "why": f"no machine record, disagrees with {chosen['name']}"})
            continue
        raise ValueError(
            f"{row['name']} and {chosen['name']} ran the same pipeline on {key[0]} seed {key[1]} but scored "
            f"{row[differ[0]]} and {chosen[differ[0]]} ({differ[0]})"
        )
    return chosen


def _differences(reference: Run, other: Run, up: Upstream) -> list[str]:
    """The shared params, then the described setting (describe), in which `other` is not `reference`."""
    setting = describe(reference)
    return param_differences(reference, other, up) + [k for k, v in describe(other).items() if v != setting[k]]


def _kept_rows(kept: dict | None, reference: Run, up: Upstream, model: str):
    """The runs of an earlier table, checked to be this reference's setting, marked as kept."""
    if not kept:
        return []
    if kept.get("model") != model or "params" not in kept:
        raise ValueError("the table to keep was gathered for another model or before tables recorded their params")
    # the table's reference as a Run: its params, and its identity where a run keeps it (evaluate's metrics)
    earlier = Run(name="the kept table", rev="", params=kept["params"], code={}, data=None, files={EVALUATE: kept["identity"]})
    if differ := _differences(reference, earlier, up):
        raise ValueError(f"the table to keep was gathered for another setting: it differs in {', '.join(differ)}")
    return [
        ((strategy, row["seed"]), {**row, "kept": True})
        for strategy, result in kept["strategies"].items()
        for row in result["runs"]
    ]


def describe(reference: Run) -> dict:
    """What the table's footnote says about the model a reference's pipeline trains; a key absent
    from older params reads as its default then (off), as the code that ran without it behaved."""
    params = reference.params
    augment = params.get("augment") or {}
    backbone = params.get("model") or {}
    finetune = params.get("finetune") or {}
    return {
        "identity": reference.identity,
        # the chance each change reaches a copy (augment.probability): every change on every copy before it existed
        # and brightness/contrast's and specks' own chances (augment.light_probability, augment.specks_probability;
        # null: the same chance, so it reads as that)
        "augment": {
            **{k: augment.get(k, 0) for k in KEYS},
            "probability": augment.get("probability", 1.0),
            "light_probability": _chance(augment, "light_probability"),
            "specks_probability": _chance(augment, "specks_probability"),
            "line_probability": _chance(augment, "line_probability"),
        },
        "normalize": backbone.get("normalize", "none"),
        "prefilter": backbone.get("prefilter", 1),
        # where fine-tuning starts, read as the features stage reads it; None for fixtures that never fine-tune
        "unfreeze_from": unfreeze_setting(params) if "finetune" in params else None,
        "validation": finetune.get("validation", "clean"),
        "ema": finetune.get("ema", 0),
    }


def _chance(augment: dict, key: str) -> float:
    """A change's own chance (augment.KEY), or augment.probability where null or absent, as augment reads it."""
    chance = augment.get(key)
    return augment.get("probability", 1.0) if chance is None else chance


def _cell(summary: dict, goal: float | None = None) -> str:
    text = f"{100 * summary['mean']:.2f}"
    if summary["std"] is not None:
        text += f" ± {100 * summary['std']:.2f}"
    if goal is not None and summary["mean"] < goal - 1e-9:
        text += " (below goal)"
    return text


def _family(name: str, families: dict, goal_each: float) -> tuple[str, float]:
    """A family's row label (with what training showed of it, for runs that record it) and its goal."""
    label, held_out = name.replace("_", " "), families.get("held_out", [])
    if name in held_out:
        label += " (held out of training)"
    elif families:
        label += " (not trained on)" if name in families.get("not_trained", []) else " (trained on)"
    return label, goal(name, held_out, goal_each)


def markdown(table: dict, goal_each: float, goal_worst: float, goal_clean: float, command: str) -> str:
    """Per strategy: one row per perturbation (mean ± std of its worst moderate accuracy), then clean and worst."""
    parts = []
    for strategy, result in table["strategies"].items():
        families = result.get("families") or {}
        rows = []
        for p, s in result["perturbations"].items():
            name, target = _family(p, families, goal_each)
            rows.append([name, _cell(s, target)])
        if "first_families_worst_moderate_accuracy" in result:
            first = result["first_families_worst_moderate_accuracy"]
            rows.append(["**worst moderate without the line camera, per seed**", _cell(first, goal_worst)])
            rows.append(["**worst moderate with it, per seed**", _cell(result["worst_moderate_accuracy"], GOAL_LINE_CAMERA)])
        else:
            rows.append(["**worst moderate, per seed**", _cell(result["worst_moderate_accuracy"], goal_worst)])
        if "held_out_worst_moderate_accuracy" in result:
            rows.append(["**held-out families, worst moderate per seed**", _cell(result["held_out_worst_moderate_accuracy"])])
        rows.append(["clean", _cell(result["clean_accuracy"], goal_clean)])
        seeds = "; ".join(
            f"seed {r['seed']} ({r['name']}{', kept from the earlier table' if r.get('kept') else ''}): "
            f"{r['clean_errors']} clean errors, worst moderate "
            f"{100 * r['worst_moderate_accuracy']:.1f}% ({r['worst_moderate']})"
            for r in result["runs"]
        )
        frame = pd.DataFrame(rows, columns=["perturbation (worst moderate strength)", f"{strategy} split, accuracy (%)"])
        parts.append(markdown_table(frame) + f"\n{len(result['runs'])} seed(s): {seeds}.\n")
    augment = table.get("augment") or {}
    light = label({k: augment.get(k, 0) for k in KEYS})
    if augment.get("probability", 1.0) < 1:
        light += f", each change with probability {augment['probability']:g}"
    if _chance(augment, "light_probability") != augment.get("probability", 1.0):
        light += f", brightness and contrast with probability {_chance(augment, 'light_probability'):g}"
    if augment.get("specks") and _chance(augment, "specks_probability") != augment.get("probability", 1.0):
        light += f", specks with probability {_chance(augment, 'specks_probability'):g}"
    if any(augment.get(k) for k in LINE_CAMERA) and _chance(augment, "line_probability") != augment.get("probability", 1.0):
        light += f", each line-camera change with probability {_chance(augment, 'line_probability'):g}"
    identity = table["identity"]
    which = "deployed" if table["model"] in ("keras", DEPLOYED) else f"deployed {table['model']}"
    about_model = {
        "per_image": ", each image standardised inside the model",
        "center": ", each image's mean removed inside the model (model.normalize center)",
    }.get(table.get("normalize"), "")
    if (table.get("prefilter") or 1) > 1:
        about_model += f", a {table['prefilter']}-pixel box blur inside the model (model.prefilter)"
    if table.get("unfreeze_from") is not None:  # absent from tables gathered before it was recorded
        about_model += f", fine-tuned from {table['unfreeze_from']}"
    if table.get("validation") == "perturbed":
        about_model += ", early stopping on perturbed validation images too (finetune.validation)"
    if table.get("ema"):
        about_model += f", the moving average of the weights kept (finetune.ema {table['ema']:g})"
    where = ""
    if table.get("machine"):
        where = f" Trained on {machine_text(table['machine'])} (runs without a machine record predate 664cd10)."
    groups: dict[tuple[int, str], list[str]] = {}
    for r in table.get("left_out") or []:  # the commits of one old run share its result: one line for them all
        groups.setdefault((r["seed"], r["why"]), []).append(r["name"])
    if groups:
        shown = "; ".join(
            f"{min(names)}{f' and {len(names) - 1} more' if len(names) > 1 else ''} (seed {seed}: {why})"
            for (seed, why), names in sorted(groups.items())
        )
        where += f" Left out, made elsewhere: {shown}."
    return "\n".join(parts) + (
        f"\nMean ± sample std over split seeds of the {which} model's test accuracy, each perturbation at "
        f"its worst moderate strength (robustness.moderate). Photometric augmentation: {light}. "
        f"{identity.get('backbone')} ({identity.get('weights')}), {identity.get('input')} input"
        f"{about_model}. Goals (means over seeds): each perturbation >= {100 * goal_each:g}% (the line-scan camera's "
        f"stripes and dead columns >= {100 * GOAL_LINE_CAMERA:g}%, families held out of training >= {100 * GOAL_HELD_OUT:g}%), "
        f"worst >= {100 * goal_worst:g}% (families held out of training apart), clean >= {100 * goal_clean:g}%.{where} "
        f"Generated by `{command}`.\n"
    )
