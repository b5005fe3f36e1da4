"""Which rows of the features table are augmented copies of which training original.

The learning curve gives a drawn original its own copies; fine-tuning with `finetune.consistency`
puts an original and its copies in one batch. Both read the augment stage's manifest
(data/augmented/manifest.csv: path, source), which names each copy's original.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from steel_defect.errors import UserError

MANIFEST = Path("data/augmented/manifest.csv")


def read_copies(path: str | Path = MANIFEST) -> pd.DataFrame:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: missing; run `dvc repro augment` first")
    return pd.read_csv(path, keep_default_na=False)


def copies_by_original(table: pd.DataFrame, manifest: pd.DataFrame) -> dict[str, np.ndarray]:
    """Original image path -> row numbers of its augmented copies in the features table."""
    source = dict(zip(manifest["path"], manifest["source"], strict=True))
    rows = table.index[table["subset"] == "augmented"]
    try:
        owners = [source[p] for p in table.loc[rows, "path"]]
    except KeyError as err:
        raise UserError(f"{MANIFEST}: no entry for augmented image {err}; run `dvc repro augment`") from None
    grouped = pd.Series(rows, dtype=int).groupby(pd.Series(owners, dtype=str))
    return {path: group.to_numpy() for path, group in grouped}


def original_groups(table: pd.DataFrame, manifest: pd.DataFrame) -> np.ndarray:
    """Row numbers of the table, one row per training original: the original, then its copies in order.

    Every original must have the same number of copies (the augment stage makes `augment.copies` of
    each), so a batch of whole groups reshapes to (groups, members).
    """
    copies = copies_by_original(table, manifest)
    originals = table.index[table["subset"] == "train"]
    members = [np.concatenate([[row], copies.get(table.at[row, "path"], np.array([], int))]) for row in originals]
    sizes = {len(m) for m in members}
    if sizes == {1}:
        raise UserError(
            "params.yaml: 'finetune.consistency' compares an image with its augmented copies; set 'augment.copies' >= 1"
        )
    if len(sizes) > 1:
        raise UserError(f"{MANIFEST}: training originals have {sorted(s - 1 for s in sizes)} copies; run `dvc repro augment`")
    return np.stack(members).astype(int)
