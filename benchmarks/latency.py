"""Benchmark: CPU inference time of the deployed model (the paper reports 27 ms per image).

Run after `dvc repro`: `python -m benchmarks.latency`. Prints and writes metrics/latency.json.
"""

import json
import os
import platform
import time

import keras
import numpy as np
import pandas as pd

from steel_defect.atomic import write_json
from steel_defect.dataset import read_spec


def timed(fn, repeats: int) -> list[float]:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    model = keras.models.load_model("models/deployed/model.keras")
    split = pd.read_csv("data/split.csv", keep_default_na=False)
    images = read_spec().load(split.loc[split["subset"] == "test", "path"].tolist()[:64]).astype("float32")
    single = images[:1]
    model(single)  # build and warm up
    model.predict_on_batch(single)  # trace the compiled predict function once
    one = timed(lambda: model.predict_on_batch(single), 50)
    batch = timed(lambda: model.predict(images, batch_size=32, verbose=0), 5)
    info = json.loads(open("models/backbone/backbone.json").read())
    results = {
        "backbone": info["backbone"],
        "image_size": info["image_size"],
        "ms_per_image_batch1_median": 1000 * float(np.median(one)),
        "ms_per_image_batch32": 1000 * float(np.median(batch)) / len(images),
        "params": int(model.count_params()),
        "cpu_cores": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
    }
    write_json("metrics/latency.json", results)
    for key, value in results.items():
        print(f"{key}: {value:.2f}" if isinstance(value, float) else f"{key}: {value}")


if __name__ == "__main__":
    main()
