"""Theory-against-simulation checks, shared by the chapters, the introduction's claim
table and the unit tests (which run the quick sizes over several seeds).

Each check simulates, compares with :mod:`snnmath.theory` inside a band from
:mod:`snnmath.stats`, and returns a :class:`Check`: a verdict plus the table behind it.
A correct theory fails a check with probability at most ``alpha``, whatever the seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from . import stats, symbolic, theory
from .init import gain_normal_
from .simulate import Record, simulate


@dataclass
class Check:
    """The outcome of one check: ``passed``, and per-case rows for tables and plots."""

    name: str
    passed: bool
    rows: list[dict[str, Any]]

    def failures(self) -> list[dict[str, Any]]:
        """Rows whose own comparison failed."""
        return [row for row in self.rows if not row["ok"]]


def spike_probability_check(
    thetas: Sequence[float],
    variances: Sequence[float],
    samples: int = 1_000_000,
    seed: int = 0,
    alpha: float = stats.ALPHA,
) -> Check:
    """E[s²] = P(u > θ) against the fraction of Monte Carlo draws u ~ N(0, V) with u > θ.

    The count is exactly binomial, so the band is a Clopper–Pearson interval.
    """
    rng = np.random.default_rng(seed)
    cases = [(th, v) for th in thetas for v in variances]
    rows = []
    for theta, variance in cases:
        u = rng.normal(0.0, np.sqrt(variance), samples)
        fired = int(np.count_nonzero(binary_spikes(u, theta) ** 2))
        lo, hi = stats.clopper_pearson(fired, samples, alpha, len(cases))
        predicted = float(theory.spike_probability(theta, variance))
        rows.append(
            dict(theta=theta, variance=variance, predicted=predicted, measured=fired / samples,
                 low=float(lo), high=float(hi), ok=bool(lo <= predicted <= hi))
        )
    return Check("E[s^2] = P(u > theta)", all(r["ok"] for r in rows), rows)


def binary_spikes(u: np.ndarray, theta: float) -> np.ndarray:
    """s = H(u − θ) with a strict threshold, as 0/1 integers."""
    return (u > theta).astype(np.int64)


def one_layer_map_check(
    thetas: Sequence[float],
    widths: Sequence[int],
    input_variances: Sequence[float] = (0.5, 1.0, 2.0),
    replicates: int = 100,
    outputs: int = 50,
    seed: int = 0,
    alpha: float = stats.ALPHA,
) -> Check:
    """One layer of the variance map against simulation, gain = proposed scale at V = 1.

    Each replicate draws inputs u ~ N(0, V_in) of width n, spikes s = H(u − θ), and
    fresh Gaussian weights (``outputs`` rows), giving u_out = W s. The map
    E[u_out²] = n·Var[w]·Q(θ/√V_in) is the product of two derived facts, each tested
    exactly, so rare spikes (θ far in the tail) need no normal approximation:

    * the total spike count over replicates is Binomial(R·n, Q(θ/√V_in)): a
      Clopper–Pearson interval must contain Q;
    * given K active inputs, u_out ~ N(0, Var[w]·K), so Σ u_out²/(Var[w]·K) over the
      replicates with K > 0 is χ² with ``outputs`` degrees of freedom each.

    Bonferroni over both tests and the whole grid.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = [(th, n, v) for th in thetas for n in widths for v in input_variances]
    tests = 2 * len(cases)
    rows = []
    for theta, width, v_in in cases:
        gain = float(theory.weight_variance(1, theta))
        inputs = torch.randn(replicates, width, 1, generator=generator)
        spikes = (inputs * v_in**0.5 > theta).float()
        weights = torch.empty(replicates, outputs, width)
        gain_normal_(weights.view(-1, width), gain, generator)  # fan-in = width
        squares = (weights @ spikes).double().square().sum(dim=(1, 2)).numpy()
        active = spikes.sum(dim=(1, 2)).double().numpy()
        q = float(theory.spike_probability(theta, v_in))
        lo, hi = stats.clopper_pearson(active.sum(), replicates * width, alpha, tests)
        spiking = active > 0
        chi2 = float((squares[spiking] / (gain / width * active[spiking])).sum())
        chi_lo, chi_hi = stats.chi2_interval(outputs * int(spiking.sum()), alpha, tests)
        rows.append(
            dict(theta=theta, width=width, input_variance=v_in,
                 predicted=float(theory.variance_map(v_in, theta, gain)),
                 measured=float(squares.sum() / (replicates * outputs)),
                 spike_ok=bool(lo <= q <= hi), chi2_ok=bool(chi_lo <= chi2 <= chi_hi),
                 ok=bool(lo <= q <= hi and chi_lo <= chi2 <= chi_hi))
        )
    return Check("one layer of the variance map", all(r["ok"] for r in rows), rows)


def kaiming_check() -> Check:
    """Kaiming's 2/n is the closed-form scale at θ = 0 and V = 1 (symbolic identity)."""
    limit = symbolic.kaiming_limit().subs(symbolic.V, 1)
    ok = bool(limit.equals(2 / symbolic.n))
    return Check("Kaiming 2/n at theta = 0", ok, [dict(limit=str(limit), ok=ok)])


@dataclass
class DeepRun:
    """A deep t = 0 simulation next to the exact finite-width chain and the mean field."""

    theta: float
    width: int
    record: Record
    chain: np.ndarray
    """Distribution of the active count per layer, shape (depth, width + 1)."""
    mean_field_rate: np.ndarray


def deep_run(theta: float, width: int, depth: int, batch: int, seed: int) -> DeepRun:
    """Simulate ``depth`` layers at t = 0 with the proposed scale; attach chain and mean field."""
    generator = torch.Generator().manual_seed(seed)
    record = simulate(depth, width, steps=1, batch=batch, theta=theta, init="snn", generator=generator)
    gain = float(theory.weight_variance(1, theta))
    variance = theory.iterate_map(theta, gain, 1.0, depth - 1)
    return DeepRun(
        theta=theta,
        width=width,
        record=record,
        chain=theory.active_count_distribution(width, theta, depth - 1),
        mean_field_rate=theory.spike_probability(theta, variance),
    )


def deep_chain_check(runs: Sequence[DeepRun], alpha: float = stats.ALPHA) -> Check:
    """Every sample's active count in every layer lies in the chain's central interval.

    Each sample's count sequence is exactly the Markov chain (samples share weights and
    so are dependent); the union bound over all samples and layers keeps the family-wise
    error at ``alpha`` regardless of that dependence.
    """
    total = sum(run.record.active.shape[0] * run.record.active.shape[2] for run in runs)
    rows = []
    for run in runs:
        counts = run.record.active[:, 0, :].numpy()
        for layer, pmf in enumerate(run.chain):
            lo, hi = stats.central_interval(pmf, alpha / total)
            inside = bool(np.all((counts[layer] >= lo) & (counts[layer] <= hi)))
            rows.append(dict(theta=run.theta, layer=layer, low=lo, high=hi,
                             min=int(counts[layer].min()), max=int(counts[layer].max()), ok=inside))
    return Check("active counts follow the finite-width chain", all(r["ok"] for r in rows), rows)


def independent_chain_check(
    widths: Sequence[int],
    thetas: Sequence[float],
    depth: int,
    networks: int | Sequence[int],
    seed: int = 0,
    alpha: float = stats.ALPHA,
) -> Check:
    """Silence and mean activity per layer against the exact chain, on independent networks.

    Each of ``networks`` networks (one per width, or one number for all) carries one sample,
    so the samples are i.i.d.: the number of silent ones in a layer is Binomial(R, P(K_l = 0))
    (Clopper–Pearson) and the mean active count obeys Bernstein's inequality with the
    chain's own variance and the bound n. Bonferroni over layers, both tests and the grid.
    """
    counts = [networks] * len(widths) if isinstance(networks, int) else list(networks)
    if len(counts) != len(widths):
        raise ValueError(f"networks must be one number or one per width ({len(widths)}), got {len(counts)}")
    generator = torch.Generator().manual_seed(seed)
    tests = 2 * depth * len(widths) * len(thetas)
    rows = []
    for width, replicas in zip(widths, counts, strict=True):
        for theta in thetas:
            record = simulate(depth, width, batch=1, networks=replicas, theta=theta, init="snn", generator=generator)
            active = record.active[:, 0, :].numpy()
            chain = theory.active_count_distribution(width, theta, depth - 1)
            states = np.arange(width + 1)
            mean = chain @ states
            variance = chain @ states**2 - mean**2
            silent = (active == 0).sum(axis=1)
            lo, hi = stats.clopper_pearson(silent, replicas, alpha, tests)
            half = stats.bernstein_half_width(variance, width, replicas, alpha, tests)
            measured = active.mean(axis=1)
            for layer in range(depth):
                ok_silent = bool(lo[layer] <= chain[layer, 0] <= hi[layer])
                ok_mean = bool(abs(measured[layer] - mean[layer]) <= half[layer])
                rows.append(dict(width=width, theta=theta, layer=layer, networks=replicas,
                                 silent_predicted=float(chain[layer, 0]), silent_measured=silent[layer] / replicas,
                                 silent_low=float(lo[layer]), silent_high=float(hi[layer]),
                                 mean_predicted=float(mean[layer]), mean_measured=float(measured[layer]),
                                 mean_half_width=float(half[layer]), ok=ok_silent and ok_mean))
    return Check("independent networks follow the finite-width chain", all(r["ok"] for r in rows), rows)


def mean_square_per_sample(record: Record) -> np.ndarray:
    r"""Each sample's mean square potential :math:`\frac1n\sum_i u_i^2` at t = 0, shape (depth, batch),
    from a record that holds the potentials of every layer."""
    depth = len(record.potentials)
    return torch.stack([record.potentials[layer][0].double().square().mean(dim=-1) for layer in range(depth)]).numpy()


def mean_square_check(record: Record, width: int, theta: float, alpha: float = stats.ALPHA) -> Check:
    """Every sample's mean square potential at t = 0 lies in the exact finite-width region.

    ``record`` must hold the potentials of every layer (``record_layers=range(depth)``) of a
    network with the proposed scale. The region of :func:`snnmath.theory.mean_square_interval`
    (zero for a silent layer, else an interval) is taken at ``alpha`` split over all samples
    and layers, a union bound that holds although the samples share weights.
    """
    per_sample = mean_square_per_sample(record)
    depth = per_sample.shape[0]
    low, high = theory.mean_square_interval(width, theta, depth - 1, alpha / per_sample.size)
    silent = per_sample == 0
    inside = silent | ((per_sample >= low[:, None]) & (per_sample <= high[:, None]))
    rows = [dict(layer=layer, low=float(low[layer]), high=float(high[layer]), silent=int(silent[layer].sum()),
                 min=float(per_sample[layer].min()), max=float(per_sample[layer].max()), ok=bool(inside[layer].all()))
            for layer in range(depth)]
    return Check("mean square potential within the finite-width band", bool(inside.all()), rows)


def silence_depth_check(record: Record, width: int, theta: float, gain: float, alpha: float = stats.ALPHA) -> Check:
    """A network without a non-zero fixed point falls silent at t = 0 when the chain says.

    With B samples, the chain's survival probability S_l = P(K_l > 0) gives, by a union
    bound, every sample silent at the first layer with S_l ≤ alpha/(2B) and every sample
    active at the last layer with S_l ≥ 1 − alpha/(2B). The mean-field depth (the first
    layer with fewer than one expected active neuron) is reported beside it.
    """
    depth, samples = record.active.shape[0], record.active.shape[2]
    alive = 1 - theory.active_count_distribution(width, theta, depth - 1, gain=gain)[:, 0]
    sure_silent = int(np.argmax(alive <= alpha / (2 * samples))) if np.any(alive <= alpha / (2 * samples)) else None
    sure_alive = int(np.nonzero(alive >= 1 - alpha / (2 * samples))[0].max(initial=-1))
    expected_active = width * theory.spike_probability(theta, theory.iterate_map(theta, gain, 1.0, depth - 1))
    silent = record.silent_fraction[:, 0].numpy()
    ok = (sure_silent is None or silent[sure_silent] == 1) and (sure_alive < 0 or silent[sure_alive] == 0)
    row = dict(theta=theta, gain=gain,
               mean_field_depth=int(np.argmax(expected_active < 1)) if np.any(expected_active < 1) else None,
               chain_sure_alive=sure_alive, chain_sure_silent=sure_silent,
               first_all_silent=int(np.argmax(silent == 1)) if np.any(silent == 1) else None, ok=bool(ok))
    return Check("falls silent when the chain predicts", bool(ok), [row])
