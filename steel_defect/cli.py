"""The `steel-defect` command (installed by `pip install -e .`, which `make install` runs)."""

from __future__ import annotations

import argparse
import os
import sys

DEFAULT_MODEL = "models/deployed/model.keras"


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="steel-defect", description="Steel surface defect classification (NEU-CLS pipeline).")
    commands = top.add_subparsers(dest="command", required=True)
    p = commands.add_parser("predict", help="classify images with a trained model and write a CSV")
    p.add_argument("paths", nargs="+", help="image files, folders (searched recursively) or glob patterns")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"a .keras or .tflite model with metadata (default {DEFAULT_MODEL})")
    p.add_argument("--out", default="predictions.csv", help="CSV to write (default predictions.csv)")
    p.add_argument(
        "--min-confidence",
        type=float,
        default=0.0,
        help="below this top probability the row says 'uncertain' instead of a class (default 0: always a class)",
    )
    p.add_argument("--threads", type=int, default=None, help="CPU threads for a .tflite model (default: LiteRT's choice)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return top


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from steel_defect.deploy import load_runner
    from steel_defect.errors import UserError
    from steel_defect.predict import EXIT_SOME_FAILED, ModelId, check_output, classify, collect, summary, write_csv

    args = parser().parse_args(argv)
    try:
        if not 0.0 <= args.min_confidence <= 1.0:
            raise UserError(f"--min-confidence {args.min_confidence}: expected a probability between 0 and 1")
        out = check_output(args.out)  # before any image is read, so a long batch never ends unwritable
        files, missing = collect(args.paths)
        runner = load_runner(args.model, args.threads)
        model = ModelId.of(runner)
        outcome = classify(runner, files, args.min_confidence, progress=not args.quiet)
        outcome.failed[:0] = missing
        for path, reason in outcome.failed:
            print(f"skipped: {path}: {reason}", file=sys.stderr)
        if not outcome.rows:
            raise UserError(f"no image could be classified ({len(outcome.failed)} failed); nothing written to {out}")
        write_csv(out, outcome.rows, model)
    except UserError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"interrupted: nothing written to {args.out}", file=sys.stderr)
        return 130
    print(summary(outcome, model))
    print(f"predict: -> {out}")
    return EXIT_SOME_FAILED if outcome.failed else 0


if __name__ == "__main__":
    sys.exit(main())
