"""Stored training runs read back: the per-run JSON records of ``scripts/full_scale.py``.

Each record is ``{"run": Result.as_dict(), "wall_s": …, "commit": …, "command": …}``
(``Result.as_dict()`` of :class:`snnmath.train.Result`); :func:`read_runs` turns a folder of them into
:class:`Run` objects whose configuration and history are the :class:`snnmath.train.Config`
and :class:`snnmath.train.Epoch` of the run that wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

from .train import Config, Epoch, epochs_to_reach


@dataclass(frozen=True)
class Run:
    """One finished training run as stored."""

    config: Config
    history: list[Epoch]
    """Epoch 0 (at initialisation) to the last epoch."""
    provenance: dict[str, Any]
    """Package versions, device and hardware of the run (:func:`snnmath.train.provenance`)."""
    wall_s: float
    """Wall-clock seconds of the whole run, data loading included."""
    commit: str | None
    """The code's commit."""
    command: str
    """The command that produced it."""

    @property
    def final_accuracy(self) -> float:
        return self.history[-1].test_accuracy

    def epochs_to(self, accuracy: float) -> int:
        """The first epoch at or above ``accuracy`` on the test set; one more than the last epoch if none is."""
        reached = epochs_to_reach(self.history, accuracy)
        return len(self.history) if reached is None else reached


def read_run(path: str | Path) -> Run:
    """The run stored in the JSON file ``path``; a file that is not such a record is refused by name."""
    file = Path(path)
    try:
        record = json.loads(file.read_text())
        run = record["run"]
        known = {item.name for item in fields(Config)}
        config = Config(**{key: value for key, value in run["config"].items() if key in known})
        history = [Epoch(**epoch) for epoch in run["history"]]
        return Run(config, history, run["provenance"], float(record["wall_s"]), record.get("commit"),
                   record["command"])
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{file} is not a stored training run ({type(error).__name__}: {error})") from error


def read_runs(folder: str | Path, pattern: str = "*.json") -> dict[str, Run]:
    """Every run in ``folder`` whose file name matches ``pattern``, keyed by file name without ``.json``,
    in name order."""
    paths = sorted(Path(folder).glob(pattern))
    if not paths:
        raise ValueError(f"folder {folder} holds no stored runs ({pattern})")
    return {path.stem: read_run(path) for path in paths}


def select(runs: dict[str, Run], **values: Any) -> list[Run]:
    """The runs whose configuration has every given field value, in seed order."""
    chosen = [run for run in runs.values() if all(getattr(run.config, k) == v for k, v in values.items())]
    return sorted(chosen, key=lambda run: run.config.seed)


def seeds(runs: Sequence[Run]) -> list[int]:
    return [run.config.seed for run in runs]
