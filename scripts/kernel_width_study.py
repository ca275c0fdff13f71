"""Finite-width gap: deep LIF networks of width n against the kernel map (their n → ∞ limit).

For each leak beta and width n: R independent networks (each its own N(0, c/n) weights, c the
first-step gain 1/Q(theta)), ``batch`` direct-encoded input samples each, depth layers, T steps
from rest; per network and layer the rate averaged over the T steps and the samples. The kernel
map (snnmath.theory.kernel_depth_map) is evaluated once per beta with independent replicas, and
the same time-averaged rate is kept per replica and layer. One JSON per (beta, n) and one per
beta for the kernel map, under results/kernel_width/, each written as soon as it is computed and
skipped when present (the study resumes), with its provenance (commit, versions, hardware,
seconds, the exact command).

    python scripts/kernel_width_study.py                 # run what is missing
    python scripts/kernel_width_study.py --only-kernel   # only the kernel map files
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from _provenance import provenance

from snnmath import init, theory
from snnmath.simulate import simulate

OUT = Path(__file__).resolve().parents[1] / "results" / "kernel_width"
BETAS = (0.5, 0.9)
WIDTHS = (250, 500, 1000, 2000, 4000)
NETWORKS = {250: 3200, 500: 1000, 1000: 300, 2000: 64, 4000: 16}
"""Independent networks per width: about equal computing time per width (the cost of a network
grows as n², the weight draws); the standard error therefore grows with n (see the results)."""
THETA, STEPS, DEPTH, BATCH = 1.0, 20, 20, 4
KERNEL_SAMPLES, KERNEL_REPLICAS = 1 << 18, 16
WEIGHT_ELEMENTS = 1 << 26
"""Networks are simulated in chunks holding at most about this many weights at once."""


def gain() -> float:
    return float(theory.weight_variance(1, THETA))


def kernel_file(beta: float) -> dict:
    started = time.perf_counter()
    run = theory.kernel_depth_map(gain(), beta, THETA, STEPS, DEPTH, input="direct", samples=KERNEL_SAMPLES,
                                  replicas=KERNEL_REPLICAS, seed=int(1000 * beta))
    return dict(kind="kernel", beta=beta, theta=THETA, steps=STEPS, depth=DEPTH, gain=gain(),
                samples=KERNEL_SAMPLES, replicas=KERNEL_REPLICAS, seed=int(1000 * beta),
                rates=run.rates.tolist(),  # (replicas, depth, T)
                time_averaged=run.rates.mean(axis=2).tolist(),  # (replicas, depth)
                provenance=provenance(started))


def simulation_file(beta: float, width: int) -> dict:
    started = time.perf_counter()
    c, networks = gain(), NETWORKS[width]
    chunk = max(1, WEIGHT_ELEMENTS // (width * width))

    def fill(weight: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return init.gain_normal_(weight, c, generator=generator)

    per_network, per_step, seed = [], np.zeros((DEPTH, STEPS)), 10_000 * int(100 * beta) + width
    for first in range(0, networks, chunk):
        count = min(chunk, networks - first)
        record = simulate(DEPTH, width, steps=STEPS, batch=BATCH, networks=count, beta=beta, theta=THETA,
                          init=fill,
                          generator=torch.Generator().manual_seed(seed + 7919 * first))
        active = record.active.double().view(DEPTH, STEPS, count, BATCH)  # network-major samples
        per_network.append((active.mean(dim=(1, 3)) / width).numpy())  # (depth, count)
        per_step += record.rate.double().numpy() * count
    rates = np.concatenate(per_network, axis=1).T  # (networks, depth)
    return dict(kind="simulation", beta=beta, theta=THETA, steps=STEPS, depth=DEPTH, width=width, gain=c,
                networks=networks, batch=BATCH, seed=seed, time_averaged=rates.tolist(),
                rate_per_step=(per_step / networks).tolist(), provenance=provenance(started))


def write(path: Path, make) -> None:
    if path.exists():
        print(f"{path.name}: present, skipped", flush=True)
        return
    data = make()
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data) + "\n")
    tmp.replace(path)
    print(f"{path.name}: {data['provenance']['seconds']:.0f} s", flush=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only-kernel", action="store_true")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    OUT.mkdir(parents=True, exist_ok=True)
    for beta in BETAS:
        write(OUT / f"kernel_beta{beta}.json", lambda beta=beta: kernel_file(beta))
    if args.only_kernel:
        return 0
    for width in WIDTHS:
        for beta in BETAS:
            write(OUT / f"sim_beta{beta}_n{width}.json", lambda beta=beta, width=width: simulation_file(beta, width))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
