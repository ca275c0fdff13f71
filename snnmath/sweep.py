"""Sweeps of training runs on Dask, resumable through a store of finished runs.

A sweep sends every :class:`~snnmath.train.Config` not yet in the :class:`Store` to a Dask
cluster, one :func:`snnmath.train.train` per task, and writes each run to the store as soon as
it comes back. The cluster is either a local one (:func:`connect` without an address: one
single-threaded worker process per core) or any existing ``distributed`` scheduler, such as
one started by ``dask-jobqueue`` on Slurm or PBS.

**The store** is a folder with one JSON file per finished run, written atomically (a
temporary file, then ``os.replace``), so a reader or a second sweep never sees half a
record, and an interrupted sweep loses only the runs that were in progress. A record has the
shape of those of ``scripts/full_scale.py``, ``{"run": Result.as_dict(), "wall_s", "commit",
"command"}``, plus ``"code"`` (below) and ``"worker"`` (the Dask worker that trained it).

**The key** of a run, and so its file name, is ``<dataset>-<shape>-<init>-s<seed>-<hash>``
where ``<hash>`` is a SHA-256 of the full configuration together with :func:`code_version`:
the package version and a hash of every source file of the package (``snnmath/**/*.py`` and
its tables). A hash of the files rather than the git commit, because it also sees uncommitted
edits and works where the code is installed without git: a run stored by different code is
never reused, it is trained again under its new key (the old file stays). The device is not
part of the key (a run is the same experiment on a CPU or a GPU; its provenance says which).

**Failures.** A run whose worker dies (killed, out of memory) is rescheduled by the scheduler
on another worker, up to ``distributed.scheduler.allowed-failures`` times (default 3). A run
that raises is reported and left out of the store, so the next sweep tries it again. A worker
refuses to train when its own :func:`code_version` differs from the sweep's (a cluster node
with another checkout would otherwise write results under the wrong key).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shlex
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
from distributed import Client, LocalCluster, as_completed, get_worker
from tqdm import tqdm

from .train import Config, Epoch, Result, train

Trainer = Callable[..., Result]
"""The function that trains one run, called as ``trainer(config, report=…, device=…)`` like
:func:`snnmath.train.train`."""


@functools.cache
def code_version() -> str:
    """``<package version>+<12 hex digits>``: the digits hash every source file of the package."""
    root = Path(__file__).parent
    digest = hashlib.sha256()
    for path in sorted({*root.glob("**/*.py"), *root.glob("tables/*.json")}):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    try:
        version = metadata.version("snnmath")
    except metadata.PackageNotFoundError:
        version = "unknown"
    return f"{version}+{digest.hexdigest()[:12]}"


def git_commit() -> str | None:
    """The commit checked out where the package lives, or None outside a git checkout."""
    done = subprocess.run(["git", "-C", str(Path(__file__).parent), "rev-parse", "HEAD"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or None


def run_name(config: Config) -> str:
    """A readable name of a run, as ``scripts/full_scale.py`` names it: ``mnist-d10-snn-s0``."""
    shape = "conv" if config.architecture == "conv" else f"d{config.depth}"
    return f"{config.dataset}-{shape}-{config.init}-s{config.seed}"


@dataclass(frozen=True)
class Store:
    """A folder of finished runs, one JSON file per run, keyed by configuration and code version."""

    root: Path
    code: str = field(default_factory=code_version)
    """The code version in every key; by default :func:`code_version` of the code running now."""

    def key(self, config: Config) -> str:
        """The run's name and a hash of its full configuration and of :attr:`code`."""
        text = json.dumps({"config": asdict(config), "code": self.code}, sort_keys=True)
        return f"{run_name(config)}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"

    def path(self, config: Config) -> Path:
        """Where the run of ``config`` is (or will be) stored."""
        return Path(self.root) / f"{self.key(config)}.json"

    def done(self, config: Config) -> bool:
        """Whether the run of ``config`` is stored."""
        return self.path(config).is_file()

    def read(self, config: Config) -> dict[str, Any]:
        """The stored record of ``config``."""
        return json.loads(self.path(config).read_text())

    def write(self, config: Config, record: dict[str, Any]) -> Path:
        """Store ``record`` as the run of ``config`` atomically: readers see the old file or the whole new one."""
        path = self.path(config)
        path.parent.mkdir(parents=True, exist_ok=True)
        temporary = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.tmp")
        with temporary.open("w") as file:
            file.write(json.dumps(record, indent=1) + "\n")
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
        return path


@dataclass
class Summary:
    """What a sweep did: how many runs it found stored, how many it trained, and the ones that failed."""

    skipped: int
    trained: int
    failed: dict[str, str]
    """Key → error of each run that failed (not stored, so the next sweep tries it again)."""


def run_one(config: Config, key: str, device: str, code: str | None, topic: str,
            trainer: Trainer = train) -> dict[str, Any]:
    """The Dask task of one run: train ``config`` and return its record (without the sweep's provenance).

    Reports ``(key, name, epoch, epochs)`` on the event ``topic`` at the start and after every epoch.
    ``code``, when given, must equal this worker's :func:`code_version`.
    """
    if code is not None and code != code_version():
        raise RuntimeError(f"this worker runs snnmath {code_version()}, the sweep {code}: "
                           "install the same code on every worker")
    worker = get_worker()
    name = run_name(config)

    def report(epoch: Epoch) -> None:
        worker.log_event(topic, (key, name, epoch.epoch, config.epochs))

    worker.log_event(topic, (key, name, 0, config.epochs))
    if torch.device(device).type == "cpu":
        torch.set_num_threads(1)  # one run per worker thread: separate runs use the cores better
    start = time.time()
    result = trainer(config, report=report, device=device)
    return {"run": result.as_dict(), "wall_s": time.time() - start, "worker": worker.address}


class _Progress:
    """A tqdm bar of runs done out of all, with the current epoch of every run in progress."""

    def __init__(self, total: int, done: int, on: bool) -> None:
        self.bar = tqdm(total=total, initial=done, desc="runs", unit="run", disable=not on, dynamic_ncols=True)
        self.running: dict[str, str] = {}
        self.finished: set[str] = set()
        self.lock = threading.Lock()

    def epoch(self, event: tuple[float, Any]) -> None:
        """Event handler (called on the client's event loop): a run reached an epoch."""
        key, name, epoch, epochs = event[1]
        with self.lock:
            if key not in self.finished:
                self.running[key] = f"{name} epoch {epoch}/{epochs}"
                self._show()

    def finish(self, key: str) -> None:
        with self.lock:
            self.finished.add(key)
            self.running.pop(key, None)
            self.bar.update()
            self._show()

    def _show(self) -> None:
        self.bar.set_postfix_str("; ".join(sorted(self.running.values())), refresh=True)

    def close(self) -> None:
        self.bar.close()


def sweep(
    configs: Sequence[Config],
    store: Store,
    client: Client,
    *,
    device: str = "cpu",
    command: str | None = None,
    progress: bool = True,
    trainer: Trainer = train,
    check_code: bool = True,
) -> Summary:
    """Train every configuration not yet in ``store`` on ``client``'s cluster and store each run as it ends.

    Every record gets the code's git commit, ``command`` (default: this process's command line) and
    the store's code version. ``trainer`` replaces :func:`snnmath.train.train` (the workers must be
    able to import it). ``check_code=False`` lets workers whose :func:`code_version` differs from the
    store's train anyway. Runs left undone when the sweep is interrupted are cancelled; rerunning the
    same sweep trains only those.
    """
    unique = list(dict.fromkeys(configs))
    todo = [config for config in unique if not store.done(config)]
    topic = f"snnmath-sweep-{uuid.uuid4().hex}"
    bar = _Progress(len(unique), len(unique) - len(todo), progress)
    client.subscribe_topic(topic, bar.epoch)
    code = store.code if check_code else None
    meta = {"commit": git_commit(), "command": command or shlex.join(sys.orig_argv), "code": store.code}
    futures = {  # the runs start in the order of configs
        client.submit(run_one, config, store.key(config), device, code, topic, trainer, pure=False,
                      key=f"train-{store.key(config)}-{uuid.uuid4().hex[:8]}", priority=len(todo) - index): config
        for index, config in enumerate(todo)
    }
    failed = {}
    try:
        for future in as_completed(futures):
            config = futures.pop(future)
            try:
                record = future.result()
            except Exception as error:  # a failed run stays out of the store: the next sweep retries it
                failed[store.key(config)] = f"{type(error).__name__}: {error}"
            else:
                store.write(config, record | meta)
            bar.finish(store.key(config))
    finally:
        client.unsubscribe_topic(topic)
        client.cancel(list(futures))
        bar.close()
    return Summary(len(unique) - len(todo), len(todo) - len(failed), failed)


@contextmanager
def connect(scheduler: str | None = None, workers: int | None = None) -> Iterator[Client]:
    """A client of the scheduler at ``scheduler``, or of a local cluster of ``workers`` processes.

    The local cluster has one thread per worker and by default one worker per CPU core; it is
    shut down on leaving the context. An existing cluster is left running.
    """
    if scheduler is not None:
        with Client(scheduler) as client:
            yield client
        return
    workers = (os.cpu_count() or 1) if workers is None else workers
    with (LocalCluster(n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
          Client(cluster) as client):
        yield client
