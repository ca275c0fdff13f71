r"""Surrogate-gradient training of deep spiking networks on image classification.

The networks are the book's LIF networks (:mod:`snnmath.lif`): pixels :math:`x \in [0, 1]` are a constant
current into an input LIF layer (direct encoding), and every further layer is

.. math::
    u_l[t] = \beta\,u_l[t-1] + W_l s_{l-1}[t] + b_l - \theta\,s_l[t-1], \qquad s_l[t] = H(u_l[t] - \theta),

with the surrogate derivative of :mod:`snnmath.surrogate` in the backward pass. The loss is the
cross-entropy of the output layer's spike counts :math:`\sum_t s_L[t]` used as logits; Adam
optimises it, with a learning-rate schedule stepped once per epoch.

Each layer runs over all T steps at once (one matrix multiply or convolution of shape
``(T·B, …)``, then the elementwise recurrence), which is what makes this faster than the
time-major loop of an snnTorch model (``benchmarks/bench_train.py``).

Run ``python -m snnmath.train --help`` for the command line; :func:`train` is the library entry.
"""

from __future__ import annotations

import functools
import itertools
import os
import platform
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from .. import data as datasets
from .._validate import integer, real_scalar
from ..init import NAMES, apply_
from ..surrogate import DEFAULT_SLOPES, Surrogate, lif_spikes

ARCHITECTURES = ("mlp", "conv")
"""The network shapes :func:`build_model` knows (see :attr:`Config.architecture`)."""
SCHEDULES = ("cosine", "constant")
"""The learning-rate schedules, stepped once per epoch."""
DATASETS = ("mnist", "fashion-mnist", "digits")
"""The data sets a run can use (``"digits"``: scikit-learn's 8×8 digits)."""


@dataclass(frozen=True)
class Config:
    """Everything that defines a training run; validated on creation."""

    dataset: str = "mnist"
    """One of :data:`DATASETS`."""
    data_root: str | None = None
    """Directory of the IDX files; None uses :func:`snnmath.data.default_root`."""
    train_size: int | None = None
    """How many training images are used, a seeded class-stratified subset (None for all of them)."""
    test_size: int | None = None
    """How many test images are used, the first ones of the test set (None for all of them)."""
    architecture: str = "mlp"
    """``"mlp"``: input LIF → ``depth`` weight layers (``depth − 1`` hidden of ``width``) → classes.
    ``"conv"``: input LIF → conv 3×3 (``channels``) → pool → conv 3×3 (2·``channels``) → pool → linear."""
    depth: int = 10
    width: int = 100
    channels: int = 32
    steps: int = 10
    beta: float = 0.5
    theta: float = 1.0
    init: str = "snn"
    """An initialiser of :data:`snnmath.init.NAMES`, applied at this ``theta`` (and ``beta``; the leak-aware
    scale also at this number of ``steps``)."""
    surrogate: str = "arctan"
    slope: float | None = None
    """The surrogate's slope, or None for snnTorch's default (2 for arctan, 25 for fast sigmoid)."""
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-3
    schedule: str = "cosine"
    """``"cosine"``: cosine annealing to 0 over ``epochs``, stepped per epoch; or ``"constant"``."""
    seed: int = 0

    def __post_init__(self) -> None:
        for name, allowed in (("dataset", DATASETS), ("architecture", ARCHITECTURES), ("init", NAMES),
                              ("surrogate", tuple(DEFAULT_SLOPES)), ("schedule", SCHEDULES)):
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name} must be one of {allowed}, got {getattr(self, name)!r}")
        for name in ("depth", "width", "channels", "steps", "epochs", "batch_size"):
            integer(name, getattr(self, name), low=2 if name == "depth" else 1)
        for name in ("train_size", "test_size"):
            if getattr(self, name) is not None:
                integer(name, getattr(self, name), low=1)
        integer("seed", self.seed, low=0)
        real_scalar("beta", self.beta, low=0.0, high=1.0)
        real_scalar("theta", self.theta, low=0.0, low_open=True)
        real_scalar("lr", self.lr, low=0.0, low_open=True)
        Surrogate(self.surrogate, self.slope)


class SpikingNet(nn.Module):
    """Input LIF layer, then weight layers each followed by LIF neurons; returns output spike counts."""

    def __init__(self, body: Sequence[nn.Module], beta: float, theta: float, surrogate: Surrogate) -> None:
        super().__init__()
        self.body = nn.ModuleList(body)
        self.beta, self.theta, self.surrogate = beta, theta, surrogate

    def spike_trains(self, images: torch.Tensor, steps: int) -> list[torch.Tensor]:
        """Spikes ``(T, B, …)`` of every LIF layer, the input layer first, for images ``(B, …)``."""
        spikes = self._lif(images.expand(steps, *images.shape))
        trains = [spikes]
        for layer in self.body:
            if isinstance(layer, (nn.MaxPool2d, nn.Flatten)):
                spikes = _per_step(layer, spikes)
                continue
            spikes = self._lif(_per_step(layer, spikes))
            trains.append(spikes)
        return trains

    def _lif(self, currents: torch.Tensor) -> torch.Tensor:
        return lif_spikes(currents, self.beta, self.theta, self.surrogate)

    def forward(self, images: torch.Tensor, steps: int) -> tuple[torch.Tensor, list[float]]:
        """Output spike counts ``(B, classes)`` and the firing rate of every LIF layer."""
        trains = self.spike_trains(images, steps)
        rates = [float(s.detach().mean()) for s in trains]
        return trains[-1].sum(dim=0), rates


def _per_step(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply ``layer`` to ``(T, B, …)`` by folding time into the batch: one call for all steps."""
    out = layer(x.reshape(-1, *x.shape[2:]))
    return out.view(x.shape[0], x.shape[1], *out.shape[1:])


def build_model(config: Config, image_shape: tuple[int, int], classes: int) -> SpikingNet:
    """The network of ``config`` (weights drawn by ``config.init`` from ``config.seed``)."""
    height, width = image_shape
    body: list[nn.Module]
    if config.architecture == "mlp":
        sizes = [height * width] + [config.width] * (config.depth - 1) + [classes]
        body = [nn.Flatten()] + [nn.Linear(a, b) for a, b in itertools.pairwise(sizes)]
    else:
        c = config.channels
        side = (height // 2 // 2) * (width // 2 // 2)
        body = [nn.Conv2d(1, c, 3, padding=1), nn.MaxPool2d(2), nn.Conv2d(c, 2 * c, 3, padding=1),
                nn.MaxPool2d(2), nn.Flatten(), nn.Linear(2 * c * side, classes)]
    model = SpikingNet(body, config.beta, config.theta, Surrogate(config.surrogate, config.slope))
    generator = torch.Generator().manual_seed(config.seed)
    if config.init == "fluctuation":
        apply_(model, config.init, generator=generator, threshold=config.theta, beta=config.beta)
    elif config.init == "leak_aware":
        apply_(model, config.init, generator=generator, threshold=config.theta, beta=config.beta, steps=config.steps)
    elif config.init in ("snn", "snn_uniform"):
        apply_(model, config.init, generator=generator, threshold=config.theta)
    else:
        apply_(model, config.init, generator=generator)
    return model


@dataclass
class Split:
    """Images ``(N, 1, H, W)`` as float32 in [0, 1] and labels ``(N,)`` as int64."""

    images: torch.Tensor
    labels: torch.Tensor

    def to(self, device: str | torch.device) -> Split:
        return Split(self.images.to(device), self.labels.to(device))


def load(config: Config) -> tuple[Split, Split]:
    """Training and test split of ``config.dataset``, cut to ``train_size`` / ``test_size``."""
    dataset = _dataset(config.dataset, config.data_root)
    splits = []
    for split, size in (("train", config.train_size), ("test", config.test_size)):
        images, labels = dataset.tensors(split)
        if size is not None:
            if size > len(labels):
                raise ValueError(f"{split}_size must be at most {len(labels)} for {config.dataset}, got {size}")
            keep = (datasets.stratified_subset(labels.numpy(), size, config.seed) if split == "train"
                    else np.arange(size))
            images, labels = images[keep], labels[keep]
        side = dataset.image_shape
        splits.append(Split(images.view(-1, 1, *side), labels))
    return splits[0], splits[1]


@functools.lru_cache(maxsize=2)
def _dataset(name: str, root: str | None) -> datasets.Dataset:
    """The whole data set, read (and checked) once per process."""
    return datasets.load_digits() if name == "digits" else datasets.load_mnist(root, dataset=name)


@dataclass
class Epoch:
    """Metrics after one epoch (epoch 0: before training)."""

    epoch: int
    train_loss: float | None
    train_accuracy: float | None
    test_loss: float
    test_accuracy: float
    test_correct: int
    rates: list[float]
    """Firing rate of every LIF layer (input first) on the test set."""
    seconds: float
    lr: float


@dataclass
class Result:
    """A finished run: its configuration, per-epoch history and provenance."""

    config: Config
    history: list[Epoch]
    test_size: int
    provenance: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"config": asdict(self.config), "test_size": self.test_size, "provenance": self.provenance,
                "history": [asdict(epoch) for epoch in self.history]}


def evaluate(model: SpikingNet, split: Split, steps: int, batch_size: int = 1000) -> tuple[float, int, list[float]]:
    """Mean cross-entropy, number correct and per-layer firing rates of ``model`` on ``split``."""
    loss, correct, rates, sizes = 0.0, 0, [], []
    with torch.no_grad():
        for start in range(0, len(split.labels), batch_size):
            images, labels = split.images[start:start + batch_size], split.labels[start:start + batch_size]
            counts, batch_rates = model(images, steps)
            loss += float(F.cross_entropy(counts, labels, reduction="sum"))
            correct += int((counts.argmax(dim=1) == labels).sum())
            rates.append(batch_rates)
            sizes.append(len(labels))
    return loss / len(split.labels), correct, np.average(rates, axis=0, weights=sizes).tolist()


def train(
    config: Config,
    data: tuple[Split, Split] | None = None,
    report: Callable[[Epoch], None] | None = None,
    device: str | torch.device = "cpu",
    stop_after: int | None = None,
) -> Result:
    """Train the network of ``config`` on ``device``; ``data`` overrides :func:`load` (e.g. to share one load).

    ``report`` is called with each epoch's metrics as soon as they are known. ``stop_after``
    ends the run after that many epochs of ``config``'s schedule: its history is the start of the
    full run's, bit for bit on the same machine and thread count.
    """
    last = config.epochs if stop_after is None else integer("stop_after", stop_after, low=1, high=config.epochs)
    train_split, test_split = (split.to(device) for split in (load(config) if data is None else data))
    torch.manual_seed(config.seed)
    height, width = train_split.images.shape[2:]
    model = build_model(config, (height, width), classes=10).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.lr)
    schedule = (torch.optim.lr_scheduler.CosineAnnealingLR(optimiser, T_max=config.epochs)
                if config.schedule == "cosine" else torch.optim.lr_scheduler.ConstantLR(optimiser, factor=1.0))
    order = torch.Generator().manual_seed(config.seed)
    history = [_evaluate_epoch(model, test_split, config, 0, None, None, 0.0, config.lr)]
    for epoch in range(1, last + 1):
        start = time.perf_counter()
        lr = optimiser.param_groups[0]["lr"]
        train_loss, train_accuracy = _train_epoch(model, optimiser, train_split, config, order)
        schedule.step()
        seconds = time.perf_counter() - start
        history.append(_evaluate_epoch(model, test_split, config, epoch, train_loss, train_accuracy, seconds, lr))
        if report is not None:
            report(history[-1])
    return Result(config, history, len(test_split.labels), provenance(torch.device(device)))


def _train_epoch(model: SpikingNet, optimiser: torch.optim.Optimizer, split: Split, config: Config,
                 order: torch.Generator) -> tuple[float, float]:
    """One pass over the shuffled training split; returns mean loss and accuracy over its batches."""
    permutation = torch.randperm(len(split.labels), generator=order)
    batches = permutation.split(config.batch_size)
    loss_sum, correct = 0.0, 0
    for indices in batches:
        images, labels = split.images[indices], split.labels[indices]
        counts, _ = model(images, config.steps)
        loss = F.cross_entropy(counts, labels)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        loss_sum += float(loss.detach()) * len(labels)
        correct += int((counts.detach().argmax(dim=1) == labels).sum())
    return loss_sum / len(split.labels), correct / len(split.labels)


def _evaluate_epoch(model: SpikingNet, split: Split, config: Config, epoch: int, train_loss: float | None,
                    train_accuracy: float | None, seconds: float, lr: float) -> Epoch:
    loss, correct, rates = evaluate(model, split, config.steps)
    return Epoch(epoch, train_loss, train_accuracy, loss, correct / len(split.labels), correct, rates, seconds, lr)


def provenance(device: torch.device) -> dict[str, Any]:
    """Package versions and hardware of a run on ``device``."""
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else None
    return {
        "device": str(device),
        "gpu": gpu,
        "python": platform.python_version(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def epochs_to_reach(history: Sequence[Epoch], accuracy: float) -> int | None:
    """The first epoch whose test accuracy is at least ``accuracy``; None if none is."""
    return next((e.epoch for e in history if e.test_accuracy >= accuracy), None)


def field_type(name: str) -> type:
    """The type of a :class:`Config` field (``int | None`` gives ``int``)."""
    annotation = next(str(item.type) for item in fields(Config) if item.name == name)
    return {"int": int, "float": float, "str": str}[annotation.split(" |")[0]]


def grid(base: Config, **values: Sequence[Any]) -> list[Config]:
    """Every combination of the given field values, the other fields as in ``base``.

    ``grid(base, init=["snn", "kaiming"], theta=[0.5, 1.0])`` gives four configurations.
    """
    names = {item.name for item in fields(Config)}
    for name in values:
        if name not in names:
            raise ValueError(f"{name} is not a field of Config (fields: {', '.join(sorted(names))})")
    axes = [[(name, value) for value in column] for name, column in values.items()]
    return [replace(base, **dict(combo)) for combo in itertools.product(*axes)]
