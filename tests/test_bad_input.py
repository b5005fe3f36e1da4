"""The bad-input matrix: every case exits 1 with one line naming the file or key, and writes nothing.

Each case runs the stage as `python -m stages.X` would (through run_stage), on the tiny dataset.
"""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest

from stages import fetch, split
from steel_defect.errors import run_stage
from steel_defect.params import KNOWN_KEYS, _known
from tests.conftest import bomb_png_bytes, set_param, write_checksums

SOURCE = "source"


def rewrite(path: Path, data: bytes) -> None:
    path.chmod(0o644)
    path.write_bytes(data)
    write_checksums(path.parent.parent)


def bomb_png(path: Path) -> None:
    path.write_bytes(bomb_png_bytes())
    write_checksums(path.parent.parent)


def only_class(project: Path) -> None:
    for folder in (project / SOURCE).iterdir():
        if folder.is_dir() and folder.name != "crazing":
            for f in folder.iterdir():
                f.unlink()
            folder.rmdir()
    write_checksums(project / SOURCE)


def few_images(project: Path) -> None:
    for f in sorted((project / SOURCE / "scratches").iterdir())[2:]:
        f.unlink()
    write_checksums(project / SOURCE)


def zip_slip(project: Path) -> None:
    with zipfile.ZipFile(project / "evil.zip", "w") as zf:
        zf.writestr("../outside.txt", "x")
    set_param(project, "data.source", "evil.zip")


def odd_size_refused(project: Path) -> None:
    from PIL import Image

    path = next((project / SOURCE / "crazing").glob("Cr_4.*"))
    with Image.open(path) as img:
        img.resize((30, 32)).save(path)
    write_checksums(project / SOURCE)
    set_param(project, "data.expected_size", None)
    set_param(project, "data.odd_size", "refuse")


def cr3(project: Path) -> Path:
    return project / SOURCE / "crazing" / "Cr_3.bmp"


CASES = {
    "missing source": (lambda p: set_param(p, "data.source", "nowhere"), fetch, r"data.source 'nowhere' does not exist"),
    "empty source": (
        lambda p: ((p / "empty").mkdir(), set_param(p, "data.source", "empty")),
        fetch,
        r"empty: found 0 class folder\(s\) \(none\); need at least 2",
    ),
    "class folder with no images": (
        lambda p: ((p / SOURCE / "inclusion").mkdir(), (p / SOURCE / "inclusion" / "notes.txt").write_text("x")),
        fetch,
        r"source/inclusion: class folder has no images",
    ),
    "one class only": (only_class, fetch, r"found 1 class folder\(s\) \(crazing\); need at least 2"),
    "class too small to split": (few_images, split, r"data/raw/scratches: class has 2 image\(s\) .* needs at least 3 per class"),
    "zero-byte file": (lambda p: rewrite(cr3(p), b""), fetch, r"Cr_3.bmp: empty file \(0 bytes\)"),
    "truncated image": (lambda p: rewrite(cr3(p), cr3(p).read_bytes()[:200]), fetch, r"Cr_3.bmp: not a readable image"),
    "non-image with an image extension": (lambda p: rewrite(cr3(p), b"plain text"), fetch, r"Cr_3.bmp: not a readable image"),
    "decompression bomb": (
        lambda p: bomb_png(p / SOURCE / "crazing" / "Cr_99.png"),
        fetch,
        r"Cr_99.png: refused as a possible decompression bomb",
    ),
    "zip member escaping the output folder": (
        zip_slip,
        fetch,
        r"member '../outside.txt' would be written outside the output folder",
    ),
    "checksum mismatch": (
        lambda p: (cr3(p).chmod(0o644), cr3(p).write_bytes(cr3(p).read_bytes()[:-1] + b"x")),
        fetch,
        r"Cr_3.bmp: sha256 mismatch",
    ),
    "odd size with data.odd_size refuse": (
        odd_size_refused,
        fetch,
        r"crazing/Cr_4.\w+: image is 30x32 but most are 32x32 .*set data.odd_size: resize",
    ),
    "image size differs from data.expected_size": (
        lambda p: set_param(p, "data.expected_size", [64, 64]),
        fetch,
        r"Cr_1.\w+: image is 32x32, expected 64x64 \(data.expected_size; 60 such image\(s\)\); .*set data.expected_size: null",
    ),
    "unknown param": (
        lambda p: set_param(p, "fetch.expected_size", None),
        fetch,
        r"params.yaml: unknown key 'fetch.expected_size'; did you mean 'data.expected_size'\?",
    ),
    "misspelt param": (
        lambda p: set_param(p, "split.val_fractoin", 0.1),
        fetch,
        r"unknown key 'split.val_fractoin'; did you mean 'split.val_fraction'\?",
    ),
    "wrongly typed param": (
        lambda p: set_param(p, "data.expected_size", "big"),
        fetch,
        r"'data.expected_size' is 'big'; expected \[width, height\] or null",
    ),
    "param outside its choices": (
        lambda p: set_param(p, "data.color", "sepia"),
        fetch,
        r"'data.color' is 'sepia'; choose one of auto, grayscale, rgb",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_input_is_one_named_line_and_writes_nothing(project: Path, capsys: pytest.CaptureFixture, case: str):
    damage, stage, message = CASES[case]
    if stage is split:
        damage(project)
        fetch.main()
        capsys.readouterr()
    else:
        damage(project)
    with pytest.raises(SystemExit) as exit_info:
        run_stage(stage.main)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert re.search(message, err), err
    for key in re.findall(r"\b([a-z_]+\.[a-z_.]+)\b", err):
        if key.split(".")[0] in KNOWN_KEYS and "unknown key" not in err.split(key)[0][-14:]:
            assert _known(key), f"the message names {key!r}, which params.yaml cannot hold"
    written = {"fetch": [Path("data/raw"), Path("data/dataset.json")], "split": [Path("data/split.csv")]}[
        stage.__name__.split(".")[-1]
    ]
    assert not any(p.exists() for p in written), "a failed stage writes nothing"
    assert not list(Path(".").glob("data/.*")), "no temporary output left behind"
    assert not (project.parent / "outside.txt").exists()
