"""Stage fetch: copy and verify the dataset named by data.source into data/raw/ with a manifest."""

import tempfile
import time
from pathlib import Path

from steel_defect.atomic import atomic_dir, write_json
from steel_defect.dataset import build_manifest, copy_dataset, resolve_source
from steel_defect.errors import UserError, run_stage
from steel_defect.params import get, load_params

OUT = Path("data/raw")


def main() -> None:
    params = load_params()
    source = get(params, "data.source")
    expected = get(params, "data.expected_size", None)
    if expected is not None and not (isinstance(expected, list) and len(expected) == 2):
        raise UserError(f"params.yaml: 'data.expected_size' is {expected!r}; expected [width, height] or null")
    start = time.time()
    with tempfile.TemporaryDirectory(prefix="fetch-") as work:
        root = resolve_source(str(source), Path(work))
        print(f"fetch: reading {root}")

        def progress(done: int, total: int) -> None:
            if done % 300 == 0 or done == total:
                print(f"fetch: verified and decoded {done}/{total} images", flush=True)

        manifest = build_manifest(root, expected, progress)
        with atomic_dir(OUT) as tmp:
            copy_dataset(root, manifest, tmp)
    duplicates = manifest[manifest["duplicate_of"] != ""]
    for _, row in duplicates.iterrows():
        print(f"fetch: {row['path']} is byte-identical to {row['duplicate_of']} (kept; split keeps them together)")
    write_json(
        "metrics/data.json",
        {
            "images": len(manifest),
            "classes": manifest["class"].value_counts().sort_index().to_dict(),
            "duplicate_files": len(duplicates),
        },
    )
    print(f"fetch: wrote {len(manifest)} images in {manifest['class'].nunique()} classes to {OUT}/ in {time.time() - start:.1f}s")


if __name__ == "__main__":
    run_stage(main)
