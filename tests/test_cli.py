"""The command line (snnmath.cli): results against independent formulas, JSON, exit codes, errors."""

from __future__ import annotations

import argparse
import importlib
import json
import math
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from snnmath import cli, theory
from snnmath.theory import kernel


def tail(z: float) -> float:
    """Standard normal tail Q(z) from the standard library, independent of snnmath."""
    return 0.5 * math.erfc(z / math.sqrt(2))


def strict_json(text: str):
    """Parse JSON rejecting the non-standard NaN/Infinity constants."""
    def reject(constant: str):
        raise ValueError(f"non-standard JSON constant {constant}")
    return json.loads(text, parse_constant=reject)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = cli.main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("fan_in, threshold, target", [(784, 1.0, 1.0), (100, 2.0, 0.5), (10, 0.0, 1.0)])
def test_scale_json_is_the_closed_form(capsys, fan_in, threshold, target):
    code, out, err = run(capsys, "scale", "--fan-in", str(fan_in), "--threshold", str(threshold),
                         "--target-variance", str(target), "--json")
    assert code == 0 and err == ""
    result = strict_json(out)
    expected = target / (fan_in * tail(threshold / math.sqrt(target)))
    assert result["variance"] == pytest.approx(expected, rel=1e-12)
    assert result["std"] == pytest.approx(math.sqrt(expected), rel=1e-12)
    assert result["uniform_bound"] == pytest.approx(math.sqrt(3 * expected), rel=1e-12)
    assert result["fan_in"] == fan_in and result["time_step"] == "first"


def test_scale_text_shows_the_std(capsys):
    code, out, _ = run(capsys, "scale", "--fan-in", "784")
    assert code == 0
    assert f"{math.sqrt(1 / (784 * tail(1.0))):.6g}" in out


@pytest.mark.parametrize("threshold, gain", [(1.0, None), (1.0, 7.0), (2.0, 1.0), (0.0, 2.0)])
def test_fixed_points_solve_the_map(capsys, threshold, gain):
    argv = ["fixed-points", "--threshold", str(threshold), "--json"] + ([] if gain is None else ["--gain", str(gain)])
    code, out, _ = run(capsys, *argv)
    assert code == 0
    result = strict_json(out)
    c = 1 / tail(threshold) if gain is None else gain
    assert result["gain"] == pytest.approx(c, rel=1e-12)
    for point in result["fixed_points"]:
        v = point["variance"]
        image = c * tail(threshold / math.sqrt(v)) if v > 0 else 0.0
        assert image == pytest.approx(v, rel=1e-9, abs=1e-12)
        slope = float(point["slope"])  # "inf" for the silent point at θ = 0
        assert point["stable"] == (slope < 1)
    if gain is None:  # the proposed scale's target V = 1 is a fixed point, attracting at θ = 1 < θ_c
        assert any(p["variance"] == pytest.approx(1.0) and p["stable"] for p in result["fixed_points"])


def test_fixed_points_text(capsys):
    code, out, _ = run(capsys, "fixed-points", "--threshold", "2", "--gain", "1")
    assert code == 0 and "stable" in out and out.count("yes") == 1  # only silence, stable


def test_simulate_json_and_reproducible(capsys):
    argv = ["simulate", "--depth", "4", "--width", "50", "--steps", "3", "--batch", "8", "--seed", "5", "--json"]
    code, out, _ = run(capsys, *argv)
    assert code == 0
    result = strict_json(out)
    assert len(result["rate"]) == 4 and all(len(row) == 3 for row in result["rate"])
    assert all(0.0 <= rate <= 1.0 for row in result["rate"] for rate in row)
    assert result["mean_rate"] == pytest.approx([sum(row) / 3 for row in result["rate"]], rel=1e-12)
    assert run(capsys, *argv)[1] == out


def test_simulate_table_and_plot(capsys, tmp_path):
    figure = tmp_path / "rates.png"
    code, out, _ = run(capsys, "simulate", "--depth", "3", "--width", "40", "--batch", "4", "--init", "kaiming",
                       "--plot", str(figure))
    assert code == 0
    assert [line.split()[0] for line in out.splitlines() if line.startswith("  ")][1:] == ["0", "1", "2"]
    assert figure.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["scale", "--fan-in", "0"], "--fan-in must be an integer >= 1"),
        (["scale", "--fan-in", "784", "--threshold", "nan"], "--threshold must be finite"),
        (["scale", "--fan-in", "784", "--threshold", "-1"], "--threshold must be finite"),
        (["scale", "--fan-in", "784", "--target-variance", "0"], "--target-variance must be finite"),
        (["fixed-points", "--gain", "0"], "--gain must be finite"),
        (["fixed-points", "--threshold", "inf"], "--threshold must be finite"),
        (["simulate", "--depth", "0"], "--depth must be an integer >= 1"),
        (["simulate", "--beta", "1.5"], "--beta must be finite in [0.0, 1.0]"),
        (["simulate", "--init", "xavier"], "--init must be one of"),
        (["simulate", "--plot", "rates.xyz"], "--plot must end in one of"),
        (["simulate", "--plot", "no/such/folder/rates.png"], "--plot directory"),
    ],
)
def test_bad_input_exits_2_with_a_message(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert err.startswith(f"snnmath {argv[0]}: error: {message}")


@pytest.mark.parametrize("argv", [[], ["scale"], ["scale", "--fan-in", "abc"], ["frobnicate"]])
def test_argparse_errors_exit_2(capsys, argv):
    code, _, err = run(capsys, *argv)
    assert code == 2 and "error:" in err


@pytest.mark.parametrize("command", ["scale", "fixed-points", "simulate"])
def test_help_on_every_subcommand(capsys, command):
    code, out, _ = run(capsys, command, "--help")
    assert code == 0 and out.startswith(f"usage: snnmath {command}") and "--json" in out


def test_console_script_points_at_main():
    # read from pyproject.toml, not from installed metadata, which a stale *.egg-info may shadow
    with open(Path(__file__).resolve().parents[1] / "pyproject.toml", "rb") as file:
        target = tomllib.load(file)["project"]["scripts"]["snnmath"]
    module, _, name = target.partition(":")
    assert getattr(importlib.import_module(module), name) is cli.main


def test_python_dash_m():
    command = [sys.executable, "-m", "snnmath", "scale", "--fan-in", "784", "--threshold", "1"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert f"{math.sqrt(1 / (784 * tail(1.0))):.6g}" in done.stdout


def test_readme_shows_the_real_output(capsys):
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    prompt = "$ snnmath scale --fan-in 784 --threshold 1\n"
    shown = readme.split(prompt, 1)[1].split("```", 1)[0]
    code, out, _ = run(capsys, "scale", "--fan-in", "784", "--threshold", "1")
    assert code == 0 and out == shown


def test_scale_leak_aware_json_and_text(capsys, monkeypatch):
    fake = kernel.LeakAwareScale(7.84, 0.2263, False, 6.0, 0.21, 0.3067, 0.9)
    monkeypatch.setattr(theory, "leak_aware_scale", lambda beta, theta, steps: fake)
    code, out, _ = run(capsys, "scale", "--fan-in", "784", "--threshold", "1", "--beta", "0.9", "--steps", "25",
                       "--json")
    result = strict_json(out)
    assert code == 0 and result["variance"] == pytest.approx(0.01) and result["rate"] == 0.2263
    assert result["beta"] == 0.9 and result["steps"] == 25 and not result["first_step_rate_held"]
    assert "direct encoding" in result["input"]
    code, text, _ = run(capsys, "scale", "--fan-in", "784", "--beta", "0.9", "--steps", "25")
    assert code == 0 and "Leak-aware" in text and "10 % above the fold" in text and "0.01" in text
    code, _, err = run(capsys, "scale", "--fan-in", "784", "--beta", "0.9")
    assert code == 2 and "--beta and --steps go together" in err



def test_scale_stationary_limit_is_steps_inf(capsys, monkeypatch):
    fake = kernel.LeakAwareScale(6.5, 0.33, False, 5.9, 0.29, 0.1, 0.4, burn_in=88, window=256)
    asked = []
    monkeypatch.setattr(theory, "leak_aware_scale", lambda beta, theta, steps: asked.append(steps) or fake)
    code, out, _ = run(capsys, "scale", "--fan-in", "784", "--beta", "0.9", "--steps", "inf", "--json")
    result = strict_json(out)
    assert code == 0 and asked == [math.inf] and result["steps"] == "inf" and result["burn_in"] == 88
    assert result["window"] == 256 and "stationary limit" in result["time_step"]
    code, text, _ = run(capsys, "scale", "--fan-in", "784", "--beta", "0.9", "--steps", "inf")
    assert code == 0 and "stationary limit T = ∞" in text
    assert "runs 88 steps, then its spikes are averaged over 256 steps" in text
    code, _, err = run(capsys, "scale", "--fan-in", "784", "--beta", "0.9", "--steps", "stationary")
    assert code == 2 and "an integer >= 1 or inf" in err

def _options(parser: argparse.ArgumentParser) -> list[tuple[str, argparse.Action]]:
    """Every option of ``parser`` and of its subcommands, as (command, action)."""
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                found += [(f"{parser.prog} {name}", item) for _, item in _options(sub)]
        elif action.option_strings and not isinstance(action, argparse._HelpAction):
            found.append((parser.prog, action))
    return found


@pytest.mark.parametrize("module", ["snnmath.train.cli", "snnmath.data"])
def test_every_option_of_train_and_data_has_help_with_its_default_and_allowed_values(module: str) -> None:
    """`python -m snnmath.train --help` and `python -m snnmath.data fetch --help` explain every option."""
    parser = importlib.import_module(module)._parser()
    options = _options(parser)
    assert len(options) >= (20 if module.endswith("cli") else 2)
    for command, action in options:
        text = (action.help or "") % {"default": action.default}
        where = f"{command} {action.option_strings[0]}"
        assert len(text) > 15, f"{where} has no help text"
        assert "default" in text or action.required, f"{where} does not give its default"
        for value in action.choices or ():
            assert str(value) in text, f"{where} does not list the allowed value {value}"
