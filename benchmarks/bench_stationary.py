"""Speed and accuracy of ``snnmath.theory.stationary_rate`` on a 100 x 100 grid of (mean, std).

For β in {0.5, 0.9} and θ = 1 it times one call over the whole grid (mean in [-1, 2],
std log-spaced in [0.05, 3]), ``--repeats`` times after a warm-up, and reports the median
and the minimum. A sample during which other processes used more than 3 % of the CPUs
(from /proc/stat) is marked as contended; the medians use the clean samples when there are
any. Accuracy is estimated on every 5th grid point (20 x 20) against a grid with twice the
nodes per σ (the method converges spectrally, so the difference bounds the error of the
default). Prints a table and writes ``benchmarks/results/stationary.json``; ``--quick`` runs
a 10 x 10 grid and writes nothing unless ``--output`` is given.
"""

from __future__ import annotations

import argparse
import os
import statistics
from pathlib import Path

import numpy as np
import scipy
import torch
from machine import CONTENDED, environment, timed, write_result

from snnmath.theory import stationary, stationary_rate

BETAS, THETA = (0.5, 0.9), 1.0
MEAN_RANGE, STD_RANGE = (-1.0, 2.0), (0.05, 3.0)
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "stationary.json"


def grid(points: int) -> tuple[np.ndarray, np.ndarray]:
    mean = np.linspace(*MEAN_RANGE, points)[:, None]
    std = np.geomspace(*STD_RANGE, points)[None, :]
    return mean, std








def node_counts(mean: np.ndarray, std: np.ndarray, beta: float) -> list[int]:
    """Distinct grid sizes (nodes per pair) that the default resolution uses on this grid."""
    mu, sd, b, th = (a.ravel() for a in np.broadcast_arrays(mean, std, beta, THETA))
    _, _, _, left, right = stationary._panels(mu, sd, b, th, stationary.NODES_PER_STD)
    return sorted({int(n) for n in stationary.PANEL * (left + right)})


def bench(points: int, repeats: int) -> dict:
    mean, std = grid(points)
    rows = {}
    for beta in BETAS:
        rates = stationary_rate(mean, std, beta, THETA)  # warm-up
        samples = [timed(lambda b=beta: stationary_rate(mean, std, b, THETA)) for _ in range(repeats)]
        times = [t for t, _ in samples]
        clean = [t for t, f in samples if f is None or f <= CONTENDED] or times
        sub_mean, sub_std = mean[::5], std[:, ::5]
        coarse = stationary_rate(sub_mean, sub_std, beta, THETA)
        fine = stationary_rate(sub_mean, sub_std, beta, THETA, nodes_per_std=2 * stationary.NODES_PER_STD)
        nodes = node_counts(mean, std, beta)
        rows[str(beta)] = dict(
            times_s=times,
            foreign_cpu_share=[f for _, f in samples],
            clean=len(clean),
            median_s=statistics.median(clean),
            min_s=min(clean),
            rate_range=[float(rates.min()), float(rates.max())],
            nodes_min=nodes[0],
            nodes_max=nodes[-1],
            refinement_max_abs_diff=float(np.max(np.abs(coarse - fine))),
            refinement_points=int(coarse.size),
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 x 10 grid smoke run")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, help=f"JSON file (default {DEFAULT_OUTPUT}; none with --quick)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    points = 10 if args.quick else 100
    load_before = os.getloadavg()
    rows = bench(points, args.repeats)

    print(f"grid {points}x{points}: mean in {MEAN_RANGE}, std in {STD_RANGE} (log), theta={THETA}, "
          f"threads={torch.get_num_threads()}, nodes_per_std={stationary.NODES_PER_STD}")
    print(f"{'beta':>5} {'median s':>9} {'min s':>8} {'clean':>6} {'nodes':>10} {'|r - r(2x nodes)|':>18}")
    for beta, row in rows.items():
        nodes = f"{row['nodes_min']}-{row['nodes_max']}"
        clean = f"{row['clean']}/{len(row['times_s'])}"
        print(f"{beta:>5} {row['median_s']:9.3f} {row['min_s']:8.3f} {clean:>6} {nodes:>10} "
              f"{row['refinement_max_abs_diff']:18.1e}")

    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    if output is not None:
        result = dict(
            rows=rows,
            config=dict(
                grid=[points, points], mean_range=MEAN_RANGE, std_range=STD_RANGE, std_spacing="log",
                betas=BETAS, theta=THETA, nodes_per_std=stationary.NODES_PER_STD, panel=stationary.PANEL,
                repeats=args.repeats, contended_above=CONTENDED,
            ),
            environment=environment(
                load_before, torch=torch.__version__, numpy=np.__version__, scipy=scipy.__version__
            ),
        )
        write_result(output, result)


if __name__ == "__main__":
    main()
