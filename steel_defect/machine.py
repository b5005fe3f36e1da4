"""What machine computed a result: its CPU, usable cores and the vector instruction set TensorFlow uses.

TensorFlow's CPU kernels (oneDNN) choose their code at run time for the CPU they find, so float
results differ in the last bits between machines, and training turns that into a different model.
Measured: capping oneDNN at AVX2 on an AVX-512 machine (ONEDNN_MAX_CPU_ISA=AVX2) leaves the
backbone's forward pass bit-identical but not the gradients, and a fine-tuning run then stops one
epoch later; between two machines even the frozen backbone's features differed. "Same seed, same
result" holds on the same kind of machine, so the training stages record it beside their curves.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

# oneDNN's x86 instruction sets, best first, each with the /proc/cpuinfo flags it needs
ISAS = [
    ("avx512_core_amx", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16", "amx_tile", "amx_int8"}),
    ("avx512_core_bf16", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni", "avx512_bf16"}),
    ("avx512_core_vnni", {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512_vnni"}),
    ("avx512_core", {"avx512f", "avx512bw", "avx512vl", "avx512dq"}),
    ("avx2_vnni", {"avx2", "fma", "avx_vnni"}),
    ("avx2", {"avx2", "fma"}),
    ("avx", {"avx"}),
    ("sse41", {"sse4_1"}),
]
CAP, SWITCH = "ONEDNN_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS"


def cpu_info() -> tuple[str, set[str]]:
    """The CPU's model name and flags from /proc/cpuinfo (Linux); elsewhere what platform knows, no flags."""
    name, flags = "", set()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and not name:
                name = value.strip()
            elif key.strip() == "flags" and not flags:
                flags = set(value.split())
    except OSError:
        pass
    return name or platform.processor() or platform.machine(), flags


def usable_cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def best_isa(flags: set[str]) -> str:
    """The best of oneDNN's instruction sets (ISAS) these CPU flags allow, or 'unknown' without flags."""
    return next((name for name, needs in ISAS if needs <= flags), "unknown")


def describe() -> dict[str, object]:
    """CPU, usable cores, its best instruction set, and the environment settings that cap or bypass it."""
    name, flags = cpu_info()
    found = {"cpu": name, "usable_cores": usable_cores(), "isa": best_isa(flags)}
    return found | {key: os.environ[key] for key in (CAP, SWITCH) if os.environ.get(key)}
