"""Stored training runs read back: the per-run JSON records of ``scripts/full_scale.py`` and of the
one-at-a-time sweeps of ``scripts/robustness_sweep.py`` (:class:`Sweep`).

Each record is ``{"run": Result.as_dict(), "wall_s": …, "commit": …, "command": …}``
(``Result.as_dict()`` of :class:`snnmath.train.Result`); :func:`read_runs` turns a folder of them into
:class:`Run` objects whose configuration and history are the :class:`snnmath.train.Config`
and :class:`snnmath.train.Epoch` of the run that wrote them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

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


def sweep_fields(name: str, value: Any) -> dict[str, Any]:
    """The :class:`snnmath.train.Config` fields that one value of a one-at-a-time sweep sets (a surrogate
    value is ``NAME:SLOPE``)."""
    if name == "surrogate":
        surrogate, slope = str(value).split(":")
        return {"surrogate": surrogate, "slope": float(slope)}
    return {name: value}


def input_can_spike(config: Config) -> bool:
    r"""Whether a pixel of 1, held for T steps from rest, drives an input LIF neuron above θ: its potential
    reaches at most :math:`\sum_{k<T} \beta^k = (1 - \beta^T)/(1 - \beta)` (T at β = 1) before its first spike."""
    peak = config.steps if config.beta == 1 else (1 - config.beta**config.steps) / (1 - config.beta)
    return peak > config.theta


SWEEP_KEYS = ("depth", "width", "steps", "beta", "theta", "surrogate", "slope")
"""The network's fields that tell the settings of a sweep apart."""


@dataclass(frozen=True)
class Sweep:
    """A stored one-at-a-time sweep: ``plan.json`` (base configuration, sweeps, initialisers, seeds,
    command) and its runs."""

    plan: dict[str, Any]
    runs: dict[str, Run]

    @property
    def base(self) -> Config:
        return Config(**self.plan["base"])

    @property
    def cases(self) -> list[tuple[str, Any]]:
        """Every (hyperparameter, value) of the plan; the base setting appears once in every sweep."""
        return [(name, value) for name, values in self.plan["sweeps"].items() for value in values]

    def runs_of(self, name: str, value: Any, init: str) -> list[Run]:
        """The runs of one setting and initialiser, in seed order."""
        fields_ = {key: getattr(self.base, key) for key in SWEEP_KEYS} | sweep_fields(name, value)
        return select(self.runs, init=init, **fields_)

    def config(self, name: str, value: Any) -> Config:
        """The setting's configuration (that of its first initialiser's first seed)."""
        return self.runs_of(name, value, self.plan["inits"][0])[0].config

    def distinct(self) -> dict[Config, tuple[str, Any]]:
        """One case per distinct network configuration (the base setting counted once)."""
        return {replace(self.config(*case), seed=0): case for case in self.cases}

    def mean_final(self, name: str, value: Any, init: str) -> float:
        """Mean final test accuracy of one setting and initialiser over the seeds."""
        return float(np.mean([run.final_accuracy for run in self.runs_of(name, value, init)]))

    def winners(self) -> dict[tuple[str, Any], str]:
        """The initialiser with the highest mean final accuracy, for every case whose input can spike."""
        return {case: max(self.plan["inits"], key=lambda init: self.mean_final(*case, init))
                for case in self.cases if input_can_spike(self.config(*case))}

    def wins(self) -> dict[str, int]:
        """Per initialiser, the distinct settings whose input can spike in which it has the highest mean final
        accuracy (:meth:`winners`, each configuration counted once)."""
        winners = self.winners()
        return {init: sum(winners.get(case) == init for case in self.distinct().values())
                for init in self.plan["inits"]}


def read_sweep(folder: str | Path) -> Sweep:
    """The sweep stored in ``folder``: ``plan.json`` and the runs of its data set (``DATASET-*.json``)."""
    plan_file = Path(folder) / "plan.json"
    try:
        plan = json.loads(plan_file.read_text())
        dataset = plan["base"]["dataset"]
    except (OSError, ValueError, KeyError, TypeError) as error:
        raise ValueError(f"{plan_file} is not a sweep plan ({type(error).__name__}: {error})") from error
    return Sweep(plan, read_runs(folder, f"{dataset}-*.json"))
