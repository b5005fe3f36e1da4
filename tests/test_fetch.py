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


def corrupt(path: Path, data: bytes, rehash: bool = True) -> None:
    path.chmod(0o644)
    path.write_bytes(data)
    if rehash:
        write_checksums(path.parent.parent)


def test_failed_fetch_keeps_previous_output(project: Path):
    fetch.main()
    before = tree_digest(Path("data/raw"))
    corrupt(project / "source" / "scratches" / "Sc_2.jpg", b"")
    with pytest.raises(UserError):
        fetch.main()
    assert tree_digest(Path("data/raw")) == before
    assert sorted(p.name for p in Path("data").iterdir()) == ["dataset.json", "raw"], "no temporary folder left behind"


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
