"""snnmath.records: stored training runs read back as the Config and Epochs that wrote them."""

import json
from dataclasses import asdict, replace
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


def test_sweep_fields_and_the_input_bound() -> None:
    assert records.sweep_fields("surrogate", "arctan:5") == {"surrogate": "arctan", "slope": 5.0}
    assert records.sweep_fields("beta", 0.5) == {"beta": 0.5}
    # a pixel of 1 for T steps from rest reaches sum_{k<T} beta^k: exactly theta is not above it
    assert not records.input_can_spike(replace(CONFIG, beta=0.0, theta=1.0))
    assert records.input_can_spike(replace(CONFIG, beta=0.5, steps=3, theta=1.7))
    assert not records.input_can_spike(replace(CONFIG, beta=0.5, steps=3, theta=1.75))
    assert records.input_can_spike(replace(CONFIG, beta=1.0, steps=3, theta=2.9))


def test_a_stored_sweep_reads_back_by_setting(tmp_path: Path) -> None:
    inits = ["snn", "kaiming"]
    for beta in (0.0, CONFIG.beta):
        for init in inits:
            config = replace(CONFIG, beta=beta, init=init, epochs=1)
            record = {"run": train.train(config).as_dict(), "wall_s": 1.0, "commit": None, "command": "test"}
            (tmp_path / f"digits-b{beta}-{init}.json").write_text(json.dumps(record))
    plan = {"base": asdict(replace(CONFIG, epochs=1)), "sweeps": {"beta": [0.0, CONFIG.beta], "width": [16]},
            "inits": inits, "seeds": [0], "command": "test"}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    sweep = records.read_sweep(tmp_path)
    assert sweep.cases == [("beta", 0.0), ("beta", CONFIG.beta), ("width", 16)]
    assert [r.config.init for r in sweep.runs_of("beta", 0.0, "kaiming")] == ["kaiming"]
    assert len(sweep.distinct()) == 2  # the base setting, in both sweeps, counts once
    winners = sweep.winners()
    assert set(winners) == {("beta", CONFIG.beta), ("width", 16)}  # beta = 0 leaves the input silent
    best = max(inits, key=lambda init: sweep.runs_of("width", 16, init)[0].final_accuracy)
    assert winners["width", 16] == best
    assert sweep.wins() == {init: int(init == best) for init in inits}  # one learnable configuration
    (tmp_path / "plan.json").write_text("{}")
    with pytest.raises(ValueError, match="plan.json is not a sweep plan"):
        records.read_sweep(tmp_path)
