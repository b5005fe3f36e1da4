"""NEU-CLS with no local copy: fetch downloads the public copy from a local HTTP server, merges, renames, verifies."""

from __future__ import annotations

import functools
import hashlib
import http.server
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from stages import fetch
from steel_defect.errors import UserError, run_stage
from steel_defect.neu_cls import local_candidates
from tests.conftest import CLASSES, make_image, set_param

FOLDER = "NEU Metal Surface Defects Data"
PUBLIC_NAMES = {"crazing": "Crazing", "patches": "Patches", "scratches": "Scratches"}  # as the public copy names them
SPLITS = {"train": range(1, 9), "valid": range(9, 11), "test": range(11, 13)}  # 8/2/2 per class, like its 276/12/12


def public_archive(path: Path, corrupt: str | None = None) -> dict[str, str]:
    """A zip laid out as the public copy (a wrapper folder, split folders, its class names); returns NEU path -> sha256."""
    sums = {}
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("Surface-Defect-Detection-abc123/README.md", "not an image")
        for c, (cls, prefix) in enumerate(CLASSES.items()):
            for split, numbers in SPLITS.items():
                for n in numbers:
                    image = path.parent / f"{prefix}_{n}.bmp"
                    make_image(c, n).save(image)
                    data = image.read_bytes()
                    sums[f"{cls}/{prefix}_{n}.bmp"] = hashlib.sha256(data).hexdigest()
                    if corrupt == f"{cls}/{prefix}_{n}.bmp":
                        data = data[:-1] + bytes([data[-1] ^ 1])  # one changed byte
                    zf.writestr(f"Surface-Defect-Detection-abc123/{FOLDER}/{split}/{PUBLIC_NAMES[cls]}/{prefix}_{n}.bmp", data)
                    image.unlink()
    return sums


@pytest.fixture
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """An HTTP server on this machine serving a folder; yields its base URL and the folder."""
    root = tmp_path_factory.mktemp("www")

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args) -> None:  # no access log on stderr, where the test reads fetch's one line
            pass

    handler = functools.partial(Quiet, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def neu_project(project: Path, server: tuple[str, Path]) -> tuple[Path, Path]:
    """The tiny project with data.source null: NEU-CLS mode, no local copy, the public copy on the local server."""
    url, www = server
    sums = public_archive(www / "archive.zip")
    (project / "data" / "NEU-CLS").mkdir(parents=True, exist_ok=True)
    (project / "data" / "NEU-CLS" / "SHA256SUMS").write_text("".join(f"{d}  {p}\n" for p, d in sorted(sums.items())))
    (project / "data" / "NEU-CLS" / "SOURCE.md").write_text("# where this copy came from\n")
    set_param(project, "data.source", None)
    set_param(
        project,
        "data.neu_cls",
        {
            "local": "../absent/NEU-CLS",
            "url": f"{url}/archive.zip",
            "folder": FOLDER,
            "classes": {v: k for k, v in PUBLIC_NAMES.items()},
            "listing": "data/NEU-CLS",
            "timeout": 5,
        },
    )
    return project, www


def test_the_public_copy_is_downloaded_merged_renamed_and_verified(neu_project, capsys):
    project, _ = neu_project
    fetch.main()
    out = capsys.readouterr().out
    assert "no local copy" in out and "downloading the public copy" in out
    raw = project / "data" / "raw"
    assert sorted(p.name for p in raw.iterdir() if p.is_dir()) == sorted(CLASSES)
    assert all(len(list((raw / c).glob("*.bmp"))) == 12 for c in CLASSES), "train, valid and test merged"
    for kept in ("SHA256SUMS", "SOURCE.md"):  # the repository's listing travels with the images, as from a local copy
        assert (raw / kept).read_bytes() == (project / "data" / "NEU-CLS" / kept).read_bytes()


def test_one_changed_byte_in_the_download_is_refused_with_the_file_named(neu_project, capsys):
    project, www = neu_project
    public_archive(www / "archive.zip", corrupt="patches/Pa_10.bmp")
    with pytest.raises(SystemExit):
        run_stage(fetch.main)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "patches/Pa_10.bmp: sha256 mismatch" in err[0], err
    assert not (project / "data" / "raw").exists(), "nothing written"


def test_no_local_copy_and_no_server_is_one_line_saying_what_was_tried(neu_project, capsys):
    project, _ = neu_project
    set_param(project, "data.neu_cls.url", "http://127.0.0.1:9/archive.zip")  # the discard port: nothing listens
    with pytest.raises(SystemExit):
        run_stage(fetch.main)
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error:")]
    assert len(err) == 1 and "no local copy at" in err[0] and "download failed" in err[0] and "data.source" in err[0], err


def test_a_local_copy_is_used_when_present_and_must_carry_this_repository_list(neu_project, capsys):
    project, _ = neu_project
    local = project / "source"  # the tiny dataset, with its own SHA256SUMS
    set_param(project, "data.neu_cls.local", "source")
    with pytest.raises(UserError, match=r"source/SHA256SUMS: missing or not the list in data/NEU-CLS/SHA256SUMS"):
        fetch.main()
    (project / "data" / "NEU-CLS" / "SHA256SUMS").write_bytes((local / "SHA256SUMS").read_bytes())
    fetch.main()
    assert "from the local copy" in capsys.readouterr().out


def test_a_queued_experiment_finds_a_relative_local_copy_from_the_repository_it_came_from(tmp_path: Path):
    repo = tmp_path / "work" / "main"
    queued = repo / ".dvc" / "tmp" / "exps" / "tmpab12"
    assert local_candidates("../shared/NEU-CLS", queued) == [queued / "../shared/NEU-CLS", repo / "../shared/NEU-CLS"]
    assert local_candidates("/abs/NEU-CLS", queued) == [Path("/abs/NEU-CLS")]
