"""One script per DVC stage; run as `python -m stages.<name>` from the repository root.

Set here, before any stage imports TensorFlow: quiet C++ logs, and thread pools sized to the CPUs
this process may really use. TensorFlow sizes its pools from the host's core count; in a container
limited to 2 cores on a larger host that means dozens of spinning threads on 2 cores.
"""

import math
import os
from pathlib import Path


def usable_cpus() -> int:
    """CPUs this process may run on: its affinity, capped by a cgroup CPU quota (v2 cpu.max or v1 cfs)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    quota = None
    try:
        text = Path("/sys/fs/cgroup/cpu.max").read_text().split()
        if text[0] != "max":
            quota = int(text[0]) / int(text[1])
    except (OSError, ValueError, IndexError):
        try:
            q = int(Path("/sys/fs/cgroup/cpu/cpu.cfs_quota_us").read_text())
            if q > 0:
                quota = q / int(Path("/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text())
        except (OSError, ValueError):
            pass
    return max(1, min(cpus, math.ceil(quota))) if quota else max(1, cpus)


os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
for variable in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS", "OMP_NUM_THREADS"):
    os.environ.setdefault(variable, str(usable_cpus()))
