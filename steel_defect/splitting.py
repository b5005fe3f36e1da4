"""Stratified train/val/test splits that never let duplicates or near-copies straddle two subsets."""

from __future__ import annotations

import re

import pandas as pd
from sklearn.model_selection import train_test_split

from steel_defect.errors import UserError

STRATEGIES = ["stratified", "grouped"]
MIN_GROUPS = 3  # one each for train, validation and test


def image_number(path: str) -> int | None:
    """The trailing number of a file stem ('patches/Pa_101.bmp' -> 101), None when there is none."""
    match = re.search(r"(\d+)$", path.rsplit("/", 1)[-1].rsplit(".", 1)[0])
    return int(match.group(1)) if match else None


def assign_groups(manifest: pd.DataFrame, strategy: str, group_size: int) -> pd.Series:
    """A group id per image: images sharing one always land in the same subset.

    Byte-identical files always share a group. With 'grouped', runs of `group_size` consecutive
    image numbers within a class do too, because neighbouring NEU images are near-copies.
    """
    if strategy not in STRATEGIES:
        raise UserError(f"params.yaml: 'split.strategy' is {strategy!r}; choose one of {', '.join(STRATEGIES)}")
    canonical = manifest["duplicate_of"].where(manifest["duplicate_of"] != "", manifest["path"])
    if strategy == "stratified":
        return canonical
    numbers = pd.Series(0, index=manifest.index)
    for _, paths in manifest.groupby("class")["path"]:
        found = [image_number(p) for p in paths]
        if None in found:  # no numbers in the names: fall back to sorted order
            found = list(range(len(paths)))
        numbers[paths.index] = [n - min(found) for n in found]
    blocks = manifest["class"] + "#" + (numbers // group_size).astype(str)
    # a duplicate joins the block of the file it duplicates
    block_of_path = dict(zip(manifest["path"], blocks, strict=True))
    return canonical.map(block_of_path)


def split_groups(groups: pd.Series, labels: pd.Series, test_fraction: float, seed: int, what: str) -> tuple[pd.Index, pd.Index]:
    """Stratified split of whole groups; returns the row indices of the two sides."""
    table = pd.DataFrame({"group": groups, "label": labels}).drop_duplicates("group")
    counts = table["label"].value_counts()
    if (counts < 2).any():
        raise UserError(f"{what}: class {counts.idxmin()!r} has only {counts.min()} group(s); need at least 2 to split")
    try:
        keep, held = train_test_split(table["group"], test_size=test_fraction, stratify=table["label"], random_state=seed)
    except ValueError as err:
        raise UserError(
            f"params.yaml: '{what}' is {test_fraction}: cannot make a stratified split ({err}); change it or add images"
        ) from None
    return groups.index[groups.isin(set(keep))], groups.index[groups.isin(set(held))]


def make_split(
    manifest: pd.DataFrame,
    test_fraction: float,
    val_fraction: float,
    seed: int,
    strategy: str = "stratified",
    group_size: int = 10,
) -> pd.DataFrame:
    """Assign every image to train, val or test; val is carved out of the training part."""
    groups = assign_groups(manifest, strategy, group_size)
    labels = manifest["class"]
    per_class = pd.DataFrame({"group": groups, "label": labels}).drop_duplicates("group")["label"].value_counts()
    for cls, n in per_class.items():
        if n < MIN_GROUPS:
            images = int((labels == cls).sum())
            raise UserError(
                f"data/raw/{cls}: class has {images} image(s) in {n} split group(s); the split needs at least {MIN_GROUPS} "
                "per class (train, validation, test): add images to the class folder or remove it"
            )
    rest, test = split_groups(groups, labels, test_fraction, seed, "split.test_fraction")
    train, val = split_groups(groups[rest], labels[rest], val_fraction, seed, "split.val_fraction")
    subset = pd.Series("train", index=manifest.index)
    subset[test] = "test"
    subset[val] = "val"
    return pd.DataFrame({"path": manifest["path"], "class": labels, "group": groups, "subset": subset})


def subset_counts(split: pd.DataFrame) -> dict:
    """Images per subset and class, for the metrics file."""
    table = split.groupby(["subset", "class"]).size().unstack(fill_value=0)
    return {subset: {**{c: int(n) for c, n in row.items()}, "total": int(row.sum())} for subset, row in table.iterrows()}
