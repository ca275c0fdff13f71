"""Training: configuration checks, the model against snnTorch, determinism and the command line."""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import snntorch as snn
import torch
import torch.nn.functional as F

from snnmath import train
from snnmath.train import Config, Split, build_model
from snnmath.train import cli as train_cli


def digits_config(**changes: object) -> Config:
    base = dict(dataset="digits", train_size=200, test_size=100, depth=3, width=32, steps=4, epochs=2, batch_size=50)
    return Config(**{**base, **changes})  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"depth": 1}, "depth"), ({"width": 0}, "width"), ({"beta": 1.5}, "beta"), ({"theta": 0.0}, "theta"),
     ({"theta": float("inf")}, "theta"), ({"init": "he"}, "init"), ({"surrogate": "relu"}, "surrogate"),
     ({"slope": -2.0}, "slope"), ({"lr": 0.0}, "lr"), ({"schedule": "step"}, "schedule"),
     ({"dataset": "cifar"}, "dataset"), ({"train_size": 0}, "train_size"), ({"seed": -1}, "seed")],
)
def test_bad_config_is_refused(changes: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Config(**changes)


def test_oversized_subset_is_refused() -> None:
    with pytest.raises(ValueError, match="train_size"):
        train.load(digits_config(train_size=10**6))


@pytest.mark.parametrize("beta", [0.0, 0.5, 1.0])
def test_mlp_equals_the_same_network_built_from_snntorch(beta: float) -> None:
    """Same weights, same input: identical spike counts, and gradients equal to rounding."""
    config = Config(depth=4, width=40, steps=6, beta=beta, theta=0.5, seed=3)
    model = build_model(config, (8, 8), classes=10)  # float32: snnTorch's spikes are float32
    images = torch.rand(5, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(5)
    counts, _ = model(images, config.steps)
    F.cross_entropy(counts, labels).backward()

    linears = [layer for layer in model.body if isinstance(layer, torch.nn.Linear)]
    peers = [torch.nn.Linear(a.in_features, a.out_features) for a in linears]
    with torch.no_grad():
        for peer, ours in zip(peers, linears, strict=True):
            peer.load_state_dict(ours.state_dict())
    neurons = [snn.Leaky(beta=beta, threshold=0.5, reset_mechanism="subtract") for _ in range(len(peers) + 1)]
    potentials = [neuron.init_leaky() for neuron in neurons]
    peer_counts = 0
    for _ in range(config.steps):
        spikes, potentials[0] = neurons[0](images.flatten(1), potentials[0])
        for i, peer in enumerate(peers, 1):
            spikes, potentials[i] = neurons[i](peer(spikes), potentials[i])
        peer_counts = peer_counts + spikes
    F.cross_entropy(peer_counts, labels).backward()

    assert counts.sum() > 0 and torch.equal(counts, peer_counts)
    for peer, ours in zip(peers, linears, strict=True):
        torch.testing.assert_close(ours.weight.grad, peer.weight.grad, rtol=1e-5, atol=1e-7)


def test_conv_model_runs_and_counts_are_bounded() -> None:
    config = Config(architecture="conv", channels=4, steps=3)
    model = build_model(config, (8, 8), classes=10)
    counts, rates = model(torch.rand(2, 1, 8, 8), config.steps)
    assert counts.shape == (2, 10)
    assert 0 <= counts.min() and counts.max() <= config.steps
    assert len(rates) == 4  # input, two convolutions, output


def test_training_is_deterministic_and_learns_digits() -> None:
    config = digits_config(epochs=3, depth=3, width=64, steps=5, lr=5e-3)
    first, second = train.train(config), train.train(config)
    assert [e.test_correct for e in first.history] == [e.test_correct for e in second.history]
    assert first.history[-1].train_loss == second.history[-1].train_loss
    assert len(first.history) == config.epochs + 1 and first.history[0].train_loss is None
    assert len(first.history[0].rates) == config.depth + 1


def test_stop_after_gives_the_start_of_the_full_run_bit_for_bit() -> None:
    config = digits_config(epochs=3, depth=3, width=32, steps=4, lr=5e-3)
    full, start = train.train(config), train.train(config, stop_after=1)
    untimed = [[replace(epoch, seconds=0.0) for epoch in result.history] for result in (full, start)]
    assert untimed[1] == untimed[0][:2]
    with pytest.raises(ValueError, match="stop_after must be an integer in \\[1, 3\\]"):
        train.train(config, stop_after=4)


def test_cosine_schedule_is_stepped_per_epoch() -> None:
    result = train.train(digits_config(epochs=4))
    lrs = [e.lr for e in result.history[1:]]
    expected = [1e-3 * (1 + torch.cos(torch.tensor(torch.pi * e / 4)).item()) / 2 for e in range(4)]
    assert lrs == pytest.approx(expected)


def test_epochs_to_reach() -> None:
    history = [train.Epoch(e, None, None, 0.0, acc, 0, [], 0.0, 0.0) for e, acc in enumerate([0.1, 0.5, 0.9])]
    assert train.epochs_to_reach(history, 0.5) == 1
    assert train.epochs_to_reach(history, 0.95) is None


def test_command_line_writes_every_combination(tmp_path: Path) -> None:
    out = tmp_path / "runs.json"
    argv = ["--dataset", "digits", "--train-size", "100", "--test-size", "50", "--depth", "2", "--width", "16",
            "--steps", "3", "--epochs", "1", "--init", "snn", "kaiming", "--seed", "0", "1",
            "--sweep", "theta=0.5,1", "--out", str(out), "--quiet"]
    assert train_cli.main(argv) == 0
    runs = json.loads(out.read_text())["runs"]
    combos = {(r["config"]["init"], r["config"]["seed"], r["config"]["theta"]) for r in runs}
    assert len(runs) == 8 and len(combos) == 8
    assert {"torch", "python", "platform"} <= set(runs[0]["provenance"])
    assert len(runs[0]["history"]) == 2


@pytest.mark.parametrize("argv", [["--beta", "2"], ["--sweep", "nonsense=1"], ["--sweep", "theta"],
                                  ["--workers", "0"], ["--workers", "2", "--scheduler", "tcp://127.0.0.1:1"],
                                  ["--device", "gpu"], ["--dataset", "cifar"], ["--init", "he"]])
def test_command_line_bad_input_exits_2(argv: list[str], tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        train_cli.main(["--dataset", "digits", "--out", str(tmp_path / "x.json"), *argv])
    assert exit_info.value.code == 2
    assert "error" in capsys.readouterr().err


def test_split_shapes_from_mnist() -> None:
    from snnmath import data

    try:
        data.data_folder()
    except data.DataError:
        pytest.skip("no local MNIST (run `python -m snnmath.data fetch`)")
    train_split, test_split = train.load(Config(train_size=1000, test_size=300))
    assert isinstance(train_split, Split)
    assert train_split.images.shape == (1000, 1, 28, 28) and test_split.images.shape == (300, 1, 28, 28)
    assert torch.bincount(train_split.labels).min() >= 80  # stratified: each class about 100


