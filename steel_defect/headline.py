"""The README's headline numbers, each read from the file that holds it and linked to it.

The compare stage writes them to metrics/headline.md, so the first numbers a newcomer reads are as
current as `dvc repro` and never typed by hand. A number whose file is missing is left out.
"""

from __future__ import annotations

import pandas as pd

from steel_defect.tables import markdown_table

PAPER = "Kateb, Khebli, Meglouli (2024): 98.06% validated on its test images, 27 ms per image on a CPU"


def _pct(x: float) -> str:
    return f"{100 * x:.2f}%"


def camera_faults(robustness: dict) -> str | None:
    """The deployed model's worst moderate accuracy in each group of families: those training showed, those it
    did not, and those held out of it by declaration (metrics/robustness.json's `families`); None for older files."""
    groups, model = robustness.get("families"), robustness.get("deployed", {}).get("model")
    if not groups or model not in robustness:
        return None
    moderate = robustness[model]["moderate"]
    parts = []
    for key, label in (("trained", "trained on"), ("not_trained", "not trained on"), ("held_out", "held out of training")):
        scored = [(moderate[n]["accuracy"], n) for n in groups[key] if n in moderate]
        if scored:
            worst, name = min(scored)
            names = ", ".join(n.replace("_", " ") for n in groups[key])
            parts.append(f"{label} ({names}): **{_pct(worst)}** ({name.replace('_', ' ')})")
    return "; ".join(parts)


def headline(
    evaluate: dict,
    benchmark: dict | None,
    robust_seeds: dict | None,
    curve: dict | None,
    split_seed: int,
    strategy: str,
    robustness: dict | None = None,
) -> str:
    """A short Markdown table: what was measured, the number, and the file it comes from."""
    chosen = f" ({evaluate['chosen']})" if "chosen" in evaluate else ""
    images = f", {evaluate['test_images']} images never used to train or choose it" if "test_images" in evaluate else ""
    errors = f" ({evaluate['errors']} errors)" if "errors" in evaluate else ""
    rows = [
        [
            f"Test accuracy of the deployed model{chosen}, split seed {split_seed} ({strategy}){images}",
            f"**{_pct(evaluate['accuracy'])}**{errors}",
            "[metrics/evaluate/metrics.json](metrics/evaluate/metrics.json)",
        ]
    ]
    faults = camera_faults(robustness) if robustness else None
    if faults:
        rows.append(
            [
                "Same model, camera faults at moderate strength, the worst of each group of families "
                f"({robustness['test_images']} test images each)",
                faults,
                "[metrics/robustness.json](metrics/robustness.json)",
            ]
        )
    stratified = ((robust_seeds or {}).get("strategies") or {}).get("stratified")
    if stratified:
        runs = stratified["runs"]
        errors, images = sum(r["clean_errors"] for r in runs), sum(r["test_images"] for r in runs)
        seeds = ", ".join(str(s) for s in stratified["seeds"])
        rows.append(
            [
                f"Over stratified split seeds {seeds}: clean test accuracy",
                f"**{100 * (1 - errors / images):.2f}%** ({errors} errors in {images:,})",
                "[metrics/robust_seeds.json](metrics/robust_seeds.json)",
            ]
        )
        worst = f"**{_pct(stratified['worst_moderate_accuracy']['mean'])}**"
        if first := stratified.get("first_families_worst_moderate_accuracy"):  # tables since the line camera's families
            worst = f"**{_pct(first['mean'])}** without the line camera's stripes and dead columns, {worst} with them"
        rows.append(
            [
                "Same seeds, the worst moderate camera fault each seed meets (noise, specks, light, blur, JPEG, tilt), mean",
                worst,
                "[metrics/robust_seeds.json](metrics/robust_seeds.json)",
            ]
        )
    if benchmark and "float32" in benchmark:
        cpu = benchmark.get("machine", {})
        rows.append(
            [
                f"Latency per image, exported LiteRT float32 model, batch 1, {cpu.get('usable_cores', '?')} cores "
                f"({cpu.get('cpu', 'this machine')})",
                f"**{benchmark['float32']['ms_batch1_median']:.1f} ms** (Keras {benchmark['keras']['ms_batch1_median']:.1f} ms)",
                "[metrics/benchmark.json](metrics/benchmark.json)",
            ]
        )
    if curve and "self_training" in curve and "baseline" in curve:
        n = min(curve["self_training"], key=int)
        rows.append(
            [
                f"{n} labelled image(s) per class, the rest of the training images unlabelled: self-training "
                f"(labels alone: {_pct(curve['baseline'][n]['mean'])})",
                f"**{_pct(curve['self_training'][n]['mean'])}** (mean of {curve['self_training'][n]['repeats']} draws)",
                "[metrics/learning_curve.json](metrics/learning_curve.json)",
            ]
        )
    table = markdown_table(pd.DataFrame(rows, columns=["measured", "value", "file"]))
    return f"{table}\nThe paper reproduced: {PAPER}. Generated by `dvc repro compare`.\n"
