"""What tests/test_sweep.py runs on the Dask workers and in sweep processes of its own.

The workers import this module by name (pytest puts ``tests/`` on ``sys.path``, and the local
cluster's worker processes inherit it; a sweep subprocess gets it through ``PYTHONPATH``).

    python -c "import sweep_helpers; sweep_helpers.main()" ADDRESS STORE GATE HOLD
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from distributed import Client, get_worker

from snnmath.sweep import Store, sweep
from snnmath.train import Config, Epoch, Result, train

CODE = "test-code"
"""The code version of the tests' stores: fixed, so that edits to the package while a test runs change no key."""
WAIT_S = 120.0
"""How long a held run waits for its release before failing (so that no test can hang)."""


TINY: dict[str, Any] = dict(dataset="digits", train_size=100, test_size=50, depth=2, width=8, steps=2, epochs=1)
"""A run of well under a second: a 2-layer MLP of width 8 on 100 of scikit-learn's digits."""


def tiny(seed: int, **fields: Any) -> Config:
    """The :data:`TINY` run of ``seed``, with ``fields`` changed."""
    return Config(**{**TINY, **fields, "seed": seed})


def attempts(gate: Path, seed: int) -> list[list[str]]:
    """``[pid, worker address]`` of every start of the run of ``seed``, in order."""
    path = gate / f"started-{seed}"
    return [line.split() for line in path.read_text().splitlines()] if path.exists() else []


def wait_until(condition: Callable[[], object], what: str, timeout: float = WAIT_S) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}")
        time.sleep(0.05)


@dataclass(frozen=True)
class GatedTrainer:
    """:func:`snnmath.train.train`, but each start is logged in ``gate/started-<seed>`` and runs whose
    seed is in ``hold`` wait for the file ``gate/release`` first."""

    gate: str
    hold: tuple[int, ...] = ()

    def __call__(self, config: Config, report: Callable[[Epoch], None] | None = None, device: str = "cpu") -> Result:
        gate = Path(self.gate)
        with (gate / f"started-{config.seed}").open("a") as log:
            log.write(f"{os.getpid()} {get_worker().address}\n")
        if config.seed in self.hold:
            wait_until((gate / "release").exists, f"{gate / 'release'}")
        return train(config, report=report, device=device)


def main() -> None:
    """A sweep of seeds 0..N-1 (N = 4) in a process of its own; prints how many it has to do, then its summary."""
    address, store, gate, hold = sys.argv[1:5]
    configs = [tiny(seed) for seed in range(4)]
    held = tuple(int(seed) for seed in hold.split(",") if seed)
    with Client(address) as client:
        todo = sum(not Store(Path(store), CODE).done(config) for config in configs)
        print(f"todo {todo}", flush=True)
        summary = sweep(configs, Store(Path(store), CODE), client, trainer=GatedTrainer(gate, held),
                        progress=False, check_code=False)
    print(f"trained {summary.trained} skipped {summary.skipped} failed {len(summary.failed)}", flush=True)
