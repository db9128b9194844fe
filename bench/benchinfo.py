"""What a benchmark prints about the machine it ran on."""

from __future__ import annotations

import os
import platform
from pathlib import Path


def machine() -> dict[str, str]:
    model = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": str(len(os.sched_getaffinity(0))), "cpu": model,
            "python": platform.python_version(), "os": f"{platform.system()} {platform.release()}"}
