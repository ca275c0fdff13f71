"""The provenance the study scripts store beside their results."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

REPOSITORY = Path(__file__).resolve().parents[1]


def provenance(started: float) -> dict[str, Any]:
    """Commit (and whether ``snnmath/`` has uncommitted changes), versions, machine, seconds since
    ``started`` (a ``time.perf_counter()`` value) and the exact command of the running script."""
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], capture_output=True, text=True, check=False, cwd=REPOSITORY)
        return done.stdout.strip()
    return dict(commit=git("rev-parse", "HEAD") or None, dirty=bool(git("status", "--porcelain", "--", "snnmath")),
                python=platform.python_version(), torch=torch.__version__, numpy=np.__version__,
                processor=platform.processor() or platform.machine(), cpu_count=os.cpu_count(),
                torch_threads=torch.get_num_threads(), host=platform.node(),
                seconds=time.perf_counter() - started,
                command=f"python scripts/{Path(sys.argv[0]).name} " + " ".join(sys.argv[1:]))
