import zipfile
from pathlib import Path

import pandas as pd
import pytest

from stages import fetch
from steel_defect.dataset import read_manifest
from steel_defect.errors import UserError
from tests.conftest import CLASSES, PER_CLASS, set_param, tree_digest, write_checksums


def test_fetch_copies_verifies_and_records_duplicates(project: Path):
    before = tree_digest(project / "source")
    fetch.main()
    manifest = read_manifest("data/raw")
    assert len(manifest) == len(CLASSES) * PER_CLASS
    assert set(manifest["class"]) == set(CLASSES)
    assert list(manifest.columns[:6]) == ["path", "class", "sha256", "width", "height", "mode"]
    assert (manifest[["width", "height"]] == 32).all().all()
    dups = manifest[manifest["duplicate_of"] != ""]
    assert dups["path"].tolist() == ["patches/Pa_9.jpg"] and dups["duplicate_of"].tolist() == ["patches/Pa_5.jpg"]
    assert all((Path("data/raw") / p).read_bytes() == (project / "source" / p).read_bytes() for p in manifest["path"])
    assert tree_digest(project / "source") == before, "fetch must never modify its source"


def test_fetch_from_zip_with_wrapper_folder(project: Path):
    with zipfile.ZipFile("neu.zip", "w") as zf:
        for f in (project / "source").rglob("*"):
            zf.write(f, "NEU-CLS/" + f.relative_to(project / "source").as_posix())
    set_param(project, "data.source", "neu.zip")
    fetch.main()
    assert len(read_manifest("data/raw")) == len(CLASSES) * PER_CLASS


def test_zip_member_outside_output_is_refused(project: Path):
    with zipfile.ZipFile("evil.zip", "w") as zf:
        zf.writestr("../outside.txt", "x")
    set_param(project, "data.source", "evil.zip")
    with pytest.raises(UserError, match=r"outside the output folder"):
        fetch.main()
    assert not (project / "outside.txt").exists()


def corrupt(path: Path, data: bytes, rehash: bool = True) -> None:
    path.chmod(0o644)
    path.write_bytes(data)
    if rehash:
        write_checksums(path.parent.parent)


@pytest.mark.parametrize(
    "damage, message",
    [
        (lambda f: corrupt(f, f.read_bytes()[:-1] + b"x", rehash=False), "sha256 mismatch"),
        (lambda f: corrupt(f, b""), "empty file"),
        (lambda f: corrupt(f, f.read_bytes()[:200]), "not a readable image"),
        (lambda f: corrupt(f, b"just some text, not pixels"), "not a readable image"),
    ],
    ids=["checksum", "zero-byte", "truncated", "non-image"],
)
def test_bad_file_is_named(project: Path, damage, message):
    bad = project / "source" / "crazing" / "Cr_3.bmp"
    damage(bad)
    with pytest.raises(UserError, match=message) as err:
        fetch.main()
    assert "Cr_3.bmp" in str(err.value)
    assert not Path("data/raw").exists(), "a failed fetch leaves no output"


def test_wrong_size_is_named(project: Path):
    set_param(project, "data.expected_size", [64, 64])
    with pytest.raises(UserError, match=r"Cr_1\.\w+: image is 32x32, expected 64x64"):
        fetch.main()


def test_failed_fetch_keeps_previous_output(project: Path):
    fetch.main()
    before = tree_digest(Path("data/raw"))
    corrupt(project / "source" / "scratches" / "Sc_2.jpg", b"")
    with pytest.raises(UserError):
        fetch.main()
    assert tree_digest(Path("data/raw")) == before
    assert sorted(p.name for p in Path("data").iterdir()) == ["dataset.json", "raw"], "no temporary folder left behind"


def test_empty_class_folder(project: Path):
    (project / "source" / "inclusion").mkdir()
    with pytest.raises(UserError, match=r"inclusion: class folder has no images"):
        fetch.main()


def test_single_class(project: Path, tmp_path: Path):
    only = tmp_path / "one"
    (only / "crazing").mkdir(parents=True)
    first = next((project / "source" / "crazing").iterdir())
    first.rename(only / "crazing" / first.name)
    set_param(project, "data.source", str(only))
    with pytest.raises(UserError, match=r"found 1 class folder\(s\) \(crazing\); need at least 2"):
        fetch.main()


def test_missing_source(project: Path):
    set_param(project, "data.source", "nowhere")
    with pytest.raises(UserError, match=r"data.source 'nowhere' does not exist"):
        fetch.main()


def test_unreachable_url_says_what_to_do(project: Path):
    set_param(project, "data.source", "http://127.0.0.1:9/neu.zip")
    with pytest.raises(UserError, match=r"download failed .*set data.source to its path"):
        fetch.main()


def test_unlisted_file_is_refused(project: Path):
    folder = project / "source" / "crazing"
    (folder / "Cr_99.png").write_bytes(next(folder.glob("Cr_2.*")).read_bytes())
    with pytest.raises(UserError, match=r"Cr_99.png: not listed in"):
        fetch.main()


def test_manifest_is_readable_csv(project: Path):
    fetch.main()
    assert pd.read_csv("data/raw/manifest.csv")["sha256"].str.len().eq(64).all()
