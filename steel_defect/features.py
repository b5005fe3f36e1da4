"""Run the frozen backbone once per image and keep what training needs: pooled features and the cut activations.

With perturbed validation (finetune.validation), the validation originals also go through under each
listed perturbation: fine-tuning's early stopping then watches the loss on images like the line's.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from steel_defect.dataset import DatasetSpec
from steel_defect.errors import UserError
from steel_defect.model import cut_names, cut_tensors, pooled_backbone, unfreeze_index
from steel_defect.perturb import perturb

TABLE_COLUMNS = ("path", "class", "subset")
PERTURBED = "val_perturbed"  # subset of the validation rows under a perturbation; column 'perturbation' names it


def image_table(split_csv: str | Path, augmented_dir: str | Path, raw_dir: str | Path) -> pd.DataFrame:
    """Every image the model sees: the split's originals plus the augmented copies (subset 'augmented')."""
    split = pd.read_csv(split_csv, keep_default_na=False)[["path", "class", "subset"]].assign(root=str(raw_dir))
    manifest = Path(augmented_dir) / "manifest.csv"
    if not manifest.exists():
        raise UserError(f"{manifest}: missing; run `dvc repro augment` first")
    augmented = pd.read_csv(manifest, keep_default_na=False)[["path", "class"]].assign(
        subset="augmented", root=str(augmented_dir)
    )
    return pd.concat([split, augmented], ignore_index=True)


def with_perturbed_validation(table: pd.DataFrame, perturbations: dict[str, list[float]]) -> pd.DataFrame:
    """`table` plus the validation originals once more per perturbation and strength (subset PERTURBED).

    The column 'perturbation' ("salt_pepper 0.01", or "" for every other row) is added only when there
    are such rows, so a cache without perturbed validation is the same file as before it existed.
    """
    val = table[table["subset"] == "val"]
    labels = [setting_label(name, v) for name, values in perturbations.items() for v in values]
    parts = [val.assign(subset=PERTURBED, perturbation=label) for label in labels]
    return pd.concat([table.assign(perturbation=""), *parts], ignore_index=True) if parts else table


def setting_label(name: str, value: float) -> str:
    """'name value', the value as repr writes a float: `parse_setting` reads back exactly what was asked for."""
    return f"{name} {float(value)!r}"


def parse_setting(label: str) -> tuple[str, float]:
    name, value = label.rsplit(" ", 1)
    return name, float(value)


def extract(
    backbone: keras.Model,
    unfreeze_from,
    table: pd.DataFrame,
    spec: DatasetSpec,
    batch_size: int = 64,
    chunk: int = 512,
    seed: int = 0,
) -> dict:
    """Arrays keyed 'pooled', 'cut_0', 'cut_1', ... (one row per table row) and 'cut_names' (where the cut is).

    Rows with a 'perturbation' are perturbed as loaded, one generator per setting seeded from `seed`
    (steel_defect.perturb), so reruns match; a setting's rows are contiguous and go through in one call.
    """
    cut = cut_tensors(backbone, unfreeze_index(backbone, unfreeze_from))
    extractor = keras.Model(backbone.input, [pooled_backbone(backbone), *cut])
    settings = table["perturbation"] if "perturbation" in table else pd.Series("", index=table.index)
    outputs: list[list[np.ndarray]] = []
    for setting, start, stop in _batches(settings.to_list(), chunk):
        rows = table.iloc[start:stop]
        images = spec.load([str(Path(root) / path) for root, path in zip(rows["root"], rows["path"], strict=True)], root=".")
        images = images.astype("float32")
        if setting:
            images = perturb(images, *parse_setting(setting), seed)
        outputs.append([np.asarray(o) for o in extractor.predict(images, batch_size=batch_size, verbose=0)])
        print(f"features: {stop}/{len(table)} images through the frozen backbone {setting}".rstrip(), flush=True)
    merged = [np.concatenate(parts) for parts in zip(*outputs, strict=True)]
    return {"pooled": merged[0], **{f"cut_{i}": a for i, a in enumerate(merged[1:])}, "cut_names": np.array(cut_names(cut))}


def _batches(settings: list[str], chunk: int) -> list[tuple[str, int, int]]:
    """(setting, start, stop): unperturbed rows in chunks of `chunk`, each perturbed setting's rows whole."""
    out, start = [], 0
    while start < len(settings):
        stop = start
        while stop < len(settings) and settings[stop] == settings[start] and (settings[start] or stop - start < chunk):
            stop += 1
        out.append((settings[start], start, stop))
        start = stop
    return out


def load_features(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """The image table and the arrays written by the features stage."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: missing; run `dvc repro features` first")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    table = pd.DataFrame({k: arrays.pop(k) for k in TABLE_COLUMNS})
    if "perturbation" in arrays:
        table["perturbation"] = arrays.pop("perturbation")
    return table, arrays
