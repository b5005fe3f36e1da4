"""Stage fetch: copy and verify the dataset into data/raw/, and decide how it is read.

The dataset is data.source (your own photos) or, when that is null, NEU-CLS: a local copy if one is
there, else its public copy, downloaded (steel_defect/neu_cls.py). Either way every image is checked
against a SHA256SUMS list before anything is written.

Writes data/raw/ (images byte for byte plus manifest.csv), data/dataset.json (class names, grayscale
or colour, the one size images are loaded at, which images get resized) and metrics/data.json.
"""

import tempfile
import time
from pathlib import Path

from steel_defect.atomic import atomic_dir, write_json
from steel_defect.dataset import COLORS, ODD_SIZE, build_manifest, copy_dataset, decide_spec, resolve_source, write_spec
from steel_defect.errors import run_stage
from steel_defect.neu_cls import PublicCopy, neu_cls
from steel_defect.params import choice, get, load_params, size_or_null

OUT = Path("data/raw")
SPEC = Path("data/dataset.json")


def main() -> None:
    params = load_params()
    source = get(params, "data.source")
    expected = size_or_null(params, "data.expected_size")
    odd_size = choice(params, "data.odd_size", ODD_SIZE)
    color = choice(params, "data.color", COLORS)
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="fetch-") as work:
        root = neu_cls(PublicCopy.from_params(params), Path(work)) if source is None else resolve_source(str(source), Path(work))
        print(f"fetch: reading {root}")

        def progress(done: int, total: int) -> None:
            if done % 300 == 0 or done == total:
                print(f"fetch: verified and decoded {done}/{total} images", flush=True)

        manifest = build_manifest(root, progress)
        spec, notes = decide_spec(manifest, expected, odd_size, color)
        with atomic_dir(OUT) as tmp:
            copy_dataset(root, manifest, tmp)
            write_spec(SPEC, spec, notes)  # inside the block: a failed copy leaves the old spec with the old data
    duplicates = manifest[manifest["duplicate_of"] != ""]
    for _, row in duplicates.iterrows():
        print(f"fetch: {row['path']} is byte-identical to {row['duplicate_of']} (kept; split keeps them together)")
    for path in notes["resized"]:
        print(f"fetch: {path} will be resized to {spec.size[0]}x{spec.size[1]} when loaded (data.odd_size: resize)")
    write_json(
        "metrics/data.json",
        {
            "images": len(manifest),
            "classes": manifest["class"].value_counts().sort_index().to_dict(),
            "duplicate_files": len(duplicates),
            "resized_images": len(notes["resized"]),
        },
    )
    print(
        f"fetch: {len(manifest)} images in {len(spec.classes)} classes -> {OUT}/ in {time.time() - start:.1f}s; "
        f"read as {spec.color} {spec.size[0]}x{spec.size[1]} ({notes['color_reason']})"
    )


if __name__ == "__main__":
    run_stage(main)
