"""NEU-CLS on any machine: a local copy when there is one, else the public copy, verified image by image.

The public copy (`data.neu_cls.url`) is the GitHub archive of a repository that holds NEU-CLS split
into train/, valid/ and test/ folders of Crazing, Inclusion, Patches, Pitted, Rolled and Scratches
(276/12/12 images per class). It is merged back into one folder per class under NEU's class names
and checked against the checksum list kept in this repository (`data.neu_cls.listing`, with
SOURCE.md, the copy's origin), so one changed byte stops fetch with the file's name, and the copy
fetch makes is byte for byte the one a local copy gives. The images are for research use only: they are
downloaded by each user, never redistributed by this project.
"""

from __future__ import annotations

import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from steel_defect.dataset import CHECKSUM_FILE, download
from steel_defect.errors import UserError

ORIGIN_FILE = "SOURCE.md"  # where the copy came from; fetch copies it into data/raw


@dataclass(frozen=True)
class PublicCopy:
    """Where NEU-CLS comes from when `data.source` is null: params `data.neu_cls`."""

    local: str  # a class-per-folder copy, used when it exists
    url: str  # else this archive is downloaded
    folder: str  # the folder inside the archive that holds the split folders
    classes: dict[str, str]  # the archive's class folder names -> NEU's
    listing: Path  # in this repository: SHA256SUMS (every image's sha256) and SOURCE.md
    timeout: float  # seconds without data before a download gives up

    @property
    def checksums(self) -> Path:
        return self.listing / CHECKSUM_FILE

    @classmethod
    def from_params(cls, params: dict) -> PublicCopy:
        from steel_defect.params import get, number

        def text(key: str) -> str:
            value = get(params, f"data.neu_cls.{key}")
            if not isinstance(value, str) or not value:
                raise UserError(f"params.yaml: 'data.neu_cls.{key}' is {value!r}; expected a path or URL")
            return value

        classes = get(params, "data.neu_cls.classes")
        if not isinstance(classes, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in classes.items()):
            raise UserError(f"params.yaml: 'data.neu_cls.classes' is {classes!r}; expected {{archive folder: class name}}")
        timeout = number(params, "data.neu_cls.timeout", 0, None, open_low=True)
        return cls(text("local"), text("url"), text("folder"), dict(classes), Path(text("listing")), timeout)


def local_candidates(local: str, cwd: Path | None = None) -> list[Path]:
    """Where a local copy may be: the path as given, and for a relative path in a queued DVC experiment
    (which runs in a copy under <repo>/.dvc/tmp/exps/), the same path from the repository it was queued in."""
    cwd = (cwd or Path.cwd()).resolve()
    path = Path(local).expanduser()
    if path.is_absolute():
        return [path]
    found = [cwd / path]
    parts = cwd.parts
    for i in range(len(parts) - 2):
        if parts[i : i + 3] == (".dvc", "tmp", "exps"):
            found.append(Path(*parts[:i]) / path)
            break
    return found


def check_list(folder: Path, checksums: Path) -> None:
    """A local copy must carry the very checksum list this repository keeps, so it is verified against it."""
    own = folder / CHECKSUM_FILE
    if not own.exists() or own.read_bytes() != checksums.read_bytes():
        raise UserError(
            f"{own}: missing or not the list in {checksums}; copy {checksums} there (NEU-CLS's images are then "
            "checked against it) or point data.source at the folder to use it as your own dataset"
        )


def assemble(archive: Path, public: PublicCopy, out: Path) -> Path:
    """The archive's split folders merged into `out/<NEU class>/`, with the repository's checksum list beside them."""
    try:
        zf = zipfile.ZipFile(archive)
    except zipfile.BadZipFile as err:
        raise UserError(f"{public.url}: not a zip archive ({err})") from None
    copied = 0
    with zf:
        for info in zf.infolist():
            parts = PurePosixPath(info.filename).parts
            if info.is_dir() or public.folder not in parts:
                continue
            inside = parts[parts.index(public.folder) + 1 :]  # split / class / file
            if len(inside) != 3 or inside[2].startswith("."):
                continue
            split, cls, name = inside
            if cls not in public.classes:
                raise UserError(
                    f"{public.url}: '{public.folder}/{split}/{cls}' is not a class data.neu_cls.classes names "
                    f"({', '.join(public.classes)}); the archive is not the expected copy"
                )
            dest = out / public.classes[cls] / name
            if dest.exists():
                raise UserError(
                    f"{public.url}: '{name}' is in two split folders of class {cls}; the archive is not the expected copy"
                )
            dest.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(dest, "wb") as dst:
                shutil.copyfileobj(src, dst)
            copied += 1
    if not copied:
        raise UserError(f"{public.url}: no '{public.folder}/<split>/<class>/' images in the archive; check data.neu_cls.folder")
    for name in (CHECKSUM_FILE, ORIGIN_FILE):
        if (public.listing / name).exists():
            shutil.copyfile(public.listing / name, out / name)
    return out


def neu_cls(public: PublicCopy, workdir: Path, log=print) -> Path:
    """A folder holding NEU-CLS and its checksum list: the local copy if present, else the public one."""
    if not public.checksums.exists():
        raise UserError(f"{public.checksums}: NEU-CLS's checksum list is missing from this repository; restore it with git")
    tried = []
    for folder in local_candidates(public.local):
        if folder.is_dir():
            check_list(folder, public.checksums)
            log(f"fetch: NEU-CLS from the local copy {folder}")
            return folder
        tried.append(str(folder))
    log(f"fetch: no local copy ({', '.join(tried)}); downloading the public copy {public.url}")
    try:
        archive = download(public.url, workdir / "neu-cls.zip", public.timeout)
    except UserError as err:
        raise UserError(
            f"NEU-CLS: no local copy at {' or '.join(tried)} and {err}; put a copy there (class folders and "
            f"{CHECKSUM_FILE}), set data.neu_cls.url to a reachable copy, or set data.source to your own dataset"
        ) from None
    return assemble(archive, public, workdir / "NEU-CLS")
