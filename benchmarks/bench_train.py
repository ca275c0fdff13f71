"""One training epoch of a deep spiking MLP: ``snnmath.train`` against the same model in snnTorch.

The model is the 10 × 100 MLP of the training chapter (input LIF layer fed by the pixels,
784 → 100 × 9 → 10, β = 0.5, θ = 1, arctan surrogate, T = 10), trained for one epoch on
MNIST (60,000 images, batch 64, Adam, lr 1e-3) on the CPU. Side by side, in one process,
interleaved repeat by repeat:

``snnmath``   :class:`snnmath.train.SpikingNet`: each layer runs all T steps at once
              (one ``(T·B, n)`` product), then the LIF recurrence;
``snntorch``  ``nn.Linear`` + ``snn.Leaky(reset_mechanism="subtract")`` per layer, stepped in
              time (time outer, layers inner), the usual way to write an snnTorch model.

Both start from the same weights and see the batches in the same order; the script checks
that their first-batch losses agree. Repeats during which other processes used more than
3 % of the CPUs are marked and set aside (see ``machine.py``). Writes
``benchmarks/results/train.json``; ``--quick`` times 20 batches and writes nothing unless
``--output`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
from collections.abc import Callable
from pathlib import Path

import snntorch as snn
import torch
import torch.nn.functional as F
from machine import CONTENDED, environment, timed, write_result
from torch import nn

from snnmath import train

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "train.json"
CONFIG = train.Config(depth=10, width=100, steps=10, beta=0.5, theta=1.0, batch_size=64, lr=1e-3, epochs=1)


class SnnTorchMLP(nn.Module):
    """The same network written the snnTorch way: time outer, layers inner."""

    def __init__(self, linears: list[nn.Linear], beta: float, theta: float, steps: int) -> None:
        super().__init__()
        self.linears = nn.ModuleList(linears)
        self.neurons = nn.ModuleList(snn.Leaky(beta=beta, threshold=theta, reset_mechanism="subtract")
                                     for _ in range(len(linears) + 1))
        self.steps = steps

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        pixels = images.flatten(1)
        potentials = [neuron.init_leaky() for neuron in self.neurons]
        counts = torch.zeros(())
        for _ in range(self.steps):
            spikes, potentials[0] = self.neurons[0](pixels, potentials[0])
            for i, linear in enumerate(self.linears, 1):
                spikes, potentials[i] = self.neurons[i](linear(spikes), potentials[i])
            counts = counts + spikes
        return counts


def models(seed: int) -> tuple[nn.Module, nn.Module]:
    """The snnmath model and an snnTorch copy with the same weights."""
    ours = train.build_model(dataclasses.replace(CONFIG, seed=seed), (28, 28), classes=10)
    linears = [layer for layer in ours.body if isinstance(layer, nn.Linear)]
    copies = [nn.Linear(a.in_features, a.out_features) for a in linears]
    for copy, original in zip(copies, linears, strict=True):
        copy.load_state_dict(original.state_dict())
    return ours, SnnTorchMLP(copies, CONFIG.beta, CONFIG.theta, CONFIG.steps)


def epoch(model: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor], split: train.Split,
          batches: list[torch.Tensor]) -> Callable[[], float]:
    """One pass of Adam over ``batches``; returns the first batch's loss."""
    def run() -> float:
        optimiser = torch.optim.Adam(model.parameters(), lr=CONFIG.lr)
        first = None
        for indices in batches:
            loss = F.cross_entropy(forward(split.images[indices]), split.labels[indices])
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            first = float(loss.detach()) if first is None else first
        return first if first is not None else float("nan")
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="20 batches instead of an epoch")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    split, _ = train.load(CONFIG)
    batches = list(torch.randperm(len(split.labels), generator=torch.Generator().manual_seed(args.seed))
                   .split(CONFIG.batch_size))
    batches = batches[:20] if args.quick else batches

    first_losses, samples = {}, {"snnmath": [], "snntorch": []}
    for repeat in range(args.repeats):
        for name in samples:
            ours, theirs = models(args.seed)
            if name == "snnmath":
                run = epoch(ours, lambda images, model=ours: model(images, CONFIG.steps)[0], split, batches)
            else:
                run = epoch(theirs, theirs, split, batches)
            result: list[float] = []
            wall, foreign = timed(lambda run=run, result=result: result.append(run()))
            samples[name].append({"seconds": wall, "foreign_cpu_share": foreign})
            first_losses[name] = result[0]
            print(f"repeat {repeat}: {name:9s} {wall:7.2f} s (other processes: {foreign or 0:.0%} of the CPUs)")
    if abs(first_losses["snnmath"] - first_losses["snntorch"]) > 1e-4:
        raise SystemExit(f"first-batch losses differ: {first_losses}")

    images = sum(len(batch) for batch in batches)
    summary = {}
    for name, runs in samples.items():
        clean = [r["seconds"] for r in runs if r["foreign_cpu_share"] is None or r["foreign_cpu_share"] <= CONTENDED]
        times = clean or [r["seconds"] for r in runs]
        summary[name] = {"samples": runs, "clean": len(clean), "median_s": statistics.median(times),
                         "images_per_s": images / statistics.median(times)}
    speedup = summary["snntorch"]["median_s"] / summary["snnmath"]["median_s"]
    print(f"snnmath {summary['snnmath']['median_s']:.2f} s, snnTorch {summary['snntorch']['median_s']:.2f} s "
          f"per {'20 batches' if args.quick else 'epoch'}: snnmath is {speedup:.2f}× as fast")
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    if output is not None:
        write_result(output, {
            "config": {**dataclasses.asdict(CONFIG), "batches": len(batches), "images": images},
            "runs": summary, "speedup_over_snntorch": speedup, "first_batch_loss": first_losses,
            "environment": environment(load_before, torch=torch.__version__, snntorch=snn.__version__),
        })


if __name__ == "__main__":
    main()
