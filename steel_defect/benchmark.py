"""Timing helpers for the benchmark stage: batch-1 latency (median, p95) and batch throughput (the machine: machine.py)."""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np


def latency_ms(predict: Callable[[np.ndarray], object], images: np.ndarray, runs: int, warmup: int) -> dict[str, float]:
    """Batch-1 latency over `runs` calls cycling through distinct images, after `warmup` untimed calls."""
    for i in range(warmup):
        predict(images[i % len(images)][None])
    times = []
    for i in range(runs):
        one = images[i % len(images)][None]
        start = time.perf_counter()
        predict(one)
        times.append(1000 * (time.perf_counter() - start))
    return {"ms_batch1_median": float(np.median(times)), "ms_batch1_p95": float(np.percentile(times, 95)), "runs": runs}


def throughput(predict: Callable[[np.ndarray], object], images: np.ndarray, batch: int, passes: int = 2) -> float:
    """Images per second at `batch` images per call, over `passes` passes through `images` (after one untimed call)."""
    predict(images[:batch])
    count, start = 0, time.perf_counter()
    for _ in range(passes):
        for i in range(0, len(images) - batch + 1, batch):
            predict(images[i : i + batch])
            count += batch
    return count / (time.perf_counter() - start)
