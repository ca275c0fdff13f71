"""Throughput of ``snnmath.simulate`` against its matmul roofline and against snnTorch.

Runs side by side, in one process and interleaved repeat by repeat (so that a noisy
neighbour slows all of them alike):

``simulate``  :func:`snnmath.simulate.simulate` (draws the weights, runs the LIF layers,
              keeps the statistics);
``matmul``    the bare matrix multiplies of the same shapes, ``L-1`` products
              ``(T·B, n) @ (n, n)`` into a preallocated output: the roofline;
``weights``   drawing the ``L-1`` weight matrices alone (part of ``simulate``'s time,
              not of the roofline);
``snntorch``  the same network in snnTorch: ``nn.Linear`` + ``snn.Leaky`` per layer,
              time outer, layers inner, under ``torch.no_grad`` (weights drawn beforehand,
              outside the timing).

and, in the same rounds, the infinite-width theory beside one finite network over
``KERNEL["depth"]`` layers and ``KERNEL["steps"]`` steps (the size of the book's kernel
verification) at the leak-aware gain:

``kernel_map``     :func:`snnmath.theory.kernel_depth_map` with ``KERNEL["samples"]`` Monte Carlo
                   samples per layer, one replica, a new seed every repeat; the repeats' spread of
                   the last layer's time-averaged rate is the map's Monte Carlo error (reported);
``simulate_deep``  :func:`snnmath.simulate.simulate` of one network of width ``KERNEL["width"]``,
                   one sample, for the same depth and steps.

Medians (and minima) are taken over the repeats during which no other process used more than
3 % of the CPUs (read from /proc/stat); contended repeats are kept in the JSON, marked.
Prints a table and writes ``benchmarks/results/simulator.json``. ``--quick`` runs a tiny
configuration as a smoke test and writes nothing unless ``--output`` is given.
"""

from __future__ import annotations

import argparse
import os
import statistics
from collections.abc import Callable
from pathlib import Path

import torch
from machine import CONTENDED, environment, timed, write_result

from snnmath import theory
from snnmath.init import gain_normal_, snn_normal_
from snnmath.simulate import gaussian_currents, simulate

FULL = dict(depth=100, width=1000, steps=10, batch=256, repeats=5)
QUICK = dict(depth=4, width=64, steps=3, batch=8, repeats=2)
KERNEL = dict(depth=100, steps=100, width=1000, samples=1 << 13)
QUICK_KERNEL = dict(depth=4, steps=5, width=64, samples=1 << 8)
BETA, THETA = 0.5, 1.0
DEFAULT_OUTPUT = Path(__file__).parent / "results" / "simulator.json"


def run_simulate(cfg: dict, seed: int) -> Callable[[], None]:
    """``simulate`` as the user calls it."""
    def run() -> None:
        simulate(
            cfg["depth"], cfg["width"], steps=cfg["steps"], batch=cfg["batch"], beta=BETA, theta=THETA,
            generator=torch.Generator().manual_seed(seed),
        )
    return run


def run_matmul(cfg: dict, seed: int) -> Callable[[], None]:
    """The roofline: ``depth - 1`` products ``(T·B, n) @ (n, n)`` of a 0/1 spike matrix."""
    g = torch.Generator().manual_seed(seed)
    n = cfg["width"]
    spikes = (torch.rand(cfg["steps"] * cfg["batch"], n, generator=g) < 0.15).float()
    weight = snn_normal_(torch.empty(n, n), THETA, generator=g)
    out = torch.empty(spikes.shape[0], n)

    def run() -> None:
        for _ in range(cfg["depth"] - 1):
            torch.matmul(spikes, weight.T, out=out)
    return run


def run_weights(cfg: dict, seed: int) -> Callable[[], None]:
    """Drawing the ``depth - 1`` weight matrices the way ``simulate`` does."""
    def run() -> None:
        g = torch.Generator().manual_seed(seed)
        for _ in range(cfg["depth"] - 1):
            snn_normal_(torch.empty(cfg["width"], cfg["width"]), THETA, generator=g)
    return run


def run_snntorch(cfg: dict, seed: int) -> Callable[[], None]:
    """The same network stepped in time with snnTorch, the usual way."""
    import snntorch as snn

    g = torch.Generator().manual_seed(seed)
    n, depth = cfg["width"], cfg["depth"]
    linears = [torch.nn.Linear(n, n, bias=False) for _ in range(depth - 1)]
    with torch.no_grad():
        for linear in linears:
            snn_normal_(linear.weight, THETA, generator=g)
    neurons = [snn.Leaky(beta=BETA, threshold=THETA, reset_mechanism="subtract") for _ in range(depth)]
    currents = gaussian_currents(cfg["steps"], cfg["batch"], n, generator=g)

    @torch.no_grad()
    def run() -> None:
        mems = [neuron.init_leaky() for neuron in neurons]
        for t in range(cfg["steps"]):
            spk, mems[0] = neurons[0](currents[t], mems[0])
            for layer, linear in enumerate(linears, start=1):
                spk, mems[layer] = neurons[layer](linear(spk), mems[layer])
    return run






def run_kernel_map(cfg: dict, seed: int, last_rates: list[float]) -> Callable[[], None]:
    """The kernel map over ``cfg``'s depth and steps at the leak-aware gain; each call appends the last
    layer's time-averaged rate to ``last_rates`` (a new seed each call)."""
    gain = theory.leak_aware_scale(BETA, THETA, cfg["steps"]).gain

    def run() -> None:
        kernel = theory.kernel_depth_map(gain, BETA, THETA, cfg["steps"], cfg["depth"], samples=cfg["samples"],
                                         replicas=1, seed=seed + len(last_rates))
        last_rates.append(float(kernel.rate[-1].mean()))
    return run


def run_simulate_deep(cfg: dict, seed: int) -> Callable[[], None]:
    """One network of ``cfg``'s width, depth and steps, one sample, at the leak-aware gain."""
    gain = theory.leak_aware_scale(BETA, THETA, cfg["steps"]).gain

    def run() -> None:
        simulate(cfg["depth"], cfg["width"], steps=cfg["steps"], batch=1, beta=BETA, theta=THETA,
                 init=lambda w, g=None: gain_normal_(w, gain, generator=g),
                 generator=torch.Generator().manual_seed(seed))
    return run


def kernel_summary(cfg: dict, samples: dict[str, dict[str, list[float]]], last_rates: list[float]) -> dict:
    """The kernel map beside the simulator at the same depth and steps, with the map's Monte Carlo error:
    the standard deviation of one run's last-layer time-averaged rate over the repeats, relative to their mean."""
    medians = {name: statistics.median(clean_times(samples[name])) for name in ("kernel_map", "simulate_deep")}
    return dict(config=dict(cfg, beta=BETA, theta=THETA, gain=theory.leak_aware_scale(BETA, THETA, cfg["steps"]).gain),
                rows={name: dict(samples[name], median_s=medians[name], min_s=min(clean_times(samples[name])))
                      for name in medians},
                last_layer_rates=last_rates,
                monte_carlo_error=statistics.stdev(last_rates) / statistics.mean(last_rates),
                kernel_over_simulate=medians["kernel_map"] / medians["simulate_deep"])


def measure(runs: dict[str, Callable[[], None]], repeats: int) -> dict[str, dict[str, list[float]]]:
    """Time each run, interleaved (one of each per round), after one warm-up each.

    A sample during which other processes used more than ``CONTENDED`` of the CPUs is kept
    but marked; rounds go on (up to ``3 * repeats``) until each run has ``repeats`` clean ones.
    """
    for run in runs.values():
        run()
    samples = {name: {"times_s": [], "foreign_cpu_share": []} for name in runs}
    for _ in range(3 * repeats):
        if all(len(clean_times(s)) >= repeats for s in samples.values()):
            break
        for name, run in runs.items():
            wall, foreign = timed(run)
            samples[name]["times_s"].append(wall)
            samples[name]["foreign_cpu_share"].append(foreign)
    return samples


def clean_times(sample: dict[str, list[float]]) -> list[float]:
    """The times not marked as contended (all of them when none is clean)."""
    pairs = zip(sample["times_s"], sample["foreign_cpu_share"], strict=True)
    clean = [t for t, f in pairs if f is None or f <= CONTENDED]
    return clean or sample["times_s"]




def summarise(cfg: dict, samples: dict[str, dict[str, list[float]]]) -> dict:
    """Medians and minima of the clean samples, throughputs and ratios."""
    updates = cfg["depth"] * cfg["width"] * cfg["steps"] * cfg["batch"]
    flops = 2.0 * (cfg["depth"] - 1) * cfg["steps"] * cfg["batch"] * cfg["width"] ** 2
    rows = {}
    for name, sample in samples.items():
        ts = clean_times(sample)
        med = statistics.median(ts)
        rows[name] = dict(
            sample, clean=len(ts), median_s=med, min_s=min(ts),
            neuron_updates_per_s=updates / med if name != "weights" else None,
            gflop_per_s=flops / med / 1e9 if name != "weights" else None,
        )

    def ratio(a: str, b: str, key: str) -> float:
        return rows[a][key] / rows[b][key]

    ratios = {
        "simulator_over_matmul_throughput": ratio("matmul", "simulate", "median_s"),
        "simulator_over_matmul_throughput_best": ratio("matmul", "simulate", "min_s"),
        "simulator_speedup_over_snntorch": ratio("snntorch", "simulate", "median_s"),
        "weights_share_of_simulate": ratio("weights", "simulate", "median_s"),
    }
    return dict(rows=rows, ratios=ratios, neuron_updates=updates, matmul_flop=flops)


def print_table(cfg: dict, result: dict) -> None:
    """A plain-text table of the summary."""
    print(
        f"L={cfg['depth']} n={cfg['width']} T={cfg['steps']} B={cfg['batch']}  "
        f"threads={torch.get_num_threads()}  repeats={cfg['repeats']}"
    )
    print(f"{'':10} {'median s':>9} {'min s':>9} {'Mupd/s':>9} {'GFLOP/s':>8} {'clean':>7}")
    for name, row in result["rows"].items():
        if name in ("kernel_map", "simulate_deep"):
            continue
        rate = f"{row['neuron_updates_per_s'] / 1e6:9.1f}" if row["neuron_updates_per_s"] else f"{'-':>9}"
        gflops = f"{row['gflop_per_s']:8.1f}" if row["gflop_per_s"] else f"{'-':>8}"
        clean = f"{row['clean']}/{len(row['times_s'])}"
        print(f"{name:10} {row['median_s']:9.3f} {row['min_s']:9.3f} {rate} {gflops} {clean:>7}")
    for name, value in result["ratios"].items():
        print(f"{name:40} {value:6.3f}")
    kernel = result["kernel"]
    print(f"L={kernel['config']['depth']} T={kernel['config']['steps']}: kernel map "
          f"({kernel['config']['samples']} samples) {kernel['rows']['kernel_map']['median_s']:.2f} s, Monte Carlo "
          f"error {kernel['monte_carlo_error']:.2%}; one network of width {kernel['config']['width']} "
          f"{kernel['rows']['simulate_deep']['median_s']:.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny smoke configuration")
    parser.add_argument("--repeats", type=int, help="timed repeats of each run (median taken)")
    parser.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--output", type=Path, help=f"JSON file (default {DEFAULT_OUTPUT}; none with --quick)")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    cfg = dict(QUICK if args.quick else FULL)
    kernel_cfg = dict(QUICK_KERNEL if args.quick else KERNEL)
    if args.repeats:
        cfg["repeats"] = args.repeats
    if args.threads:
        torch.set_num_threads(args.threads)
    runs = {
        "simulate": run_simulate(cfg, args.seed),
        "matmul": run_matmul(cfg, args.seed),
        "weights": run_weights(cfg, args.seed),
        "snntorch": run_snntorch(cfg, args.seed),
    }
    last_rates: list[float] = []
    kernel_runs = {"kernel_map": run_kernel_map(kernel_cfg, args.seed, last_rates),
                   "simulate_deep": run_simulate_deep(kernel_cfg, args.seed)}
    load_before = os.getloadavg()
    samples = measure(runs | kernel_runs, cfg["repeats"])
    result = summarise(cfg, {name: samples[name] for name in runs})
    result["kernel"] = kernel_summary(kernel_cfg, samples, last_rates)
    print_table(cfg, result)

    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    if output is not None:
        import snntorch

        result.update(
            config=dict(cfg, beta=BETA, theta=THETA, dtype="float32", device="cpu", contended_above=CONTENDED),
            environment=environment(load_before, torch=torch.__version__, snntorch=snntorch.__version__),
        )
        write_result(output, result)


if __name__ == "__main__":
    main()
