"""Run the frozen backbone once per image and keep what training needs: pooled features and the cut activations."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pandas as pd

from steel_defect.dataset import DatasetSpec
from steel_defect.errors import UserError
from steel_defect.model import cut_names, cut_tensors, pooled_backbone, unfreeze_index

TABLE_COLUMNS = ("path", "class", "subset")


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


def extract(
    backbone: keras.Model, unfreeze_from, table: pd.DataFrame, spec: DatasetSpec, batch_size: int = 64, chunk: int = 512
) -> dict:
    """Arrays keyed 'pooled', 'cut_0', 'cut_1', ... (one row per table row) and 'cut_names' (where the cut is)."""
    cut = cut_tensors(backbone, unfreeze_index(backbone, unfreeze_from))
    extractor = keras.Model(backbone.input, [pooled_backbone(backbone), *cut])
    outputs: list[list[np.ndarray]] = []
    for start in range(0, len(table), chunk):
        rows = table.iloc[start : start + chunk]
        images = spec.load([str(Path(root) / path) for root, path in zip(rows["root"], rows["path"], strict=True)], root=".")
        outputs.append([np.asarray(o) for o in extractor.predict(images.astype("float32"), batch_size=batch_size, verbose=0)])
        print(f"features: {min(start + chunk, len(table))}/{len(table)} images through the frozen backbone", flush=True)
    merged = [np.concatenate(parts) for parts in zip(*outputs, strict=True)]
    return {"pooled": merged[0], **{f"cut_{i}": a for i, a in enumerate(merged[1:])}, "cut_names": np.array(cut_names(cut))}


def load_features(path: str | Path) -> tuple[pd.DataFrame, dict]:
    """The image table and the arrays written by the features stage."""
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: missing; run `dvc repro features` first")
    with np.load(path, allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    table = pd.DataFrame({k: arrays.pop(k) for k in TABLE_COLUMNS})
    return table, arrays
