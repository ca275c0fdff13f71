"""snnmath.sweep on a real local Dask cluster (2 worker processes, 1 thread each), with runs of well under a second.

Nothing here is timed: runs that must be in progress at some moment wait for a release file
(:class:`sweep_helpers.GatedTrainer`), so each scenario happens in the same order every time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from distributed import Client, LocalCluster
from sweep_helpers import CODE, GatedTrainer, attempts, tiny, wait_until

from snnmath import records
from snnmath.sweep import Store, run_name, sweep
from snnmath.train import cli as train_cli

TESTS = Path(__file__).parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as local:
        yield local


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster) as connected:
        yield connected


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Path]:
    """The folder of a GatedTrainer; released at the end, so that no held run outlives its test."""
    folder = tmp_path / "gate"
    folder.mkdir()
    yield folder
    (folder / "release").touch()


def stored(store: Path) -> list[Path]:
    return sorted(store.glob("*.json"))


def sweep_process(cluster: LocalCluster, store: Path, gate: Path, hold: str, log: Path) -> subprocess.Popen:
    """A sweep of seeds 0..3 in its own process (and process group), on ``cluster``."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")]))
    argv = [sys.executable, "-c", "import sweep_helpers; sweep_helpers.main()",
            cluster.scheduler_address, str(store), str(gate), hold]
    return subprocess.Popen(argv, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)


def test_store_keys_tell_configurations_and_code_apart(tmp_path: Path) -> None:
    store = Store(tmp_path, CODE)
    assert store.key(tiny(0)) == store.key(tiny(0)) == Store(tmp_path / "x", CODE).key(tiny(0))
    assert store.key(tiny(0)).startswith(run_name(tiny(0)) + "-")
    other_code = Store(tmp_path, "other").key(tiny(0))
    keys = {store.key(tiny(0)), store.key(tiny(1)), store.key(tiny(0, theta=0.5)), other_code}
    assert len(keys) == 4
    assert not store.done(tiny(0))


def test_store_writes_are_atomic_under_concurrent_writers(tmp_path: Path) -> None:
    store, config = Store(tmp_path, CODE), tiny(0)
    records = [{"run": {"writer": writer, "padding": "x" * 200_000}} for writer in range(2)]
    stop, torn = threading.Event(), []

    def read() -> None:
        while not stop.is_set():
            if store.done(config):
                try:
                    store.read(config)
                except json.JSONDecodeError as error:
                    torn.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    with ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda record: [store.write(config, record) for _ in range(30)], records))
    stop.set()
    reader.join()
    assert torn == []
    assert store.read(config) in records
    assert [path.name for path in tmp_path.iterdir()] == [store.path(config).name]  # no temporary file left


def test_sweep_stores_every_run_and_a_rerun_trains_nothing(client: Client, tmp_path: Path) -> None:
    store = Store(tmp_path / "store", CODE)
    configs = [tiny(0), tiny(1), tiny(0)]  # a repeated configuration is one run
    summary = sweep(configs, store, client, command="a test", progress=False,
                    check_code=False)
    assert (summary.skipped, summary.trained, summary.failed) == (0, 2, {})
    record = store.read(tiny(1))
    assert set(record) == {"run", "wall_s", "commit", "command", "code", "worker"}
    assert record["code"] == CODE and record["command"] == "a test" and record["run"]["config"]["seed"] == 1
    assert len(records.read_runs(store.root)) == 2  # the book reads the store as it reads full_scale.py's runs
    before = [path.read_bytes() for path in stored(store.root)]
    again = sweep(configs, store, client, progress=False, check_code=False)
    assert (again.skipped, again.trained) == (2, 0)
    assert [path.read_bytes() for path in stored(store.root)] == before


def test_a_killed_sweep_resumes_losing_and_repeating_nothing(
    cluster: LocalCluster, client: Client, gate: Path, tmp_path: Path
) -> None:
    """Seeds 0 and 1 finish, 2 and 3 are held in progress, the sweep's process group is killed; the resumed
    sweep keeps the two stored runs as they are and trains only 2 and 3."""
    store = tmp_path / "store"
    process = sweep_process(cluster, store, gate, "2,3", tmp_path / "first.log")
    try:
        wait_until(lambda: len(stored(store)) == 2 and attempts(gate, 2) and attempts(gate, 3),
                   "seeds 0 and 1 stored and 2 and 3 started")
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    done = {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in stored(store)}
    keys = Store(store, CODE)
    assert sorted(done) == sorted(keys.path(tiny(seed)).name for seed in (0, 1))
    (gate / "release").touch()  # the killed sweep's held runs end (their results are dropped)
    summary = sweep([tiny(seed) for seed in range(4)], keys, client, trainer=GatedTrainer(str(gate)),
                    progress=False, check_code=False)
    assert (summary.skipped, summary.trained, summary.failed) == (2, 2, {})
    assert {path.name: (path.read_bytes(), path.stat().st_mtime_ns) for path in stored(store) if path.name in done} \
        == done
    assert len(stored(store)) == 4
    assert [len(attempts(gate, seed)) for seed in range(4)] == [1, 1, 2, 2]


def test_a_run_whose_worker_is_killed_completes_on_another(client: Client, gate: Path, tmp_path: Path) -> None:
    store = Store(tmp_path / "store", CODE)
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(sweep, [tiny(0, epochs=2)], store, client, trainer=GatedTrainer(str(gate), (0,)),
                              progress=False, check_code=False)
        wait_until(lambda: attempts(gate, 0), "the run to start")
        pid, address = attempts(gate, 0)[0]
        os.kill(int(pid), signal.SIGKILL)
        wait_until(lambda: len(attempts(gate, 0)) == 2, "the run to start again")
        (gate / "release").touch()
        summary = running.result(timeout=120)
    assert (summary.trained, summary.failed) == (1, {})
    (_, first), (second_pid, second) = attempts(gate, 0)
    record = store.read(tiny(0, epochs=2))
    assert record["worker"] == second != first and int(second_pid) != int(pid)
    assert len(record["run"]["history"]) == 3


def test_two_sweeps_on_one_store_do_not_corrupt_it(cluster: LocalCluster, gate: Path, tmp_path: Path) -> None:
    """Both sweeps see an empty store and so train and write every run: each file is written twice, whole."""
    store = tmp_path / "store"
    logs = [tmp_path / f"sweep{n}.log" for n in (1, 2)]
    processes = [sweep_process(cluster, store, gate, "0,1,2,3", log) for log in logs]
    try:
        wait_until(lambda: all("todo 4" in log.read_text() for log in logs), "both sweeps to plan 4 runs")
        (gate / "release").touch()
        assert [process.wait(timeout=180) for process in processes] == [0, 0]
    finally:
        for process in processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
    assert all("trained 4 skipped 0 failed 0" in log.read_text() for log in logs)
    keys = Store(store, CODE)
    assert [path.name for path in stored(store)] == sorted(keys.path(tiny(seed)).name for seed in range(4))
    assert [path.name for path in store.iterdir() if not path.name.endswith(".json")] == []
    runs = records.read_runs(store)
    assert sorted(run.config.seed for run in runs.values()) == [0, 1, 2, 3]
    assert [len(attempts(gate, seed)) for seed in range(4)] == [2, 2, 2, 2]


def test_a_worker_with_other_code_refuses_to_train(client: Client, tmp_path: Path) -> None:
    store = Store(tmp_path / "store", "0.0.0+not-this-code")
    summary = sweep([tiny(0)], store, client, progress=False)
    assert summary.trained == 0 and list(summary.failed) == [store.key(tiny(0))]
    assert "install the same code on every worker" in summary.failed[store.key(tiny(0))]
    assert not store.done(tiny(0))


def test_command_line_on_an_existing_scheduler_resumes_from_its_store(
    cluster: LocalCluster, tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out, store = tmp_path / "runs.json", tmp_path / "store"
    argv = ["--dataset", "digits", "--train-size", "100", "--test-size", "50", "--depth", "2", "--width", "8",
            "--steps", "2", "--epochs", "1", "--seed", "0", "1", "--scheduler", cluster.scheduler_address,
            "--store", str(store), "--out", str(out), "--quiet"]
    assert train_cli.main(argv) == 0
    first = json.loads(out.read_text())["runs"]
    assert "2 runs trained, 0 found" in capsys.readouterr().err
    assert train_cli.main(argv) == 0
    assert "0 runs trained, 2 found" in capsys.readouterr().err
    assert json.loads(out.read_text())["runs"] == first
    assert [run["config"]["seed"] for run in first] == [0, 1]
    record = json.loads(stored(store)[0].read_text())
    assert record["command"].startswith("python -m snnmath.train --dataset digits")
