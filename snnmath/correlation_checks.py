"""Checks of the correlation map of two inputs (:mod:`snnmath.theory.correlation`) against simulation.

Two checks, each with its power against a wrong theory:

* :func:`orthant_check`, one layer: the fraction of Gaussian pairs whose potentials both cross θ is
  exactly binomial with :math:`E[s_a s_b] = Q(x)\\,f(\\rho; x)`; a competing formula (θ off by a
  factor, or Sheppard's law) must be rejected (:func:`orthant_power`).
* :func:`correlation_check`, over depth: real networks with Gaussian weights, two inputs per pair,
  the correlation of each layer's potentials against :func:`snnmath.theory.iterate_correlation`,
  which must reject the map at a gain off by 5 % (:func:`correlation_power`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

import numpy as np
import scipy.stats
import torch

from . import bands, theory
from ._validate import integer, real_scalar
from .checks import Check
from .lif import lif_layer


class OrthantSize(TypedDict):
    """Size of :func:`orthant_check`: pairs per case, the correlations and thresholds of the cases."""

    samples: int
    rhos: tuple[float, ...]
    thetas: tuple[float, ...]


class CorrelationSize(TypedDict):
    """Size of :func:`correlation_run` for :func:`correlation_check`."""

    width: int
    depth: int
    networks: int
    rhos: tuple[float, ...]


ORTHANT_SIZE: OrthantSize = {"samples": 1_000_000, "rhos": (0.5, 0.9, 0.99), "thetas": (0.5, 1.0, 1.5)}
"""The size at which the information chapter checks the one-layer map."""
CORRELATION_SIZE: CorrelationSize = {"width": 2000, "depth": 20, "networks": 32, "rhos": (0.5, 0.9, 0.99)}
"""The size at which the information chapter checks the correlation over depth."""


def coincidence_probability(rho: float, theta: float, variance: float = 1.0) -> float:
    """:math:`E[s_a s_b] = Q(x) f(\\rho; x)`, the probability that both potentials cross θ."""
    return float(theory.spike_probability(theta, variance) * theory.correlation_map(rho, theta, variance))


def _gaussian_pairs(rho: float, samples: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    first, second = torch.randn(2, samples, generator=generator, dtype=torch.float64)
    return first, rho * first + (1 - rho * rho) ** 0.5 * second


def orthant_check(
    thetas: Sequence[float], rhos: Sequence[float], samples: int, seed: int = 0, alpha: float = bands.ALPHA,
    theta_factor: float = 1.0,
) -> Check:
    """Both-spike counts of ``samples`` standard Gaussian pairs of correlation ρ against
    ``samples``·:func:`coincidence_probability` at ``theta_factor``·θ (1: the theory; else a wrong one).
    Exactly binomial: Clopper–Pearson, Bonferroni over the cases."""
    generator = torch.Generator().manual_seed(integer("seed", seed, low=0))
    cases = [(th, r) for th in thetas for r in rhos]
    rows = []
    for theta, rho in cases:
        first, second = _gaussian_pairs(rho, samples, generator)
        both = int(torch.count_nonzero((first > theta) & (second > theta)))
        lo, hi = bands.clopper_pearson(both, samples, alpha, len(cases))
        predicted = coincidence_probability(rho, theta_factor * theta)
        rows.append(dict(theta=theta, rho=rho, measured=both / samples, low=float(lo), high=float(hi),
                         predicted=predicted, ok=bool(lo <= predicted <= hi)))
    return Check("coincidences of Gaussian pairs follow the orthant probability", all(r["ok"] for r in rows), rows)


def orthant_power(thetas: Sequence[float], rhos: Sequence[float], samples: int, theta_factor: float,
                  alpha: float = bands.ALPHA) -> float:
    """Exact probability that :func:`orthant_check` rejects the map at ``theta_factor``·θ when the
    pairs follow the true one: the largest over the cases of the binomial mass of counts whose
    Clopper–Pearson interval excludes the wrong probability (a lower bound of the check's power)."""
    comparisons = len(thetas) * len(rhos)
    power = 0.0
    for theta in thetas:
        for rho in rhos:
            wrong = coincidence_probability(rho, theta_factor * theta)
            law = scipy.stats.binom(samples, coincidence_probability(rho, theta))
            counts = np.arange(*law.ppf([1e-15, 1 - 1e-15]).astype(int))  # all but 2e-15 of the mass
            lo, hi = bands.clopper_pearson(counts, samples, alpha, comparisons)
            rejects = (np.asarray(lo) > wrong) | (np.asarray(hi) < wrong)
            power = max(power, float(law.pmf(counts[rejects]).sum()))
    return min(power, 1.0)


@dataclass(frozen=True)
class CorrelationRun:
    """Spike counts of independent networks under pairs of inputs at t = 0."""

    theta: float
    width: int
    gain: float
    rhos: tuple[float, ...]
    counts: np.ndarray
    """Shape ``(networks, pairs, depth, 3)``, per layer the active counts under a, under b and under both."""

    @property
    def correlations(self) -> np.ndarray:
        r"""The correlation of layer l+1's potentials given layer l's spikes,
        :math:`K_{ab}/\sqrt{K_a K_b}` (exact for Gaussian weights), ``(networks, pairs, depth)``;
        NaN where layer l is silent under an input."""
        active_a, active_b, both = np.moveaxis(self.counts, -1, 0)
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where((active_a > 0) & (active_b > 0), both / np.sqrt(active_a * active_b), np.nan)


@torch.no_grad()
def correlation_run(
    theta: float, width: int, depth: int, networks: int, rhos: Sequence[float], seed: int = 0,
    gain: float | None = None, beta: float = 0.5, steps: int = 1,
) -> CorrelationRun:
    """``networks`` independent networks of ``depth`` LIF layers (:func:`snnmath.lif.lif_layer`), Gaussian
    weights of ``gain`` (default: the proposed scale), run for ``steps`` steps from rest, each fed one
    pair of inputs per ρ: layer 0's currents are standard Gaussian pairs with correlation ρ, i.i.d. over
    neurons and constant over the steps (direct encoding). Counts are summed over the steps, so that
    :attr:`CorrelationRun.correlations` is the correlation of the next layer's currents pooled over them."""
    th = real_scalar("theta", theta, low=0.0)
    n = integer("width", width, low=1)
    replicas = integer("networks", networks, low=1)
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    t_steps = integer("steps", steps, low=1)
    c = theory.gain_or_proposed(th, gain)
    generator = torch.Generator().manual_seed(integer("seed", seed, low=0))
    correlations = tuple(real_scalar("rho", x, low=-1.0, high=1.0) for x in rhos)
    r = torch.tensor(correlations, dtype=torch.float32)
    first, second = torch.randn(2, replicas, n, len(r), generator=generator)
    currents = torch.cat([first, r * first + (1 - r * r).sqrt() * second], dim=2)  # (N, n, 2P): a's, then b's
    currents = currents.expand(t_steps, *currents.shape)  # (T, N, n, 2P)
    pairs = len(r)
    counts = np.empty((replicas, pairs, integer("depth", depth, low=1), 3))
    for layer in range(depth):
        _, spikes = lif_layer(currents, b, th)
        on_a, on_b = spikes[..., :pairs], spikes[..., pairs:]
        counts[:, :, layer] = torch.stack([on_a.sum((0, 2)), on_b.sum((0, 2)), (on_a * on_b).sum((0, 2))],
                                          dim=-1).numpy()
        if layer + 1 < depth:
            weights = torch.randn(replicas, n, n, generator=generator) * (c / n) ** 0.5
            currents = weights @ spikes  # the same weights at every step
    return CorrelationRun(th, n, c, correlations, counts)


def _predicted(run: CorrelationRun, gain_factor: float) -> np.ndarray:
    """ρ_1 … ρ_depth of the first-step maps at ``gain_factor`` times the run's gain, ``(pairs, depth)``."""
    depth = run.counts.shape[2]
    return np.array([theory.iterate_correlation(run.theta, gain_factor * run.gain, depth, rho)[1][1:]
                     for rho in run.rhos])


def _deep_layers(depth: int) -> slice:
    return slice(depth // 2, depth)


def correlation_check(run: CorrelationRun, gain_factor: float = 1.0, alpha: float = bands.ALPHA) -> Check:
    r"""Measured correlations against the first-step maps at ``gain_factor`` times the run's gain.

    One row per (pair, layer): the mean over the networks whose layer is not silent, in a
    Student-t band. One pooled row: per network the mean over every pair and the deeper half of
    the layers (where every pair sits near ρ*), in a Student-t band (networks silent there are
    left out). Bonferroni over all rows. Infinite-width theory: at small width the band
    catches its finite-width bias (see the chapter's width).
    """
    measured = run.correlations
    predicted = _predicted(run, gain_factor)
    pairs, depth = predicted.shape
    comparisons = pairs * depth + 1
    rows = []
    for pair in range(pairs):
        for layer in range(depth):
            values = measured[:, pair, layer]
            rows.append(_t_row(values[np.isfinite(values)], predicted[pair, layer], alpha, comparisons,
                               rho=run.rhos[pair], layer=layer + 1))
    deep = measured[:, :, _deep_layers(depth)].reshape(len(measured), -1)
    alive = np.all(np.isfinite(deep), axis=1)
    rows.append(_t_row(deep[alive].mean(axis=1), predicted[:, _deep_layers(depth)].mean(), alpha, comparisons,
                       rho="pooled", layer=f"{depth // 2 + 1}-{depth}"))
    return Check("correlations over depth follow the first-step maps", all(r["ok"] for r in rows), rows)


def _t_row(values: np.ndarray, predicted: float, alpha: float, comparisons: int, **case: object) -> dict:
    if len(values) < 2:
        return dict(case, networks=len(values), measured=np.nan, half_width=np.nan, predicted=predicted, ok=False)
    mean, half = bands.t_band(values, alpha, comparisons)
    return dict(case, networks=len(values), measured=float(mean), half_width=float(half),
                standard_error=float(values.std(ddof=1) / np.sqrt(len(values))), predicted=float(predicted),
                ok=bool(abs(mean - predicted) <= half))


def correlation_over_time_check(
    run: CorrelationRun, beta: float, steps: int, samples: int = 1 << 14, replicas: int = 8, seed: int = 0,
    alpha: float = bands.ALPHA,
) -> Check:
    """A run over ``steps`` steps (:func:`correlation_run`) against the pair kernel map
    (:func:`snnmath.theory.pair_kernel_depth_map`, ``replicas`` seeded replicas): per (pair, layer) the
    difference of the networks' mean and the replicas' mean in a Welch band (Student-t at the smaller of
    the two degrees of freedom), Bonferroni over the rows. The map is the infinite-width theory."""
    measured = run.correlations
    pairs, depth = measured.shape[1], measured.shape[2]
    rows = []
    for pair, rho in enumerate(run.rhos):
        kernel = theory.pair_kernel_depth_map(run.gain, beta, run.theta, steps, depth, rho, samples=samples,
                                              replicas=replicas, seed=seed).correlations
        for layer in range(depth):
            values = measured[:, pair, layer]
            values = values[np.isfinite(values)]
            theory_values = kernel[np.isfinite(kernel[:, layer]), layer]
            dof = min(len(values), len(theory_values)) - 1
            if dof < 1:
                rows.append(dict(rho=rho, layer=layer + 1, measured=np.nan, predicted=np.nan, half_width=np.nan,
                                 ok=False))
                continue
            error = np.sqrt(values.var(ddof=1) / len(values) + theory_values.var(ddof=1) / len(theory_values))
            half = float(scipy.stats.t.isf(alpha / (2 * pairs * depth), dof) * error)
            rows.append(dict(rho=rho, layer=layer + 1, measured=float(values.mean()),
                             predicted=float(theory_values.mean()), half_width=half,
                             ok=bool(abs(values.mean() - theory_values.mean()) <= half)))
    return Check("correlations over time follow the pair kernel map", all(r["ok"] for r in rows), rows)


def correlation_power(run: CorrelationRun, gain_factor: float, alpha: float = bands.ALPHA) -> float:
    r"""Probability that :func:`correlation_check` rejects the map at ``gain_factor`` times the gain,
    in the normal approximation: each row's mean is taken as :math:`\mathcal N(\rho_{\rm true}, se^2)`
    with the run's own standard error and band; the largest over the rows (a lower bound)."""
    true_rows, wrong_rows = correlation_check(run, 1.0, alpha).rows, correlation_check(run, gain_factor, alpha).rows
    power = 0.0
    for true, wrong in zip(true_rows, wrong_rows, strict=True):
        if not np.isfinite(true["measured"]):
            continue
        law = scipy.stats.norm(true["predicted"], true["standard_error"])
        power = max(power, law.cdf(wrong["predicted"] - wrong["half_width"]) +
                    law.sf(wrong["predicted"] + wrong["half_width"]))
    return float(min(power, 1.0))
