"""Which classes a perturbation confuses: the robustness stage counts errors, this says what they are.

Kept out of the pipeline (a benchmark reads the deployed model and metrics/robustness.json), so the
question "what does blur break?" is answered by a command rather than by hand. Chains of
perturbations live here too, not in perturb.py: every stage that perturbs depends on that file,
and analysis code added to it would re-run them.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from steel_defect.errors import UserError
from steel_defect.perturb import PERTURBATIONS, perturb
from steel_defect.tables import markdown_table


def saturated_ranges(images: np.ndarray, y: np.ndarray, predicted: np.ndarray, classes: list[str]) -> dict[str, list[float]]:
    """For each confusion 'true -> predicted', the least and the most of its images' pixels at 0 or 255.

    Tells a picture the perturbation wiped out (brightened until most of it is white) from one the
    model misreads with its texture intact.
    """
    share = ((images <= 0) | (images >= 255)).mean(axis=tuple(range(1, images.ndim)))
    ranges: dict[str, list[float]] = {}
    for i in np.flatnonzero(y != predicted):
        key = f"{classes[y[i]]} -> {classes[predicted[i]]}"
        lo, hi = ranges.get(key, [1.0, 0.0])
        ranges[key] = [min(lo, float(share[i])), max(hi, float(share[i]))]
    return ranges


def parse_chain(chain: str) -> list[tuple[str, float | None]]:
    """The steps of `chain`, e.g. 'motion_blur 5 + gaussian_noise 3', as (name, value); 'transpose' has no value.

    A step is 'name value' as `perturb` takes it, or 'transpose'; anything else is one UserError
    line naming the step, so a mistyped chain stops before any model loads.
    """
    steps: list[tuple[str, float | None]] = []
    for step in (s.strip() for s in chain.split("+")):
        if step == "transpose":
            steps.append((step, None))
            continue
        name, _, value = step.rpartition(" ")
        try:
            amount = float(value)
        except ValueError:
            amount = None
        if name not in PERTURBATIONS or amount is None:
            raise UserError(
                f"perturbation chain {chain!r}: step {step!r} is not 'name value' with a name of "
                f"{', '.join(PERTURBATIONS)}, or 'transpose'"
            )
        steps.append((name, amount))
    return steps


def perturb_chain(images: np.ndarray, chain: str, seed: int = 0) -> np.ndarray:
    """`images` under each step of `chain` (parse_chain) in turn.

    Each 'name value' step draws the same noise as the robustness stage does for that setting;
    'transpose' swaps rows and columns, so 'transpose + motion_blur 5 + transpose' streaks
    vertically. Combinations answer what a single perturbation cannot, such as whether noise on
    top of a streak restores the texture the streak removed.
    """
    x = np.asarray(images, dtype=np.float32)
    for name, value in parse_chain(chain):
        x = np.swapaxes(x, 1, 2) if value is None else perturb(x, name, value, seed)
    return x


def below_goal(robustness: dict, model: str, goal: float) -> list[tuple[str, float, float]]:
    """(perturbation, worst moderate strength, accuracy) of `model` below `goal`, worst first (metrics/robustness.json)."""
    moderate = robustness[model]["moderate"]
    rows = [(name, float(m["value"]), float(m["accuracy"])) for name, m in moderate.items() if m["accuracy"] < goal]
    return sorted(rows, key=lambda r: r[2])


def _clipped(r: dict, pair: str) -> str:
    """', 12-22% clipped' for a confusion whose images' saturated shares were recorded (saturated_ranges)."""
    if pair not in r.get("saturated", {}):
        return ""
    lo, hi = (round(100 * v) for v in r["saturated"][pair])
    return f", {lo}% clipped" if lo == hi else f", {lo}-{hi}% clipped"


def error_table(rows: list[dict], test_images: int, header: str) -> str:
    """One row per setting (its 'label'): its errors as 'true -> predicted (count)', out of each row's own
    'test_images' if it has one (split seeds differ by an image)."""
    frame = pd.DataFrame(
        [
            [r["label"], f"{r['errors']} ({100 * (1 - r['errors'] / r.get('test_images', test_images)):.1f}%)"]
            + ["; ".join(f"{t} -> {p} ({n}{_clipped(r, f'{t} -> {p}')})" for t, p, n in r["confusions"])]
            for r in rows
        ],
        columns=[header, "test errors", "true class -> predicted (count)"],
    )
    return markdown_table(frame)


def markdown(rows: list[dict], test_images: int, goal: float, command: str, chosen: bool = False) -> str:
    """One row per perturbation below the goal (or per setting `chosen` on the command line), per run:
    its errors as 'true -> predicted (count)'."""
    runs = {r.get("run", "workspace") for r in rows}
    prefix = (lambda r: "") if runs <= {"workspace"} else (lambda r: f"{r['run']}: ")
    labelled = [{**r, "label": f"{prefix(r)}{r['perturbation']} {r['value']:g}"} for r in rows]
    which = (
        "each setting asked for"
        if chosen
        else f"each perturbation whose worst moderate accuracy is below {100 * goal:g}% (metrics/robustness.json)"
    )
    clipped = (
        " Clipped: the share of a misread image's pixels at 0 or 255 once perturbed (least to most over the images"
        " of that confusion)."
        if any(r.get("saturated") for r in rows)
        else ""
    )
    header = "run: perturbation" if chosen else "perturbation (worst moderate strength)"
    sizes = " or ".join(str(n) for n in sorted({r.get("test_images", test_images) for r in rows} or {test_images}))
    return error_table(labelled, test_images, header) + (
        f"\nThe deployed Keras model on the {sizes} test images under {which}, perturbed as the robustness "
        f"stage does (same seed).{clipped} Generated by `{command}`.\n"
    )
