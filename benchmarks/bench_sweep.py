"""Sweep throughput: local Dask workers against one process training the same runs one after another.

The runs are ``--runs`` configurations of the training chapter's 10 × 100 MLP (β = 0.5, θ = 1,
T = 10, batch 64, one epoch) on a class-stratified subset of ``--train-size`` MNIST training
images, tested on ``--test-size`` images, initialisers snn and kaiming alternating over seeds.
Side by side in one run, alternating repeat by repeat:

``sequential``  :func:`snnmath.train.train` of every configuration in this process, one after
                the other, with torch's default number of threads (what one process does alone);
``sequential_1thread``  the same with one torch thread (what each worker of the sweep does);
``sweep``       :func:`snnmath.sweep.sweep` of the same configurations on a local cluster of
                ``--workers`` single-threaded worker processes (the default of
                ``python -m snnmath.train``), into a fresh store. The cluster is started before
                the timing; its start-up (worker processes importing torch) is timed on its own.

Each sample records the share of the CPUs that other processes used meanwhile (for the sweep,
the worker processes count as its own); samples above 3 % are marked and set aside when
clean ones exist (see ``machine.py``). Writes ``benchmarks/results/sweep.json``; ``--quick``
runs 4 tiny runs on scikit-learn's digits and writes nothing unless ``--output`` is given.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import distributed
import psutil
import torch
from machine import CONTENDED, busy_cpu_seconds, environment, write_result

from snnmath import train
from snnmath.sweep import Store, connect, sweep

DEFAULT_OUTPUT = Path(__file__).parent / "results" / "sweep.json"
BASE = train.Config(depth=10, width=100, steps=10, beta=0.5, theta=1.0, batch_size=64, lr=1e-3, epochs=1)
QUICK = train.Config(dataset="digits", train_size=200, test_size=100, depth=3, width=16, steps=3, epochs=1)


def tree_cpu_seconds() -> float:
    """CPU seconds of this process and every process below it (the local cluster's workers)."""
    me = psutil.Process()
    total = 0.0
    for process in [me, *me.children(recursive=True)]:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def timed(run: Callable[[], object]) -> tuple[float, float | None]:
    """Wall time of ``run()`` and the share of all CPUs that processes outside this tree used meanwhile."""
    busy, own, start = busy_cpu_seconds(), tree_cpu_seconds(), time.perf_counter()
    run()
    wall = time.perf_counter() - start
    busy_after, own_after = busy_cpu_seconds(), tree_cpu_seconds()
    if busy is None or busy_after is None:
        return wall, None
    slack = 2 / os.sysconf("SC_CLK_TCK")
    foreign = max(0.0, (busy_after - busy) - (own_after - own) - slack)
    return wall, foreign / (wall * (os.cpu_count() or 1))


def configs(args: argparse.Namespace) -> list[train.Config]:
    base = QUICK if args.quick else dataclasses.replace(BASE, dataset=args.dataset, train_size=args.train_size,
                                                        test_size=args.test_size)
    return [dataclasses.replace(base, init=("snn", "kaiming")[i % 2], seed=i // 2) for i in range(args.runs)]


def in_sequence(todo: list[train.Config], threads: int) -> tuple[float, float | None, list[train.Result]]:
    """Train every configuration in this process on ``threads`` torch threads; wall time, foreign share, results."""
    before, results = torch.get_num_threads(), []
    torch.set_num_threads(threads)
    try:
        wall, foreign = timed(lambda: results.extend(train.train(config) for config in todo))
    finally:
        torch.set_num_threads(before)
    return wall, foreign, results


def summarise(samples: list[dict[str, float | None]], runs: int) -> dict[str, object]:
    clean = [s["seconds"] for s in samples if s["foreign_cpu_share"] is None or s["foreign_cpu_share"] <= CONTENDED]
    times = [float(t) for t in clean] or [float(s["seconds"] or 0.0) for s in samples]
    median = statistics.median(times)
    return {"samples": samples, "clean": len(clean), "median_s": median, "runs_per_hour": 3600 * runs / median}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--quick", action="store_true", help="4 tiny runs on digits; writes no file")
    parser.add_argument("--runs", type=int, default=None, help="number of runs (default 8; 4 with --quick)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                        help="local workers of the sweep (default: one per CPU core)")
    parser.add_argument("--dataset", default="mnist", choices=("mnist", "fashion-mnist"), help="default mnist")
    parser.add_argument("--train-size", type=int, default=6000, help="training images per run (default 6000)")
    parser.add_argument("--test-size", type=int, default=2000, help="test images per run (default 2000)")
    parser.add_argument("--repeats", type=int, default=2, help="timed repeats of each (default 2)")
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    args.runs = args.runs or (4 if args.quick else 8)
    load_before = os.getloadavg()
    todo = configs(args)

    start = time.perf_counter()
    with connect(None, args.workers) as client:
        client.run(lambda: __import__("snnmath.sweep") and None)  # the workers import torch and snnmath, untimed
        startup_s = time.perf_counter() - start
        print(f"local cluster of {args.workers} workers up in {startup_s:.1f} s")
        samples: dict[str, list[dict[str, float | None]]] = {"sequential": [], "sequential_1thread": [], "sweep": []}
        accuracy: dict[str, list[float]] = {}
        for repeat in range(args.repeats):
            for name, threads in (("sequential", torch.get_num_threads()), ("sequential_1thread", 1)):
                wall, foreign, results = in_sequence(todo, threads)
                samples[name].append({"seconds": wall, "foreign_cpu_share": foreign})
                accuracy[name] = [r.history[-1].test_accuracy for r in results]
                print(f"repeat {repeat}: {name:18s} {wall:7.1f} s (other processes: {foreign or 0:.0%} of the CPUs)")
            with tempfile.TemporaryDirectory() as folder:
                store = Store(Path(folder), "bench")
                wall, foreign = timed(lambda store=store: sweep(todo, store, client, progress=False, check_code=False))
                samples["sweep"].append({"seconds": wall, "foreign_cpu_share": foreign})
                accuracy["sweep"] = [store.read(c)["run"]["history"][-1]["test_accuracy"] for c in todo]
            print(f"repeat {repeat}: {'sweep':18s} {wall:7.1f} s (other processes: {foreign or 0:.0%} of the CPUs)")

    summary = {name: summarise(runs, len(todo)) for name, runs in samples.items()}
    sequential_s, one_thread_s, sweep_s = (float(summary[name]["median_s"]) for name in samples)
    speedup, with_startup = sequential_s / sweep_s, sequential_s / (sweep_s + startup_s)
    print(f"{len(todo)} runs: sequential {sequential_s:.1f} s ({one_thread_s:.1f} s on 1 thread), sweep on "
          f"{args.workers} workers {sweep_s:.1f} s: {speedup:.2f}× the throughput of one process "
          f"({with_startup:.2f}× counting the cluster's start-up of {startup_s:.1f} s), "
          f"{one_thread_s / sweep_s:.2f}× that of one single-threaded process")
    output = args.output or (None if args.quick else DEFAULT_OUTPUT)
    if output is not None:
        write_result(output, {
            "configs": [dataclasses.asdict(config) for config in todo],
            "workers": args.workers, "runs": summary, "cluster_startup_s": startup_s,
            "sweep_speedup": speedup, "sweep_speedup_with_startup": with_startup,
            "sweep_speedup_over_1thread": one_thread_s / sweep_s,
            "final_test_accuracy": accuracy,
            "environment": environment(load_before, torch=torch.__version__, distributed=distributed.__version__),
        })


if __name__ == "__main__":
    main()
