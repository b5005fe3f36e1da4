"""Find a one-folder-per-class dataset (folder, zip or URL of a zip), verify it and copy it into data/raw.

It also decides, once, how every later stage reads the images (the DatasetSpec in data/dataset.json):
the class names, grayscale or colour, and the one size all images are loaded at.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from steel_defect.atomic import write_json
from steel_defect.errors import UserError
from steel_defect.images import IMAGE_SUFFIXES, inspect_image, load_stack

CHECKSUM_FILE = "SHA256SUMS"
MANIFEST = "manifest.csv"
MANIFEST_COLUMNS = ["path", "class", "sha256", "width", "height", "mode", "colour", "duplicate_of"]
ODD_SIZE = ["resize", "refuse"]
COLORS = ["auto", "grayscale", "rgb"]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(url: str, dest: Path, timeout: float = 60, progress: bool = True) -> Path:
    """Fetch `url` to `dest` with a progress bar; no answer within `timeout` seconds is a failure, not a hang."""
    from tqdm import tqdm

    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(dest, "wb") as out:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total, unit="B", unit_scale=True, desc="fetch: download", file=sys.stderr, disable=not progress
            ) as bar:
                for block in iter(lambda: response.read(1 << 20), b""):
                    out.write(block)
                    bar.update(len(block))
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise UserError(f"{url}: download failed ({getattr(err, 'reason', err)})") from None
    return dest


def safe_extract(archive: Path, dest: Path) -> None:
    """Extract a zip, refusing members that would land outside `dest` (zip-slip)."""
    try:
        with zipfile.ZipFile(archive) as zf:
            for member in zf.namelist():
                pure = PurePosixPath(member.replace("\\", "/"))
                if pure.is_absolute() or ".." in pure.parts or (pure.parts and ":" in pure.parts[0]):
                    raise UserError(f"{archive}: member '{member}' would be written outside the output folder; refused")
            zf.extractall(dest)
    except zipfile.BadZipFile as err:
        raise UserError(f"{archive}: not a valid zip file ({err})") from None


def dataset_root(folder: Path) -> Path:
    """Descend through single wrapper folders ('NEU-CLS/' inside a zip) to the folder holding the classes."""
    while True:
        entries = [p for p in folder.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        dirs = [p for p in entries if p.is_dir()]
        if len(dirs) == 1 and len(entries) == len(dirs):
            folder = dirs[0]
        else:
            return folder


def resolve_source(source: str, workdir: Path) -> Path:
    """Return a local folder for `source`, unpacking a zip or a downloaded zip into `workdir`."""
    if source.startswith(("http://", "https://")):
        try:
            source_path = download(source, workdir / "download.zip")
        except UserError as err:
            raise UserError(f"{err}; download the zip by hand and set data.source to its path") from None
    else:
        source_path = Path(source).expanduser()
        if not source_path.exists():
            raise UserError(f"data.source '{source}' does not exist; point it at a class-per-folder dataset or a zip")
    if source_path.is_dir():
        return source_path
    if zipfile.is_zipfile(source_path):
        safe_extract(source_path, workdir / "unzipped")
        return dataset_root(workdir / "unzipped")
    raise UserError(f"data.source '{source}' is neither a folder nor a zip file")


def read_checksums(root: Path) -> dict[str, str] | None:
    """Parse `sha256sum` output into {relative path: digest}, or None when there is no checksum file."""
    path = root / CHECKSUM_FILE
    if not path.exists():
        return None
    sums = {}
    for number, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        digest, sep, name = line.partition(" ")
        if not sep or len(digest) != 64:
            raise UserError(f"{path}:{number}: not a sha256sum line: {line!r}")
        sums[name.strip().lstrip("*")] = digest.lower()
    return sums


def list_images(root: Path) -> tuple[dict[str, list[Path]], list[Path]]:
    """Class name -> image files, one class per sub-folder; plus the other files found (not images by name)."""
    classes, others = {}, []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith((".", "__MACOSX"))):
        files = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
        images = [f for f in files if f.suffix.lower() in IMAGE_SUFFIXES]
        others += [f for f in files if f not in images]
        if not images:
            raise UserError(
                f"{folder}: class folder has no images ({', '.join(IMAGE_SUFFIXES)}); add images or remove the folder"
            )
        classes[folder.name] = images
    if len(classes) < 2:
        found = ", ".join(classes) or "none"
        raise UserError(f"{root}: found {len(classes)} class folder(s) ({found}); need at least 2, one folder per class")
    return classes, others


def build_manifest(root: Path, progress: Callable[[int, int], None] | None = None) -> pd.DataFrame:
    """Verify checksums, decode every image once and record one row per image."""
    classes, others = list_images(root)
    sums = read_checksums(root)
    files = [f for group in classes.values() for f in group]
    if sums is not None:
        listed = {f.relative_to(root).as_posix() for f in files + others}
        missing = sorted(set(sums) - listed)
        if missing:
            raise UserError(f"{root / missing[0]}: listed in {CHECKSUM_FILE} but missing ({len(missing)} missing in all)")
    rows, first_with_digest = [], {}
    for i, file in enumerate(files):
        rel = file.relative_to(root).as_posix()
        digest = sha256_of(file)
        if sums is not None:
            if rel not in sums:
                raise UserError(f"{file}: not listed in {root / CHECKSUM_FILE}; remove it or add its checksum")
            if sums[rel] != digest:
                raise UserError(
                    f"{file}: sha256 mismatch (expected {sums[rel][:12]}..., got {digest[:12]}...); file corrupt or altered"
                )
        info = inspect_image(file)
        duplicate_of = first_with_digest.setdefault(digest, rel)
        rows.append(
            [
                rel,
                file.parent.name,
                digest,
                info.width,
                info.height,
                info.mode,
                info.colour,
                "" if duplicate_of == rel else duplicate_of,
            ]
        )
        if progress:
            progress(i + 1, len(files))
    return pd.DataFrame(rows, columns=MANIFEST_COLUMNS)


def copy_dataset(root: Path, manifest: pd.DataFrame, out: Path) -> None:
    """Copy images byte for byte (the source is only read), plus its provenance files."""
    for rel in manifest["path"]:
        dest = out / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / rel, dest)
    for extra in (CHECKSUM_FILE, "SOURCE.md", "README.md", "LICENSE"):
        if (root / extra).is_file():
            shutil.copyfile(root / extra, out / extra)
    manifest.to_csv(out / MANIFEST, index=False)


def read_manifest(folder: str | Path) -> pd.DataFrame:
    path = Path(folder) / MANIFEST
    if not path.exists():
        raise UserError(f"{path}: missing; run `dvc repro fetch` first")
    return pd.read_csv(path, keep_default_na=False)


@dataclass(frozen=True)
class DatasetSpec:
    """How every stage reads the images: decided once by fetch, saved in data/dataset.json and with the model."""

    classes: list[str]
    channels: int  # 1 grayscale, 3 RGB
    size: tuple[int, int]  # (width, height) every image is loaded at

    @property
    def color(self) -> str:
        return "grayscale" if self.channels == 1 else "rgb"

    def load(self, paths: list[str], root: str | Path = "data/raw") -> np.ndarray:
        return load_stack(paths, root, self.channels, self.size)

    def labels(self, names: pd.Series) -> np.ndarray:
        """Class names -> indices in this spec's class order (the order the models' outputs use)."""
        return names.map({c: i for i, c in enumerate(self.classes)}).to_numpy()

    def load_subset(self, subset: str, split_csv: str | Path = "data/split.csv") -> tuple[np.ndarray, np.ndarray]:
        """Images (float32, as models take them) and labels of one subset of the split."""
        split = pd.read_csv(split_csv, keep_default_na=False)
        rows = split[split["subset"] == subset]
        return self.load(rows["path"].tolist()).astype("float32"), self.labels(rows["class"])


def decide_spec(
    manifest: pd.DataFrame, expected_size: tuple[int, int] | None, odd_size: str, color: str
) -> tuple[DatasetSpec, dict]:
    """The spec for this data and params, and notes for data/dataset.json (which files get resized, why colour)."""
    sizes = list(zip(manifest["width"], manifest["height"], strict=True))
    common = max(sorted(set(sizes)), key=sizes.count)  # the most common size; ties go to the smallest
    target = tuple(expected_size) if expected_size else common
    odd = manifest[[s != target for s in sizes]]
    if len(odd):
        first = odd.iloc[0]
        shape = f"{first['width']}x{first['height']}"
        if expected_size:
            raise UserError(
                f"{first['path']}: image is {shape}, expected {target[0]}x{target[1]} (data.expected_size; "
                f"{len(odd)} such image(s)); fix the file or set data.expected_size: null"
            )
        if odd_size == "refuse":
            raise UserError(
                f"{first['path']}: image is {shape} but most are {target[0]}x{target[1]} ({len(odd)} such image(s)); "
                "fix the file or set data.odd_size: resize"
            )
    colourful = int(manifest["colour"].astype(bool).sum())
    channels = {"grayscale": 1, "rgb": 3, "auto": 3 if colourful else 1}[color]
    spec = DatasetSpec(sorted(manifest["class"].unique()), channels, (int(target[0]), int(target[1])))
    notes = {
        "color_reason": f"data.color: {color}; {colourful} of {len(manifest)} images are colour",
        "resized": odd["path"].tolist(),
    }
    return spec, notes


def write_spec(path: str | Path, spec: DatasetSpec, notes: dict) -> None:
    write_json(path, {"classes": spec.classes, "channels": spec.channels, "color": spec.color, "size": list(spec.size), **notes})


def read_spec(path: str | Path = "data/dataset.json") -> DatasetSpec:
    path = Path(path)
    if not path.exists():
        raise UserError(f"{path}: missing; run `dvc repro fetch` first")
    data = json.loads(path.read_text())
    return DatasetSpec(list(data["classes"]), int(data["channels"]), (int(data["size"][0]), int(data["size"][1])))
