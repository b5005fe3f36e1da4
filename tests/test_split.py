from pathlib import Path

import pandas as pd
import pytest

from stages import fetch, split
from steel_defect.dataset import read_manifest
from steel_defect.errors import UserError
from steel_defect.splitting import make_split
from tests.conftest import set_param


def neu_like_manifest(per_class: int = 300) -> pd.DataFrame:
    """A manifest shaped like NEU-CLS (6 x 300, Pa_105 duplicates Pa_101) without any pixels."""
    rows = []
    for cls, prefix in [
        ("crazing", "Cr"),
        ("inclusion", "In"),
        ("patches", "Pa"),
        ("pitted_surface", "PS"),
        ("rolled-in_scale", "RS"),
        ("scratches", "Sc"),
    ]:
        for n in range(1, per_class + 1):
            dup = "patches/Pa_101.bmp" if prefix == "Pa" and n == 105 else ""
            rows.append({"path": f"{cls}/{prefix}_{n}.bmp", "class": cls, "duplicate_of": dup})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def manifest() -> pd.DataFrame:
    return neu_like_manifest()


@pytest.mark.parametrize("strategy", ["stratified", "grouped"])
def test_subsets_are_stratified_and_disjoint(manifest, strategy):
    s = make_split(manifest, 0.2, 0.1, seed=0, strategy=strategy, group_size=10)
    assert len(s) == len(manifest) and s["path"].is_unique
    counts = s.groupby(["subset", "class"]).size().unstack()
    assert counts.loc["test"].between(50, 70).all(), counts
    assert counts.loc["val"].between(18, 36).all(), counts
    assert s.groupby("group")["subset"].nunique().max() == 1, "a group straddles two subsets"


@pytest.mark.parametrize("seed", range(3))
def test_stratified_split_matches_requested_sizes(manifest, seed):
    sizes = make_split(manifest, 0.2, 0.1, seed=seed)["subset"].value_counts()
    # 1799 groups (the duplicate pair counts once), so a subset may hold one image more
    for subset, expected in {"train": 1296, "test": 360, "val": 144}.items():
        assert abs(sizes[subset] - expected) <= 1, sizes


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("strategy", ["stratified", "grouped"])
def test_duplicate_pair_stays_on_one_side(manifest, seed, strategy):
    s = make_split(manifest, 0.2, 0.1, seed=seed, strategy=strategy).set_index("path")
    assert s.loc["patches/Pa_101.bmp", "subset"] == s.loc["patches/Pa_105.bmp", "subset"]


def test_grouped_split_keeps_blocks_of_consecutive_numbers(manifest):
    s = make_split(manifest, 0.2, 0.1, seed=3, strategy="grouped", group_size=10)
    number = s["path"].str.extract(r"_(\d+)\.")[0].astype(int)
    block = s["class"] + (number - 1).floordiv(10).astype(str)
    assert s.groupby(block)["subset"].nunique().max() == 1


def test_same_seed_same_split_other_seed_different(manifest):
    a = make_split(manifest, 0.2, 0.1, seed=7)
    assert a.equals(make_split(manifest, 0.2, 0.1, seed=7))
    assert not a["subset"].equals(make_split(manifest, 0.2, 0.1, seed=8)["subset"])


def test_split_stage_writes_csv_and_counts(project: Path):
    fetch.main()
    split.main()
    s = pd.read_csv("data/split.csv")
    assert set(s["subset"]) == {"train", "val", "test"}
    assert set(s["path"]) == set(read_manifest("data/raw")["path"])
    assert Path("metrics/split.json").exists()


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("split.strategy", "random", r"'split.strategy' is 'random'; choose one of stratified, grouped"),
        ("split.test_fraction", 1.5, r"'split.test_fraction' is 1.5"),
        ("split.val_fraction", "a lot", r"'split.val_fraction' is 'a lot'; expected a number"),
        ("split.seed", -1, r"'split.seed' is -1; expected at least 0"),
    ],
)
def test_bad_param_names_the_key(project: Path, key, value, message):
    fetch.main()
    set_param(project, key, value)
    with pytest.raises(UserError, match=message):
        split.main()
    assert not Path("data/split.csv").exists()
