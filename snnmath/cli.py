r"""Command line: ``snnmath scale``, ``snnmath fixed-points`` and ``snnmath simulate``.

Run as ``snnmath …`` (the console script) or ``python -m snnmath …``; ``--help`` on each
subcommand lists its options, and ``--json`` prints machine-readable output instead of
text. Bad input prints ``snnmath: error: …`` to stderr and exits with status 2.

* ``scale``: the weight scale :math:`\mathrm{Var}[w] = V/(n\,Q(\theta/\sqrt V))` of a layer
  with fan-in n (:func:`snnmath.theory.weight_variance`).
* ``fixed-points``: the fixed points of the variance map :math:`V \mapsto c\,Q(\theta/\sqrt V)`
  with their slopes and stability (:func:`snnmath.theory.fixed_points`).
* ``simulate``: per-layer firing rates of a deep LIF network (:func:`snnmath.simulate.simulate`),
  as a table or a plot.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from . import theory
from ._validate import integer, real_scalar, window_steps
from .init import NAMES, margin_target

PROG = "snnmath"


def _flag(name: str) -> str:
    """The command line's flag of a parameter: ``target_variance`` → ``--target-variance``."""
    return "--" + name.replace("_", "-")


def scale(
    fan_in: int, threshold: float = 1.0, target_variance: float = 1.0, beta: float | None = None,
    steps: int | float | None = None, slope: float | None = None,
) -> dict[str, Any]:
    r"""The weight scale of one layer, as printed by ``snnmath scale``.

    Without ``beta``/``steps``: the first-time-step scale :math:`\mathrm{Var}[w] = V/(n\,Q(\theta/\sqrt V))`,
    with ``spike_probability`` :math:`Q(\theta/\sqrt V)`. With both: the leak-aware scale
    (:func:`snnmath.init.snn_variance`) for a window of ``steps`` steps from rest (``math.inf``:
    the stationary limit, with the burn-in and window of the stationary map), with the rate it
    holds, whether that is the first-step rate, the fold, the margin and the contraction
    (:func:`snnmath.theory.leak_aware_scale`), and the input it assumes. Always ``variance``,
    ``std`` :math:`\sqrt{\mathrm{Var}[w]}` and ``uniform_bound`` :math:`\sqrt{3\,\mathrm{Var}[w]}`
    (the bound of :func:`snnmath.init.snn_uniform_`). With ``slope``: the margin-aware first-step
    scale, whose target variance makes the variance map's slope at most ``slope``
    (:func:`snnmath.theory.margin_variance`), with that slope as ``map_slope``.
    """
    n = integer("--fan-in", fan_in, low=1)
    th = real_scalar("--threshold", threshold, low=0.0)
    if slope is not None:
        target_variance = margin_target(th, slope, target_variance, beta, steps, name=_flag)
    v = real_scalar("--target-variance", target_variance, low=0.0, low_open=True)
    if (beta is None) != (steps is None):
        raise ValueError("--beta and --steps go together: give both for the leak-aware scale, or neither")
    result: dict[str, Any] = {"fan_in": n, "threshold": th}
    if beta is None or steps is None:
        variance = float(theory.weight_variance(n, th, v))
        result |= {"target_variance": v, "time_step": "first", "slope_bound": slope,
                   "map_slope": float(theory.target_slope(th, v)),
                   "spike_probability": float(theory.spike_probability(th, v))}
    else:
        if v != 1.0:
            raise ValueError("--target-variance sets the first-step scale only; the leak-aware scale targets a rate")
        b = real_scalar("--beta", beta, low=0.0, high=1.0)
        t_steps = window_steps("--steps", steps)
        leak = theory.leak_aware_scale(b, real_scalar("--threshold", th, low=0.0, low_open=True), t_steps)
        variance = leak.gain / n
        window = (f"window of {t_steps} steps from rest" if math.isfinite(t_steps) else
                  f"stationary limit T = ∞ (the stationary kernel map: each current sequence runs {leak.burn_in} "
                  f"steps, then its spikes are averaged over {leak.window} steps)")
        result |= {"beta": b, "steps": t_steps, "time_step": window,
                   "input": "direct encoding: a constant current into the first LIF layer, from u = s = 0",
                   "first_step_rate": float(theory.spike_probability(th)), **leak._asdict()}
    return result | {"variance": variance, "std": math.sqrt(variance), "uniform_bound": math.sqrt(3.0 * variance)}


def fixed_points(threshold: float = 1.0, gain: float | None = None, slope: float | None = None) -> dict[str, Any]:
    r"""Every fixed point of :math:`V \mapsto c\,Q(\theta/\sqrt V)` with its slope and stability.

    ``gain`` :math:`c = n\,\mathrm{Var}[w]` defaults to the proposed scale's gain at unit
    target variance, :math:`c = 1/Q(\theta)`, or with ``slope`` the margin-aware scale's gain
    (:func:`scale`). Also returns the saddle-node gain
    :math:`c_{sn}(\theta)` and the critical threshold :math:`\theta_c = x_c` (unit target).
    """
    th = real_scalar("--threshold", threshold, low=0.0)
    if gain is not None and slope is not None:
        raise ValueError("--gain and --slope both set the gain: give one")
    c = (scale(1, th, slope=slope)["variance"] if gain is None else
         real_scalar("--gain", gain, low=0.0, low_open=True))
    points = theory.fixed_points(th, c)
    return {
        "threshold": th,
        "gain": c,
        "fixed_points": [{"variance": p.variance, "slope": p.slope, "stable": p.stable} for p in points],
        "saddle_node_gain": float(theory.saddle_node_gain(th)),
        "critical_threshold": float(theory.critical_threshold()),
    }


def simulate_rates(
    depth: int = 10,
    width: int = 100,
    steps: int = 1,
    batch: int = 64,
    beta: float = 0.5,
    threshold: float = 1.0,
    init: str = "snn",
    seed: int = 0,
) -> dict[str, Any]:
    """Per-layer firing rates and membrane variances of :func:`snnmath.simulate.simulate`.

    ``rate[l][t]`` is the firing rate :math:`E[s]` of layer l at step t, ``variance[l][t]``
    the membrane variance; ``mean_rate[l]`` averages the rate over the steps.
    """
    import torch

    from .simulate import simulate

    if init not in NAMES:
        raise ValueError(f"--init must be one of {', '.join(NAMES)}; got {init!r}")
    p: dict[str, Any] = {
        "depth": integer("--depth", depth, low=1),
        "width": integer("--width", width, low=1),
        "steps": integer("--steps", steps, low=1),
        "batch": integer("--batch", batch, low=1),
        "beta": real_scalar("--beta", beta, low=0.0, high=1.0),
        "threshold": real_scalar("--threshold", threshold, low=0.0),
        "init": init,
        "seed": integer("--seed", seed, low=0),
    }
    record = simulate(
        p["depth"], p["width"], steps=p["steps"], batch=p["batch"], beta=p["beta"], theta=p["threshold"],
        init=init, generator=torch.Generator().manual_seed(p["seed"]),
    )
    return {
        **p,
        "rate": record.rate.tolist(),
        "variance": record.variance.tolist(),
        "mean_rate": record.rate.mean(dim=1).tolist(),
    }


# --- text output -----------------------------------------------------------------------
def _g(value: float) -> str:
    return f"{value:.6g}"


def _scale_text(r: dict[str, Any]) -> str:
    if r["time_step"] == "first":
        head = [
            f"Weight scale at the first time step for fan-in n = {r['fan_in']}, threshold θ = {_g(r['threshold'])}, "
            f"target variance V = {_g(r['target_variance'])}:",
            f"  P(u > θ) = Q(θ/√V)     {_g(r['spike_probability'])}",
            f"  slope of the map at V  {_g(r['map_slope'])}"
            + ("" if r["slope_bound"] is None else f" (V chosen for a slope of at most {_g(r['slope_bound'])})"),
            f"  Var[w] = V/(n·P)       {_g(r['variance'])}",
        ]
    else:
        held = ("the first-step rate Q(θ)" if r["first_step_rate_held"] else
                f"not Q(θ) = {_g(r['first_step_rate'])}, which no gain 10 % above the fold holds; "
                "the rate at 1.1 × the fold gain")
        head = [
            f"Leak-aware weight scale for fan-in n = {r['fan_in']}, threshold θ = {_g(r['threshold'])}, "
            f"leak β = {_g(r['beta'])}, {r['time_step']} ({r['input']}):",
            f"  rate held (time mean)  {_g(r['rate'])} ({held})",
            f"  gain c = n·Var[w]      {_g(r['gain'])}",
            f"  fold (lowest stable)   gain {_g(r['fold_gain'])}, rate {_g(r['fold_rate'])}; margin "
            f"{_g(100 * r['margin'])} %",
            f"  contraction per layer  {_g(r['contraction'])}",
            f"  Var[w] = c/n           {_g(r['variance'])}",
        ]
    tail = [f"  std[w]                 {_g(r['std'])}", f"  uniform bound √(3Var)  {_g(r['uniform_bound'])}"]
    return "\n".join(head + tail)


def _fixed_points_text(r: dict[str, Any]) -> str:
    lines = [
        f"Fixed points of V ↦ c·Q(θ/√V) for θ = {_g(r['threshold'])}, c = {_g(r['gain'])}:",
        f"  {'V*':>12}  {'slope':>12}  stable",
    ]
    for p in r["fixed_points"]:
        lines.append(f"  {_g(p['variance']):>12}  {_g(p['slope']):>12}  {'yes' if p['stable'] else 'no'}")
    lines.append(
        f"Saddle-node gain c_sn(θ) = {_g(r['saddle_node_gain'])} (non-zero fixed points need c ≥ c_sn); "
        f"critical threshold θ_c = {_g(r['critical_threshold'])} (the proposed scale's target V = 1 "
        "attracts for θ < θ_c)."
    )
    return "\n".join(lines)


def _simulate_text(r: dict[str, Any]) -> str:
    lines = [
        f"{r['depth']} LIF layers of width {r['width']}, {r['steps']} step(s), batch {r['batch']}, "
        f"β = {_g(r['beta'])}, θ = {_g(r['threshold'])}, init {r['init']!r}, seed {r['seed']}:",
        f"  {'layer':>5}  {'rate t=0':>10}  {'mean rate':>10}  {'Var[u] t=0':>10}",
    ]
    for layer, (rate, variance, mean) in enumerate(zip(r["rate"], r["variance"], r["mean_rate"], strict=True)):
        lines.append(f"  {layer:>5}  {rate[0]:>10.4g}  {mean:>10.4g}  {variance[0]:>10.4g}")
    return "\n".join(lines)


def _plot(r: dict[str, Any], path: Path) -> None:
    """Firing rate against layer: at the first step and, for several steps, averaged over them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    try:
        layers = range(r["depth"])
        ax.plot(layers, [rate[0] for rate in r["rate"]], marker="o", ms=3, label="first step")
        if r["steps"] > 1:
            ax.plot(layers, r["mean_rate"], marker="s", ms=3, label=f"mean over {r['steps']} steps")
        ax.set(xlabel="layer", ylabel="firing rate", title=f"init {r['init']!r}, θ = {_g(r['threshold'])}")
        ax.set_ylim(bottom=0)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend()
        fig.savefig(path)
    finally:
        plt.close(fig)


def _plot_path(value: str) -> Path:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    path = Path(value)
    formats = FigureCanvasAgg.get_supported_filetypes()
    if path.suffix.lower().lstrip(".") not in formats:
        raise ValueError(f"--plot must end in one of {', '.join('.' + f for f in formats)}; got {value!r}")
    if not path.parent.is_dir():
        raise ValueError(f"--plot directory {str(path.parent)!r} does not exist")
    return path


# --- argument parsing ------------------------------------------------------------------
def _json(value: Any) -> Any:
    """JSON-safe copy: non-finite floats (an infinite slope) become the strings 'inf', '-inf', 'nan'."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {key: _json(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value


def _steps(text: str) -> int | float:
    """``--steps``: an integer, or ``inf`` for the stationary limit."""
    if text.strip().lower() in ("inf", "infinity", "∞"):
        return math.inf
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"an integer >= 1 or inf, got {text!r}") from None


def parser() -> argparse.ArgumentParser:
    """The argument parser of ``snnmath`` and its subcommands."""
    top = argparse.ArgumentParser(
        prog=PROG,
        description="Weight initialisation of deep spiking neural networks: scale, fixed points, simulation.",
    )
    top.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = top.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, summary: str, description: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=summary, description=description)
        p.add_argument("--json", action="store_true", help="print JSON instead of text")
        return p

    p = command(
        "scale",
        "weight std and variance of a layer",
        "Weight scale Var[w] = V/(n·Q(θ/√V)) of a layer with fan-in n, threshold θ and target membrane "
        "variance V, at the first time step; with --beta and --steps, the leak-aware scale that holds a "
        "time-averaged rate over that window as a stable fixed point of the kernel map over depth.",
    )
    p.add_argument("--fan-in", type=int, required=True, help="fan-in n: in_features, or in_channels·prod(kernel)")
    p.add_argument("--threshold", type=float, default=1.0, help="firing threshold θ (default 1)")
    p.add_argument("--target-variance", type=float, default=1.0, help="target membrane variance V (default 1)")
    p.add_argument("--beta", type=float, default=None,
                   help="membrane decay β in [0, 1]: with --steps, the leak-aware scale (default: first step)")
    p.add_argument("--steps", type=_steps, default=None,
                   help="time steps T ≥ 1 of the window from rest, or inf for the stationary limit, with --beta "
                        "(tabulated: T = 10, 25, 100, and inf for some)")
    p.add_argument("--slope", type=float, default=None,
                   help="margin-aware scale: the smallest target V >= 1 at which the variance map's slope is at most "
                        "this, in (0, 1] (default: none, target --target-variance)")
    p.set_defaults(run=lambda a: scale(a.fan_in, a.threshold, a.target_variance, a.beta, a.steps, a.slope),
                   text=_scale_text)

    p = command(
        "fixed-points",
        "fixed points of the variance map, with slope and stability",
        "Fixed points V* of the depth map V ↦ c·Q(θ/√V), with the map's slope there; a fixed point "
        "is stable when the slope is below 1.",
    )
    p.add_argument("--threshold", type=float, default=1.0, help="firing threshold θ (default 1)")
    p.add_argument(
        "--gain", type=float, default=None,
        help="gain c = n·Var[w] (default: the proposed scale's 1/Q(θ), target variance 1)",
    )
    p.add_argument("--slope", type=float, default=None,
                   help="use the gain of the margin-aware scale with this slope bound in (0, 1] (see scale --slope)")
    p.set_defaults(run=lambda a: fixed_points(a.threshold, a.gain, a.slope), text=_fixed_points_text)

    p = command(
        "simulate",
        "per-layer firing rates of a deep LIF network",
        "Simulate a deep feedforward network of LIF neurons (snnTorch Leaky semantics) driven by "
        "unit-variance Gaussian currents and report each layer's firing rate.",
    )
    p.add_argument("--depth", type=int, default=10, help="number of layers (default 10)")
    p.add_argument("--width", type=int, default=100, help="neurons per layer (default 100)")
    p.add_argument("--steps", type=int, default=1, help="time steps (default 1)")
    p.add_argument("--batch", type=int, default=64, help="samples (default 64)")
    p.add_argument("--beta", type=float, default=0.5, help="membrane decay β in [0, 1] (default 0.5)")
    p.add_argument("--threshold", type=float, default=1.0, help="firing threshold θ (default 1)")
    p.add_argument("--init", default="snn", help=f"weight initialiser, one of {', '.join(NAMES)} (default snn)")
    p.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    p.add_argument("--plot", metavar="FILE.png", help="also save a plot of the rates to this file")
    p.set_defaults(
        run=lambda a: simulate_rates(a.depth, a.width, a.steps, a.batch, a.beta, a.threshold, a.init, a.seed),
        text=_simulate_text,
    )
    return top


def _version() -> str:
    try:
        return metadata.version("snnmath")
    except metadata.PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line on ``argv`` (default ``sys.argv[1:]``); return the exit status:
    0 on success, 2 on bad input (the message goes to stderr)."""
    try:
        args = parser().parse_args(argv)
    except SystemExit as exit_:  # --help, --version, or an argparse error (already printed)
        return exit_.code if isinstance(exit_.code, int) else 2
    run: Callable[[argparse.Namespace], dict[str, Any]] = args.run
    try:
        plot = _plot_path(args.plot) if getattr(args, "plot", None) else None
        result = run(args)
        if plot is not None:
            _plot(result, plot)
    except (ValueError, OSError) as error:
        print(f"{PROG} {args.command}: error: {error}", file=sys.stderr)
        return 2
    if args.json:
        if plot is not None:
            result["plot"] = str(plot)
        print(json.dumps(_json(result), indent=2, allow_nan=False))
    else:
        print(args.text(result))
        if plot is not None:
            print(f"Plot saved to {plot}")
    return 0
