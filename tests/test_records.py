"""snnmath.records: stored training runs read back as the Config and Epochs that wrote them."""

import json
from dataclasses import replace
from pathlib import Path

import pytest

from snnmath import records, train

CONFIG = train.Config(dataset="digits", depth=2, width=16, steps=3, epochs=2, batch_size=128, seed=0)


def store(folder: Path, config: train.Config) -> train.Result:
    """Write one run as scripts/full_scale.py does."""
    result = train.train(config)
    record = {"run": result.as_dict(), "wall_s": 1.5, "commit": "abc", "command": "python scripts/full_scale.py"}
    (folder / f"{config.dataset}-d{config.depth}-{config.init}-s{config.seed}.json").write_text(json.dumps(record))
    return result


def test_a_stored_run_reads_back_as_it_was_trained(tmp_path: Path) -> None:
    result = store(tmp_path, CONFIG)
    store(tmp_path, replace(CONFIG, seed=1))
    runs = records.read_runs(tmp_path)
    run = runs["digits-d2-snn-s0"]
    assert run.config == CONFIG and run.history == result.history
    assert (run.wall_s, run.commit, run.command) == (1.5, "abc", "python scripts/full_scale.py")
    assert run.final_accuracy == result.history[-1].test_accuracy
    assert [r.config.seed for r in records.select(runs, init="snn")] == [0, 1]
    assert records.select(runs, init="kaiming") == []


def test_epochs_to_counts_a_miss_as_one_more_than_the_last_epoch(tmp_path: Path) -> None:
    store(tmp_path, CONFIG)
    run = records.read_runs(tmp_path)["digits-d2-snn-s0"]
    assert run.epochs_to(0.0) == 0
    assert run.epochs_to(1.01) == CONFIG.epochs + 1


def test_bad_stores_are_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="holds no stored runs"):
        records.read_runs(tmp_path)
    (tmp_path / "broken.json").write_text('{"run": {}}')
    with pytest.raises(ValueError, match="broken.json is not a stored training run"):
        records.read_runs(tmp_path)
