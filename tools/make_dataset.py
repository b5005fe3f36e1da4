"""Benchmark data: a 7-class colour dataset with the traits users' own photos have, built from NEU-CLS.

It mimics the public 7-class hot-rolled-steel set a user tried (1,360 RGB images, JPEG and PNG,
128x128 but for two of 122x128 and 130x128, folder names with spaces, classes of 63 to 397 images,
9 byte-identical pairs), so the pipeline can be tested on those traits without that dataset.
Each class takes one NEU class's textures (random 160 px crops, resized to 128 px) and a colour
cast; the two 'oxide scale' classes share NEU's rolled-in_scale texture and differ mainly in
colour, as real oxide classes do, so grayscale input loses information here.

Usage: `python -m tools.make_dataset OUT [--source ../shared/data/NEU-CLS] [--uniform]`
(`--uniform` makes the two odd-sized images 128x128 too, for code that refuses odd sizes).
The images are for local experiments only: NEU-CLS is for research use, never commit them.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

# class name -> (NEU class, image count, RGB colour cast)
CLASSES = {
    "red iron sheet": ("patches", 397, (1.25, 0.80, 0.70)),
    "iron sheet ash (tôle)": ("crazing", 122, (0.95, 0.95, 1.00)),
    "oxide scale of plate system": ("rolled-in_scale", 63, (0.85, 0.95, 1.15)),
    "oxide scale of temperature system": ("rolled-in_scale", 203, (1.15, 0.95, 0.80)),
    "finishing roll printing": ("pitted_surface", 116, (1.00, 1.00, 0.90)),
    "slag inclusion": ("inclusion", 238, (1.05, 1.00, 0.95)),
    "surface scratch": ("scratches", 221, (1.00, 0.97, 0.97)),
}
SIZE = 128
ODD_SIZES = [(122, 128), (130, 128)]
DUPLICATE_PAIRS = 9


def colourise(gray: np.ndarray, cast: tuple[float, float, float], rng: np.random.Generator) -> np.ndarray:
    """Gray (h, w) uint8 -> RGB with the class's colour cast, jittered per image."""
    jitter = rng.normal(1.0, 0.04, 3)
    rgb = gray[..., None].astype(np.float32) * np.asarray(cast, np.float32) * jitter
    return np.clip(rgb, 0, 255).astype(np.uint8)


def make(source: Path, out: Path, seed: int = 0, uniform: bool = False) -> None:
    rng = np.random.default_rng(seed)
    used: dict[str, int] = {}
    written: list[Path] = []
    for index, (name, (neu_class, count, cast)) in enumerate(CLASSES.items()):
        folder = out / name
        folder.mkdir(parents=True)
        files = sorted((source / neu_class).glob("*.bmp"), key=lambda p: int(p.stem.split("_")[-1]))
        start = used.get(neu_class, 0)  # two classes share rolled-in_scale: take disjoint images
        pool = files[start:] if start + count <= len(files) else files
        used[neu_class] = start + min(count, len(pool))
        for n in range(count):
            src = pool[n % len(pool)]  # past the pool's end: a second crop of the same photo, as real sets have
            gray = np.asarray(Image.open(src).convert("L"))
            top, left = rng.integers(0, gray.shape[0] - 160, 2)
            crop = Image.fromarray(gray[top : top + 160, left : left + 160]).resize((SIZE, SIZE), Image.BILINEAR)
            image = Image.fromarray(colourise(np.asarray(crop), cast, rng), "RGB")
            path = folder / f"{index + 1}_{n + 1:03d}.{'png' if n % 4 == 0 else 'jpg'}"
            image.save(path, quality=92) if path.suffix == ".jpg" else image.save(path)
            written.append(path)
    if not uniform:
        for path, size in zip(rng.choice(written, len(ODD_SIZES), replace=False), ODD_SIZES, strict=True):
            with Image.open(path) as img:
                resized = img.resize(size, Image.BILINEAR)
            resized.save(path, quality=92) if path.suffix == ".jpg" else resized.save(path)
    # byte-identical pairs: overwrite a file with the bytes of another image of its class and format
    for i in rng.choice(len(written) - 1, DUPLICATE_PAIRS, replace=False):
        a, b = written[i], written[i + 1]
        if a.parent == b.parent and a.suffix == b.suffix:
            b.write_bytes(a.read_bytes())
        else:
            twin = a.with_name(f"{a.stem}_copy{a.suffix}")
            b.unlink()
            twin.write_bytes(a.read_bytes())
    print(f"wrote {len(written)} images in {len(CLASSES)} classes to {out}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--source", type=Path, default=Path("../shared/data/NEU-CLS"))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--uniform", action="store_true", help="no odd-sized images")
    args = parser.parse_args()
    if args.out.exists():
        raise SystemExit(f"error: {args.out} exists; choose a new folder")
    make(args.source, args.out, args.seed, args.uniform)


if __name__ == "__main__":
    main()
