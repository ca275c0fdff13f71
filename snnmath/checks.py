"""Theory-against-simulation checks, shared by the chapters, the introduction's claim
table and the unit tests (which run the quick sizes over several seeds).

Each check simulates, compares with :mod:`snnmath.theory` inside a band from
:mod:`snnmath.bands`, and returns a :class:`Check`: a verdict plus the table behind it.
A correct theory fails a check with probability at most ``alpha``, whatever the seed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
import torch

from . import bands, symbolic, theory
from ._validate import integer, real_scalar
from .init import gain_normal_, normal_with_variance_, variance_of
from .lif import lif_layer
from .simulate import ConvRecord, Record, backward_norms, simulate, simulate_independent_spikes
from .surrogate import Surrogate


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
    alpha: float = bands.ALPHA,
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
        lo, hi = bands.clopper_pearson(fired, samples, alpha, len(cases))
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
    alpha: float = bands.ALPHA,
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

    Both are identities (the generator's normal tail, Gaussian sums given K): the check tests the
    code and the scale's value. A last row pools the χ² sums of every case (χ² with the summed
    degrees of freedom), which is what gives the check power against a wrong gain
    (:func:`one_layer_map_power`). Bonferroni over the 2 tests per case and the pooled one.
    """
    generator = torch.Generator().manual_seed(seed)
    cases = [(th, n, v) for th in thetas for n in widths for v in input_variances]
    tests = 2 * len(cases) + 1
    rows: list[dict[str, Any]] = []
    pooled, pooled_dof = 0.0, 0
    for theta, width, v_in in cases:
        gain = float(theory.weight_variance(1, theta))
        inputs = torch.randn(replicates, width, 1, generator=generator)
        spikes = (inputs * v_in**0.5 > theta).float()
        weights = torch.empty(replicates, outputs, width)
        gain_normal_(weights.view(-1, width), gain, generator=generator)  # fan-in = width
        squares = (weights @ spikes).double().square().sum(dim=(1, 2)).numpy()
        active = spikes.sum(dim=(1, 2)).double().numpy()
        q = float(theory.spike_probability(theta, v_in))
        lo, hi = bands.clopper_pearson(active.sum(), replicates * width, alpha, tests)
        spiking = active > 0
        chi2 = float((squares[spiking] / (gain / width * active[spiking])).sum())
        chi_lo, chi_hi = bands.chi2_interval(outputs * int(spiking.sum()), alpha, tests)
        rows.append(
            dict(theta=theta, width=width, input_variance=v_in,
                 predicted=float(theory.variance_map(v_in, theta, gain)),
                 measured=float(squares.sum() / (replicates * outputs)),
                 spike_ok=bool(lo <= q <= hi), chi2_ok=bool(chi_lo <= chi2 <= chi_hi),
                 ok=bool(lo <= q <= hi and chi_lo <= chi2 <= chi_hi))
        )
        pooled, pooled_dof = pooled + chi2, pooled_dof + outputs * int(spiking.sum())
    pooled_lo, pooled_hi = bands.chi2_interval(pooled_dof, alpha, tests)
    rows.append({"theta": "all", "dof": pooled_dof, "chi2": pooled, "chi2_low": pooled_lo, "chi2_high": pooled_hi,
                 "ok": bool(pooled_lo <= pooled <= pooled_hi)})
    return Check("one layer of the variance map", all(r["ok"] for r in rows), rows)


def one_layer_map_power(
    thetas: Sequence[float], widths: Sequence[int], gain_factor: float,
    input_variances: Sequence[float] = (0.5, 1.0, 2.0), replicates: int = 100, outputs: int = 50,
    alpha: float = bands.ALPHA,
) -> float:
    r"""Lower bound, for any seed, on the probability that :func:`one_layer_map_check` on this grid rejects
    a theory whose gain is ``gain_factor`` times the one the weights are drawn with, by its pooled χ² row.

    Under that theory the pooled sum is :math:`\chi^2_D/f`, D = ``outputs`` × the replicates with an
    input spike, at least ``outputs`` × R × (the cases where a silent replicate has probability
    :math:`(1 - Q)^n \le 10^{-12}`) except with probability R × the sum of those; the bound takes the worst
    miss over every D from there up to the grid's largest.
    """
    f = real_scalar("gain_factor", gain_factor, low=0.0, low_open=True)
    r, m = integer("replicates", replicates, low=1), integer("outputs", outputs, low=1)
    cases = [(th, n, v) for th in thetas for n in widths for v in input_variances]
    silent = np.array([(1 - float(theory.spike_probability(th, v))) ** n for th, n, v in cases])
    sure = silent <= 1e-12
    level = alpha / (2 * len(cases) + 1)
    dof = m * np.arange(r * int(sure.sum()), r * len(cases) + 1)
    dof = dof[dof > 0]
    if dof.size == 0:
        return 0.0
    lo, hi = scipy.stats.chi2.ppf(level / 2, dof), scipy.stats.chi2.isf(level / 2, dof)
    miss = scipy.stats.chi2.cdf(f * hi, dof) - scipy.stats.chi2.cdf(f * lo, dof)
    return float(max(1.0 - float(miss.max()) - r * float(silent[sure].sum()), 0.0))


def kaiming_check() -> Check:
    """Kaiming's 2/n is the closed-form scale at θ = 0 and V = 1 (symbolic identity)."""
    limit = symbolic.kaiming_limit().subs(symbolic.V, 1)
    ok = bool(limit.equals(2 / symbolic.n))
    return Check("Kaiming 2/n at theta = 0", ok, [dict(limit=str(limit), ok=ok)])


@dataclass
class DeepRun:
    """Independent deep networks at t = 0 (one sample each) next to the exact finite-width chain and the mean field."""

    theta: float
    width: int
    record: Record
    """The simulation, whose ``record.active[l, 0, r]`` is network r's active count in layer l."""
    chain: np.ndarray
    """Distribution of the active count per layer, shape (depth, width + 1)."""
    mean_field_rate: np.ndarray
    gain: float = 0.0
    """The networks' gain c = n·Var[w] (Gaussian weights), which ``chain`` assumes."""


DEEP_CHAIN_SIZE = {"width": 300, "depth": 100, "networks": 64}
"""The size at which the fixed-points chapter checks the chain (and the tests show its power)."""


def deep_run(theta: float, width: int, depth: int, networks: int, seed: int, gain: float | None = None,
             record_potentials: bool = False) -> DeepRun:
    """Simulate ``networks`` independent networks of ``depth`` layers, one sample each, at t = 0
    with Gaussian weights of gain c = n·Var[w] = ``gain`` (default the proposed scale); attach the exact
    chain and the mean field. ``record_potentials`` keeps every layer's potentials (for
    :func:`mean_square_check`)."""
    generator = torch.Generator().manual_seed(seed)
    c = float(theory.weight_variance(1, theta)) if gain is None else real_scalar("gain", gain, low=0.0, low_open=True)
    init: str | Any = "snn" if gain is None else (lambda w, g=None: gain_normal_(w, c, generator=g))
    record = simulate(depth, width, steps=1, batch=1, networks=networks, theta=theta, init=init,
                      record_layers=range(depth) if record_potentials else (), generator=generator)
    variance = theory.iterate_map(theta, c, 1.0, depth - 1)
    return DeepRun(
        theta=theta,
        width=width,
        record=record,
        chain=theory.active_count_distribution(width, theta, depth - 1, gain=c),
        mean_field_rate=theory.spike_probability(theta, variance),
        gain=c,
    )


def deep_chain_check(runs: Sequence[DeepRun], alpha: float = bands.ALPHA) -> Check:
    r"""The silent networks and the total active count per layer against the exact chain.

    The networks of a run are independent, each with one sample, so in layer l the number
    of silent networks is exactly :math:`\mathrm{Bin}(R, P(K_l = 0))` and the total count
    :math:`\sum_r K_l^{(r)}` has the R-fold convolution of the chain's :math:`P(K_l = \cdot)`
    as its law. Each must lie in the central interval of its exact law; Bonferroni over both
    tests, all layers and all runs.
    """
    tests = 2 * sum(len(run.chain) for run in runs)
    rows = []
    for run in runs:
        counts = run.record.active[:, 0, :].numpy()
        for layer, pmf in enumerate(run.chain):
            rows.append(dict(theta=run.theta, width=run.width, layer=layer,
                             **_chain_layer_test(counts[layer], pmf, alpha / tests)))
    return Check("independent networks follow the finite-width chain", all(r["ok"] for r in rows), rows)


def _layer_laws(pmf: np.ndarray, networks: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact laws, in one layer of R independent networks whose active count has law ``pmf``, of the
    number of silent networks (Binomial(R, pmf[0])) and of the total count (the R-fold convolution)."""
    return scipy.stats.binom.pmf(np.arange(networks + 1), networks, pmf[0]), bands.sum_pmf(pmf, networks)


def _chain_layer_test(counts: np.ndarray, pmf: np.ndarray, alpha: float) -> dict[str, Any]:
    """Silent fraction and mean count of R independent networks in one layer, each against its exact law."""
    networks = len(counts)
    (silent_lo, silent_hi), (total_lo, total_hi) = (bands.central_interval(law, alpha)
                                                    for law in _layer_laws(pmf, networks))
    silent, total = int(np.sum(counts == 0)), int(np.sum(counts))
    return dict(networks=networks, silent_predicted=float(pmf[0]), silent_measured=silent / networks,
                silent_low=silent_lo / networks, silent_high=silent_hi / networks,
                mean_predicted=float(pmf @ np.arange(len(pmf))), mean_measured=total / networks,
                mean_low=total_lo / networks, mean_high=total_hi / networks,
                ok=silent_lo <= silent <= silent_hi and total_lo <= total <= total_hi)


def deep_chain_power(width: int, theta: float, depth: int, networks: int, gain_factor: float,
                     alpha: float = bands.ALPHA, tests: int | None = None, gain: float | None = None) -> float:
    """Probability that :func:`deep_chain_check` rejects a chain whose gain is off by ``gain_factor``.

    The networks follow the chain at ``gain`` (default the proposed scale); the check compares them
    with the chain at ``gain_factor`` times that gain. Exact for each layer's two tests; the largest of
    those rejection probabilities is returned, a lower bound of the check's power. ``tests`` is the
    check's Bonferroni count (default: the two tests of every layer of this one run).
    """
    c = float(theory.weight_variance(1, theta)) if gain is None else real_scalar("gain", gain, low=0.0, low_open=True)
    true = theory.active_count_distribution(width, theta, depth - 1, gain=c)
    wrong = theory.active_count_distribution(width, theta, depth - 1, gain=gain_factor * c)
    level = alpha / (2 * depth if tests is None else tests)
    power = 0.0
    for layer in range(depth):
        for wrong_law, true_law in zip(_layer_laws(wrong[layer], networks), _layer_laws(true[layer], networks),
                                       strict=True):
            lo, hi = bands.central_interval(wrong_law, level)
            power = max(power, true_law[:lo].sum() + true_law[hi + 1:].sum())
    return float(min(power, 1.0))


def independent_chain_check(
    widths: Sequence[int],
    thetas: Sequence[float],
    depth: int,
    networks: int | Sequence[int],
    seed: int = 0,
    alpha: float = bands.ALPHA,
) -> Check:
    """:func:`deep_chain_check` over a grid of widths (each with its own number of ``networks``)
    and thresholds, one seed per case from ``seed`` on."""
    counts = [networks] * len(widths) if isinstance(networks, int) else list(networks)
    if len(counts) != len(widths):
        raise ValueError(f"networks must be one number or one per width ({len(widths)}), got {len(counts)}")
    cases = [(width, replicas, theta) for width, replicas in zip(widths, counts, strict=True) for theta in thetas]
    return deep_chain_check([deep_run(theta, width, depth, replicas, seed + k)
                             for k, (width, replicas, theta) in enumerate(cases)], alpha)


def mean_square_per_sample(record: Record) -> np.ndarray:
    r"""Each sample's mean square potential :math:`\frac1n\sum_i u_i^2` at t = 0, shape (depth, batch),
    from a record that holds the potentials of every layer."""
    depth = len(record.potentials)
    return torch.stack([record.potentials[layer][0].double().square().mean(dim=-1) for layer in range(depth)]).numpy()


def _pooled_layers(silent: np.ndarray, networks: int, level: float) -> tuple[int, float]:
    """The pooled row of :func:`mean_square_check` at a test level ``level``: how many layers l = 1..m it sums,
    and the level of its χ² band. ``silent[l]`` = P(K_l = 0), non-decreasing. Networks silent in layer 0
    are left out (a choice made by layer 0 alone, whose squares are not pooled); the chance that one of the
    others dies inside the pooled layers is at most d = R·(P(K_{m-1} = 0) − P(K_0 = 0)); m is the largest
    with d ≤ 0.9·level, and the band gets the rest of the level."""
    risk = networks * (np.asarray(silent[:-1]) - silent[0])
    m = int(np.sum(risk <= 0.9 * level))
    return m, level - (float(risk[m - 1]) if m else 0.0)


def mean_square_check(record: Record, width: int, theta: float, alpha: float = bands.ALPHA,
                      gain: float | None = None) -> Check:
    r"""The mean square potential :math:`\hat V_l = \frac1n\sum_i u_{l,i}^2` at t = 0 of independent networks
    with Gaussian weights of gain c = n·Var[w] = ``gain`` (default the proposed scale) against its exact
    finite-width law, layer by layer.

    ``record`` must come from independent networks with one sample each (``networks=R, batch=1``)
    and hold the potentials of every layer (``record_layers=range(depth)``). Exact for Gaussian
    weights, with a at each test's level (Bonferroni over 2 + 2·depth tests):

    * given :math:`K_{l-1} = k > 0` active inputs, :math:`X_l = n\hat V_l / (\sigma_w^2 k) \sim \chi^2_n`
      independently of everything before. Whether a layer is alive depends on the potentials below it,
      so summing :math:`X_l` over the layers that happen to live would not give a :math:`\chi^2` law.
      The pooled row sums instead a fixed set, layers 1..m of every network whose layer 0 spikes (R'
      of them), m the deepest layer that the chain keeps alive in all of them but for a probability
      d ≤ 0.9a: given layer 0 that sum is :math:`\chi^2_{nR'm}` whenever they all live, and the row fails
      if one does not, so with its band at a − d it rejects a true theory with probability at most a.
      It depends on the gain; :func:`mean_square_power` gives its power.
    * layer 0's :math:`n\hat V_0/V_0` summed over the networks is :math:`\chi^2_{nR}` (a check of the
      input currents);
    * :math:`\hat V_l = 0` exactly when :math:`K_{l-1} = 0` (checked in every layer), and the number of
      silent networks and the total count follow the chain (:func:`deep_chain_check`'s two tests per layer).

    Rows also carry the acceptance region of one sample's :math:`\hat V_l`
    (:func:`snnmath.theory.mean_square_interval`, Bonferroni over samples and layers) for figures.
    """
    per_sample = mean_square_per_sample(record)
    depth, networks = per_sample.shape
    active = record.active[:, 0, :].numpy()
    c = float(theory.weight_variance(1, theta)) if gain is None else real_scalar("gain", gain, low=0.0, low_open=True)
    scales = c / width * active[:-1]  # Var[u_l | K_{l-1}] for layers 1..L-1
    living = scales > 0
    tests = 2 + 2 * depth  # Bonferroni: the input, the pooled squares, two tests per layer
    chain = theory.active_count_distribution(width, theta, depth - 1, gain=c)
    layers, band_level = _pooled_layers(chain[:, 0], networks, alpha / tests)
    dead_ok = bool(np.all(per_sample[1:][~living] == 0))
    started = active[0] > 0  # networks whose layer 0 spikes: the pooled row's
    all_live = bool(np.all(living[:layers, started]))
    pooled = living[:layers] & started
    squares = float(np.sum(width * per_sample[1 : layers + 1][pooled] / scales[:layers][pooled]))
    dof = width * int(started.sum()) * layers
    chi_lo, chi_hi = bands.chi2_interval(dof, band_level)
    inputs = float(np.sum(width * per_sample[0]))
    in_lo, in_hi = bands.chi2_interval(width * networks, alpha, tests)
    low, high = theory.mean_square_interval(width, theta, depth - 1, alpha / per_sample.size, gain=c)
    rows = [dict(layer=layer, low=float(low[layer]), high=float(high[layer]),
                 silent=int((per_sample[layer] == 0).sum()),
                 **_chain_layer_test(active[layer], chain[layer], alpha / tests)) for layer in range(depth)]
    rows.append(dict(layer="input", squares=inputs, dof=width * networks, squares_low=in_lo, squares_high=in_hi,
                     ok=in_lo <= inputs <= in_hi))
    rows.append(dict(layer="all", layers=layers, squares=squares, dof=dof, squares_low=chi_lo,
                     squares_high=chi_hi, all_live=all_live,
                     ok=dead_ok and all_live and chi_lo <= squares <= chi_hi))
    return Check("mean square potential follows its exact finite-width law", all(r["ok"] for r in rows), rows)


def mean_square_power(width: int, theta: float, depth: int, networks: int, gain_factor: float,
                      gain: float | None = None, alpha: float = bands.ALPHA, tests: int | None = None) -> float:
    r"""Probability, for any seed, that :func:`mean_square_check`'s pooled row rejects a theory whose gain is
    ``gain_factor`` times the networks' own (``gain``, default the proposed scale), or a lower bound of it.

    Its pooled squares are :math:`\chi^2_D` in units of the true gain, D = n·R·m, whenever every network's
    layer 0 spikes and the m layers live, so in units of the wrong one :math:`\chi^2_D/f`: the row accepts
    with probability at most :math:`F_D(f\,\mathrm{hi}) - F_D(f\,\mathrm{lo}) + R\,P(K_0 = 0)`. ``alpha`` and
    ``tests`` as given to the check (``alpha`` divided by the number of checks in a family) and its
    Bonferroni count (default 2 + 2·depth).
    """
    f = real_scalar("gain_factor", gain_factor, low=0.0, low_open=True)
    c = float(theory.weight_variance(1, theta)) if gain is None else real_scalar("gain", gain, low=0.0, low_open=True)
    level = alpha / (2 + 2 * depth if tests is None else tests)
    silent = theory.active_count_distribution(width, theta, depth - 1, gain=c)[:, 0]
    layers, band_level = _pooled_layers(silent, networks, level)
    dof = width * networks * layers
    if dof == 0:
        return 0.0
    lo, hi = bands.chi2_interval(dof, band_level)
    miss = scipy.stats.chi2.cdf(f * hi, dof) - scipy.stats.chi2.cdf(f * lo, dof)
    return float(max(1.0 - miss - networks * silent[0], 0.0))  # less: a network silent in layer 0 (R' < R)


SILENCE_TAIL = 1e-9
"""A baseline's check runs to the first layer where the chain leaves a sample alive with at most this probability."""


def silence_size(width: int, theta: float, gain: float, comparisons: int = 1, factors: Sequence[float] = (0.95, 1.05),
                 power: float = 0.999, choices: Sequence[int] = (32, 64, 128), alpha: float = bands.ALPHA
                 ) -> tuple[int, int]:
    """Depth and number of independent networks at which :func:`mean_square_check` tests a network of gain
    ``gain`` that falls silent: the depth reaches the first layer whose chain survival is at most
    :data:`SILENCE_TAIL` (so every network must be silent there), and the networks are the fewest of
    ``choices`` whose :func:`mean_square_power` against each of ``factors`` is at least ``power``, with
    the check run at ``alpha``/``comparisons`` (the largest choice if none is)."""
    alive = 1 - theory.active_count_distribution(width, theta, 60, gain=gain)[:, 0]
    if not np.any(alive <= SILENCE_TAIL):
        raise ValueError(f"the chain at gain {gain:g} and theta {theta:g} does not fall silent within 60 layers")
    depth = int(np.argmax(alive <= SILENCE_TAIL)) + 1
    for networks in choices:
        tests = comparisons * (2 + 2 * depth)
        if all(mean_square_power(width, theta, depth, networks, f, gain=gain, alpha=alpha, tests=tests) >= power
               for f in factors):
            return depth, networks
    return depth, int(choices[-1])


def silence_check(width: int, theta: float, gain: float, seed: int, comparisons: int = 1,
                  alpha: float = bands.ALPHA) -> Check:
    """A network of gain ``gain`` below the saddle node falls silent at t = 0 when the exact chain says, on
    independent networks: :func:`mean_square_check` at that gain, at the size :func:`silence_size` gives
    (power at least 0.999 against a gain 5 % off, for any seed), at level ``alpha``/``comparisons``."""
    depth, networks = silence_size(width, theta, gain, comparisons, alpha=alpha)
    run = deep_run(theta, width, depth, networks, seed, gain=gain, record_potentials=True)
    return mean_square_check(run.record, width, theta, alpha / comparisons, gain=gain)


def silence_depth_check(record: Record, width: int, theta: float, gain: float, alpha: float = bands.ALPHA) -> Check:
    """A network without a non-zero fixed point falls silent at t = 0 when the chain says (weak).

    Not a verification of the gain: the samples of one network are not independent, and the
    union bound below passes a gain 5 % off. :func:`silence_check` (independent networks at the
    baseline's gain) tests the same depth to silence against the exact chain and has power against
    such an error.

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


# --- convolutions: the per-position map, one layer at a time ---------------------------
def conv_layer_check(record: ConvRecord, gain: float, alpha: float = bands.ALPHA, border_blind: bool = False) -> Check:
    r"""The per-position map of a convolutional stack at t = 0, one layer at a time, on independent networks.

    ``record`` comes from :func:`snnmath.simulate.simulate_conv` with Gaussian weights of gain
    c = n·Var[w] (n = C k²), ``networks`` of them and some ``probes``. The probe neuron of network r
    at position x of layer l ≥ 1 has :math:`K_r` active inputs in its receptive field (padded taps
    are silent); given the layer below its potential is exactly
    :math:`\mathcal N(0, v_r)` with :math:`v_r = \tfrac{c}{C k^2} K_r` (times :math:`k^2/m(x)`
    when the border is rescaled), whose expectation over the layer below is the map
    :func:`snnmath.symbolic.conv_variance_map`. Networks are independent, so per layer and probe:

    * :math:`\sum_r u_r^2/v_r \sim \chi^2_{R'}` over the R' networks with :math:`K_r > 0`
      (:math:`K_r = 0` forces :math:`u_r = 0`);
    * the spike count :math:`\sum_r H(u_r - \theta)` is Poisson-binomial with
      :math:`p_r = Q(\theta/\sqrt{v_r})`: its exact central interval.

    Bonferroni over both tests, the layers and the probes. ``border_blind=True`` tests the wrong
    theory that gives every neuron its full fan-in at the rate of its in-image inputs,
    :math:`v_r = c K_r/(C\,m(x))`, m(x) the in-image taps (right only for circular padding or a
    rescaled border): the check rejects it at the border.
    """
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    if not isinstance(border_blind, bool):
        raise ValueError(f"border_blind must be True or False, got {border_blind!r}")
    potentials, inputs = record.probe_potentials[:, 0].double().numpy(), record.probe_inputs[:, 0].numpy()
    depth, _, probes = potentials.shape
    if depth < 2 or probes == 0:
        raise ValueError("record must have at least 2 layers and at least one probe")
    height, width = record.rate.shape[-2:]
    taps = theory.tap_counts(height, width, record.kernel, record.padding_mode)
    tests = 2 * (depth - 1) * probes
    rows = []
    for layer in range(1, depth):
        for index, (i, j) in enumerate(record.probes):
            per_input = c / (record.channels * record.kernel**2)
            if border_blind or record.rescale_border:
                per_input *= record.kernel**2 / taps[i, j]
            rows.append(_conv_probe_row(potentials[layer, :, index], inputs[layer, :, index] * per_input,
                                        record.theta, alpha, tests) | dict(layer=layer, position=(i, j)))
    name = "conv per-position map, layer by layer" + (" (border-blind)" if border_blind else "")
    return Check(name, all(r["ok"] for r in rows), rows)


def _conv_probe_row(potentials: np.ndarray, variances: np.ndarray, theta: float, alpha: float,
                    tests: int) -> dict[str, Any]:
    """The χ² and Poisson-binomial tests of one layer and probe over the networks (see :func:`conv_layer_check`)."""
    driven = variances > 0
    chi2 = float(np.sum(potentials[driven] ** 2 / variances[driven]))
    chi_lo, chi_hi = bands.chi2_interval(int(driven.sum()), alpha, tests)
    probabilities = theory.spike_probability(theta, variances)
    low, high = bands.central_interval(bands.poisson_binomial_pmf(probabilities), alpha / tests)
    spikes = int(np.count_nonzero(potentials > theta))
    ok_chi2 = bool(np.all(potentials[~driven] == 0) and chi_lo <= chi2 <= chi_hi)
    return dict(variance_predicted=float(variances.mean()), variance_measured=float(np.mean(potentials**2)),
                chi2=chi2, chi2_low=chi_lo, chi2_high=chi_hi, rate_predicted=float(probabilities.mean()),
                rate_measured=spikes / potentials.size, spikes=spikes, spikes_low=low, spikes_high=high,
                chi2_ok=ok_chi2, spikes_ok=bool(low <= spikes <= high), ok=ok_chi2 and low <= spikes <= high)


# --- gradients at the first time step ---------------------------------------------------
def surrogate_moment_check(
    cases: Sequence[tuple[Surrogate, float, float]], samples: int = 1_000_000, seed: int = 0,
    alpha: float = bands.ALPHA,
) -> Check:
    r""":math:`E[\sigma'(u-\theta)^2]` by quadrature against the Monte Carlo mean over :math:`u \sim \mathcal N(0, V)`.

    ``cases`` are ``(surrogate, theta, variance)``. Each draw :math:`X = \sigma'(u-\theta)^2` lies in
    :math:`[0, \sigma'(0)^2]`, so :math:`|X - \mu| \le \sigma'(0)^2` and
    :math:`\mathrm{Var}[X] \le \sigma'(0)^2\mu`: Bernstein's inequality gives an exact band, with
    no normal approximation. Bonferroni over the cases.
    """
    generator = torch.Generator().manual_seed(seed)
    rows = []
    for surrogate, theta, variance in cases:
        u = torch.randn(samples, generator=generator, dtype=torch.float64) * variance**0.5
        measured = float(surrogate.derivative(u - theta).square().mean())
        predicted = float(theory.surrogate_square_moment(theta, real_scalar("slope", surrogate.slope), surrogate.name,
                                                           variance))
        peak = float(surrogate.derivative(torch.zeros((), dtype=torch.float64))) ** 2
        half = float(bands.bernstein_half_width(peak * predicted, peak, samples, alpha, len(cases)))
        rows.append(dict(surrogate=surrogate.name, slope=surrogate.slope, theta=theta, variance=variance,
                         predicted=predicted, measured=measured, half_width=half,
                         ok=bool(abs(measured - predicted) <= half)))
    return Check("E[sigma'^2] by quadrature", all(r["ok"] for r in rows), rows)


def surrogate_moment_power(surrogate: Surrogate, theta: float, variance: float, wrong: float, samples: int,
                           cases: int = 1, alpha: float = bands.ALPHA) -> float:
    r"""Lower bound, for any seed, on the probability that :func:`surrogate_moment_check`'s case
    ``(surrogate, theta, variance)`` rejects the moment ``wrong`` (a competing value, e.g. the moment at a
    slope 5 % off) in place of the true one, with ``samples`` draws and Bonferroni over ``cases``.

    The check accepts only if the Monte Carlo mean lies within the band h of ``wrong`` (its half-width
    uses ``wrong`` as the mean), so it must deviate from the true mean μ by at least
    :math:`d = |\mu - w| - h`, w = ``wrong``;
    Bernstein's inequality with :math:`\mathrm{Var}[X] \le \sigma'(0)^2\mu` and :math:`|X - \mu| \le \sigma'(0)^2`
    bounds that probability. Exact, no normal approximation.
    """
    true = float(theory.surrogate_square_moment(theta, real_scalar("slope", surrogate.slope), surrogate.name, variance))
    peak = float(surrogate.derivative(torch.zeros((), dtype=torch.float64))) ** 2
    n = integer("samples", samples, low=1)
    half = float(bands.bernstein_half_width(peak * wrong, peak, n, alpha, cases))
    gap = abs(true - wrong) - half
    if gap <= 0:
        return 0.0
    miss = 2 * np.exp(-n * gap**2 / (2 * peak * true + 2 * peak * gap / 3))
    return float(max(1.0 - miss, 0.0))


@dataclass
class GradientRun:
    """Mean square gradients measured by autograd next to the mean-field profile, one initialiser and θ."""

    init: str
    theta: float
    surrogates: tuple[Surrogate, ...]
    measured: np.ndarray
    """:func:`snnmath.simulate.backward_norms`, shape (surrogates, networks, depth)."""
    predicted: np.ndarray
    """:func:`snnmath.theory.backward_profile` of each surrogate, shape (surrogates, depth)."""


def gradient_run(
    init: str, theta: float, surrogates: Sequence[Surrogate], depth: int, width: int, networks: int,
    batch: int, seed: int,
) -> GradientRun:
    """Measure the gradients of ``networks`` independent square networks and attach the mean field,
    with the gain c = n·Var[w] of ``init`` at this width and θ."""
    generator = torch.Generator().manual_seed(seed)
    measured = backward_norms(depth, width, surrogates, theta=theta, init=init, batch=batch, networks=networks,
                              generator=generator).numpy()
    gain = width * variance_of(init, width, width, theta)
    predicted = np.array([theory.backward_profile(theta, real_scalar("slope", s.slope), s.name, depth, gain=gain)
                          for s in surrogates])
    return GradientRun(init, theta, tuple(surrogates), measured, predicted)


def backward_gain_check(runs: Sequence[GradientRun], alpha: float = bands.ALPHA) -> Check:
    r"""Per-layer backward gains measured by autograd against the mean field, on independent networks.

    Network r gives at every layer l < L − 1 the measured gain
    :math:`\rho_{r,l} = \hat q_{r,l}/\hat q_{r,l+1}` (:math:`\hat q` the mean square gradient), in
    units of the predicted :math:`\chi_l`. Given the layers above, :math:`\hat q_{r,l+1}` is fixed
    and, under the gradient independence assumption, :math:`E[\hat q_{r,l}] = \chi_l\,\hat q_{r,l+1}`,
    so :math:`E[\rho_{r,l}/\chi_l] = 1` with no Jensen bias (unlike the log-norms, whose products
    of random factors drift below the log of the mean). The networks are i.i.d., so two t-tests on
    their spread (:func:`snnmath.bands.t_band`): per layer, the mean over networks; and pooled, each
    network's average over layers, a far tighter test of the gain itself. Each :math:`\rho` is an
    average over n·B products and the pooled value an average of L − 1 of them, so the t band is
    the CLT approximation. Bonferroni over layers, surrogates and runs. Left out of the mean field:
    effects of order 1/n per layer (the assumption itself; samples that fall silent at finite
    width, see the chain of the width chapter).
    """
    tests = sum(len(run.surrogates) * run.measured.shape[2] for run in runs)
    rows = []
    for run in runs:
        for surrogate, measured, predicted in zip(run.surrogates, run.measured, run.predicted, strict=True):
            gains = predicted[:-1] / predicted[1:]
            ratios = measured[:, :-1] / measured[:, 1:] / gains
            layer_mean, layer_half = bands.t_band(ratios, alpha, tests)
            pooled, pooled_half = bands.t_band(ratios.mean(axis=1), alpha, tests)
            layers_ok = bool(np.all(np.abs(layer_mean - 1) <= layer_half))
            pooled_ok = bool(abs(pooled - 1) <= pooled_half)
            rows.append(dict(init=run.init, theta=run.theta, surrogate=surrogate.name, slope=surrogate.slope,
                             gain=float(gains[-1]), pooled=float(pooled), pooled_half_width=float(pooled_half),
                             worst_layer=float(np.max(np.abs(layer_mean - 1) / layer_half)),
                             layers_ok=layers_ok, pooled_ok=pooled_ok, ok=layers_ok and pooled_ok))
    return Check("per-layer backward gains against autograd", all(r["ok"] for r in rows), rows)


def backward_gain_power(run: GradientRun, wrong: np.ndarray, tests: int, alpha: float = bands.ALPHA,
                        confidence: float = bands.ALPHA) -> np.ndarray:
    r"""Lower bound, per surrogate of ``run``, on the probability that :func:`backward_gain_check`'s pooled
    test rejects the profile ``wrong`` (shape like ``run.predicted``, e.g. the gain or the surrogate's slope
    off by 5 %) when ``run.predicted`` is right, for networks drawn like ``run``'s.

    Under the right profile each network's measured ratio :math:`\rho_{r,l}/\chi_l` has mean one, so the
    pooled value in units of the wrong gains :math:`\chi'_l`, :math:`y_r = \mathrm{mean}_l\,\rho_{r,l}/\chi'_l`,
    has mean :math:`\mu = \mathrm{mean}_l\,\chi_l/\chi'_l` exactly; with the check's normal model for the
    i.i.d. :math:`y_r` its t statistic is noncentral t with R − 1 degrees of freedom and noncentrality
    :math:`(\mu - 1)\sqrt R/\sigma`. σ is replaced by its upper confidence bound from ``run``'s own spread of
    :math:`y_r` (χ² at ``confidence``), so the bound holds but for probability ``confidence``. ``tests`` is the
    check's Bonferroni count.
    """
    bad = np.asarray(wrong, dtype=np.float64)
    if bad.shape != run.predicted.shape or not np.all(np.isfinite(bad)) or np.any(bad <= 0):
        raise ValueError(f"wrong must be positive and of shape {run.predicted.shape}, got {bad.shape}")
    networks = run.measured.shape[1]
    critical = scipy.stats.t.isf(alpha / tests / 2, networks - 1)
    powers = []
    for measured, predicted, other in zip(run.measured, run.predicted, bad, strict=True):
        wrong_gains = other[:-1] / other[1:]
        pooled = (measured[:, :-1] / measured[:, 1:] / wrong_gains).mean(axis=1)
        mean = float(np.mean((predicted[:-1] / predicted[1:]) / wrong_gains))
        sigma = float(np.sqrt((networks - 1) * pooled.var(ddof=1) / scipy.stats.chi2.ppf(confidence, networks - 1)))
        powers.append(_t_test_power(abs(mean - 1) * np.sqrt(networks) / sigma, networks - 1, critical))
    return np.array(powers)


def backward_gain_detectable(run: GradientRun, tests: int, power: float = 0.999, alpha: float = bands.ALPHA,
                             confidence: float = bands.ALPHA) -> np.ndarray:
    """Per surrogate of ``run``, the smallest relative error e of the per-layer gain (every χ_l times 1 − e
    and times 1 + e) that :func:`backward_gain_check` rejects with probability at least ``power`` by
    :func:`backward_gain_power` (bisection to 1e-4; 1 when even e close to 1 is not enough)."""
    exponents = np.arange(run.predicted.shape[1] - 1, -1, -1)

    def enough(error: np.ndarray) -> np.ndarray:
        return np.min([backward_gain_power(run, run.predicted * factor[:, None] ** exponents, tests, alpha, confidence)
                       for factor in (1 - error, 1 + error)], axis=0) >= power

    low, high = np.zeros(len(run.surrogates)), np.full(len(run.surrogates), 0.999)
    detectable = enough(high)
    while np.any(high - low > 1e-4):
        middle = (low + high) / 2
        ok = enough(middle)
        high, low = np.where(ok, middle, high), np.where(ok, low, middle)
    return np.where(detectable, high, 1.0)


def _t_test_power(shift: float, dof: int, critical: float) -> float:
    r"""P(|T| > ``critical``) for T noncentral t (``dof``, ``shift``): with :math:`T = (Z + \delta)/\sqrt{W/\nu}`,
    the mean over :math:`W \sim \chi^2_\nu` of :math:`\Phi(-cS - \delta) + \Phi(-cS + \delta)`,
    :math:`S = \sqrt{W/\nu}` (quadrature; stable where scipy's noncentral t is not)."""
    law = scipy.stats.chi2(dof)

    def rejected(w: float) -> float:
        scale = critical * np.sqrt(w / dof)
        return float(scipy.special.ndtr(-scale - shift) + scipy.special.ndtr(-scale + shift)) * float(law.pdf(w))

    value, _ = scipy.integrate.quad(rejected, 0.0, float(law.isf(1e-15)), limit=200, points=[float(dof)])
    return float(min(max(value, 0.0), 1.0))


# --- the pixel-driven first layer ---------------------------------------------------------
def first_layer_check(
    images: np.ndarray, beta: float, theta: float, steps: int, width: int, networks: int,
    weight_variance: float | None = None, assumed_rate: float | None = None, max_value: int = 255,
    seed: int = 0, alpha: float = bands.ALPHA,
) -> Check:
    r"""The first hidden layer's synaptic current :math:`I_1[t] = W_1 s_0[t]` on real images, per step.

    ``images`` ``(N, ...)`` (integer levels 0..``max_value``, or intensities in [0, 1]) is the
    population: the theory is computed from all of it, :math:`p_0[t]` by
    :func:`snnmath.theory.input_layer_rates`. ``networks`` images are drawn from it uniformly with
    replacement; each drives the input layer (:func:`snnmath.lif.lif_layer`) and its own first
    layer of ``width`` neurons with i.i.d. :math:`\mathcal N(0, \sigma_w^2)` weights,
    :math:`\sigma_w^2` = ``weight_variance`` (default :func:`snnmath.theory.first_layer_weight_variance`).
    Draws are independent, so per step t, exactly:

    * given its image, network r's currents are i.i.d. :math:`\mathcal N(0, \sigma_w^2 K_r[t])`:
      :math:`\sum_{r,i} I_{r,i}[t]^2/(\sigma_w^2 K_r[t])` over the networks with :math:`K_r[t] > 0` is
      :math:`\chi^2` with width·(their number) degrees of freedom, and :math:`K_r[t] = 0` gives I ≡ 0;
    * the spike fractions :math:`K_r[t]/n` are i.i.d. with mean :math:`p_0[t]`; Bernstein's inequality
      with the population's variance of K/n and its largest deviation from :math:`p_0[t]`.

    Both together are :math:`E[I_1[t]^2] = n\sigma_w^2 p_0[t]`. ``assumed_rate=q`` tests instead the
    assumption behind the paper's scale, inputs spiking independently with probability q (Q(θ))
    at every step: mean q, variance q(1 − q)/n. Bonferroni over the 2T tests.
    """
    population = np.asarray(images)
    t_steps, n_out = integer("steps", steps, low=1), integer("width", width, low=1)
    replicas = integer("networks", networks, low=1)
    counts = theory.input_active_counts(population, beta, theta, t_steps, max_value)
    pixels = population[0].size
    if assumed_rate is None:
        fractions = counts / pixels
        rate = fractions.mean(axis=0)
        spread, bound = fractions.var(axis=0), np.abs(fractions - rate).max(axis=0)
    else:
        q = real_scalar("assumed_rate", assumed_rate, low=0.0, high=1.0)
        rate, spread = np.full(t_steps, q), np.full(t_steps, q * (1 - q) / pixels)
        bound = np.full(t_steps, max(q, 1 - q))
    variance = (theory.first_layer_weight_variance(population, beta, theta, t_steps, max_value=max_value)
                if weight_variance is None else real_scalar("weight_variance", weight_variance, low=0.0, low_open=True))
    generator = torch.Generator().manual_seed(seed)
    drawn = torch.randint(len(population), (replicas,), generator=generator).numpy()
    spikes = _input_spikes(population[drawn], beta, theta, t_steps, max_value)  # (R, n, T)
    squares = _current_squares(spikes, n_out, variance, generator)  # (R, T): Σ_i I_i[t]²
    active = spikes.sum(dim=1).double().numpy()
    tests = 2 * t_steps
    half = bands.bernstein_half_width(spread, bound, replicas, alpha, tests)
    rows = []
    for t in range(t_steps):
        driven = active[:, t] > 0
        chi2 = float(np.sum(squares[driven, t] / (variance * active[driven, t])))
        chi_lo, chi_hi = bands.chi2_interval(n_out * int(driven.sum()), alpha, tests)
        chi2_ok = bool(np.all(squares[~driven, t] == 0) and chi_lo <= chi2 <= chi_hi)
        measured = float(active[:, t].mean() / pixels)
        rate_ok = bool(abs(measured - rate[t]) <= half[t])
        rows.append(dict(step=t, rate_predicted=float(rate[t]), rate_measured=measured, rate_half_width=float(half[t]),
                         variance_predicted=float(pixels * variance * rate[t]),
                         variance_measured=float(squares[:, t].sum() / (replicas * n_out)),
                         chi2=chi2, chi2_low=chi_lo, chi2_high=chi_hi, rate_ok=rate_ok, chi2_ok=chi2_ok,
                         ok=rate_ok and chi2_ok))
    name = "first-layer current on real images" + ("" if assumed_rate is None else f" (inputs at rate {q:.4g})")
    return Check(name, all(r["ok"] for r in rows), rows)


def _input_spikes(images: np.ndarray, beta: float, theta: float, steps: int, max_value: int) -> torch.Tensor:
    """Input-layer spikes ``(N, pixels, T)`` of images driven as constant currents (float32, as in training)."""
    flat = torch.from_numpy(images.reshape(len(images), -1).astype(np.float32))
    currents = flat / max_value if np.issubdtype(images.dtype, np.integer) else flat
    return lif_layer(currents.expand(steps, *currents.shape), beta, theta)[1].permute(1, 2, 0)


def _current_squares(spikes: torch.Tensor, width: int, variance: float, generator: torch.Generator) -> np.ndarray:
    r""":math:`\sum_i I_{r,i}[t]^2` for network r's own ``(width, pixels)`` Gaussian weights, shape (R, T)."""
    out = torch.empty(spikes.shape[0], spikes.shape[2], dtype=torch.float64)
    for start in range(0, spikes.shape[0], 64):
        block = spikes[start : start + 64]
        weights = torch.empty(block.shape[0], width, block.shape[1])
        normal_with_variance_(weights, variance, generator=generator)
        out[start : start + 64] = (weights @ block).double().square().sum(dim=1)
    return out.numpy()


# --- after the first step: holding the stationary rate over depth -------------------------------
@dataclass
class LateRateRun:
    """Late time-averaged rates of independent deep networks at one weight scale (:func:`late_rate_run`)."""

    label: str
    beta: float
    theta: float
    gain: float
    target: float
    input_std: float
    rates: np.ndarray
    """Shape ``(depth, networks)``: each network's rate of each layer over the second half of the steps."""


def late_rate_run(
    beta: float, theta: float, gain: float, *, width: int, depth: int, steps: int = 100, networks: int = 32,
    seed: int = 0, label: str = "", independent_spikes: bool = False,
) -> LateRateRun:
    r"""``networks`` independent networks (one sample each) with :math:`\mathrm{Var}[w] = c/n`, c = ``gain``,
    layer 0 driven by fresh :math:`\mathcal N(0, \sigma_0^2)` currents, :math:`\sigma_0` set so that it fires
    at the target rate :math:`\rho = Q(\theta)` (:func:`snnmath.theory.input_std_for_rate`). With
    ``independent_spikes`` each layer sees independent spikes at its inputs' own rates
    (:func:`snnmath.simulate.simulate_independent_spikes`), the quenched mean field's assumption.
    """
    target = float(theory.spike_probability(theta))
    input_std = theory.input_std_for_rate(target, beta, theta)
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    replicas = integer("networks", networks, low=1)
    options: dict[str, Any] = dict(
        steps=steps, batch=1, beta=beta, theta=theta, init=lambda w, g=None: gain_normal_(w, c, generator=g),
        input_variance=input_std**2, networks=replicas, generator=torch.Generator().manual_seed(seed))
    record = (simulate_independent_spikes(depth, width, **options) if independent_spikes
              else simulate(depth, width, fresh_inputs=True, **options))
    rates = record.active[:, steps // 2 :].double().mean(dim=1).numpy() / width
    return LateRateRun(label, beta, theta, c, target, input_std, rates)


def late_rate_check(
    runs: Sequence[LateRateRun], factor: float = 1.5, layer: int = -1, alpha: float = bands.ALPHA
) -> Check:
    r"""Claim, per run: the median network's late rate of ``layer`` lies within a factor ``factor`` of
    the target, in :math:`[\rho/f, f\rho]`.

    Networks are independent, so their late rates are i.i.d. however correlated the spikes inside one
    network are; :func:`snnmath.bands.median_interval` bounds the median without any assumption on
    their law (Bonferroni over runs). A row fails, rejecting the claim, when that interval lies
    outside :math:`[\rho/f, f\rho]`: a true claim is rejected with probability at most ``alpha``.
    ``confirmed`` marks rows whose interval lies inside: the claim then holds but for probability ``alpha``.
    """
    f = real_scalar("factor", factor, low=1.0)
    rows = []
    for run in runs:
        rates = run.rates[layer]
        low, high = bands.median_interval(rates, alpha, len(runs))
        lo_claim, hi_claim = run.target / f, run.target * f
        rows.append(dict(label=run.label, beta=run.beta, theta=run.theta, gain=run.gain, target=run.target,
                         median=float(np.median(rates)), low=float(low), high=float(high),
                         silent=float(np.mean(rates == 0)), claim_low=lo_claim, claim_high=hi_claim,
                         confirmed=bool(lo_claim <= low and high <= hi_claim),
                         ok=bool(high >= lo_claim and low <= hi_claim)))
    return Check(f"median late rate within a factor {f:g} of the target", all(r["ok"] for r in rows), rows)


def late_rate_power(networks: int, outside: float, comparisons: int, alpha: float = bands.ALPHA) -> float:
    r"""Probability, for any law of the networks' rates, that :func:`late_rate_check` with ``networks``
    networks per run and ``comparisons`` runs rejects a run whose networks each lie beyond the claim on
    one side (below :math:`\rho/f`, or above :math:`f\rho`) with probability ``outside``.

    The row is rejected on that side exactly when at most k networks are not beyond it (k the index of
    :func:`snnmath.bands.median_interval`), so the power is :math:`P(\mathrm{Bin}(R, 1 - \text{outside}) \le k)`.
    """
    r = integer("networks", networks, low=1)
    p = real_scalar("outside", outside, low=0.0, high=1.0)
    k = bands.median_index(r, alpha, comparisons)
    return float(scipy.stats.binom.cdf(k, r, 1 - p)) if k >= 0 else 0.0


def late_rate_detectable(networks: int, comparisons: int, power: float = 0.999, alpha: float = bands.ALPHA) -> float:
    r"""The smallest probability that a network lies beyond the claim (on one side) at which
    :func:`late_rate_check` rejects the run with probability at least ``power`` (:func:`late_rate_power`):
    :math:`1 - q^*`, :math:`q^*` the largest q with :math:`P(\mathrm{Bin}(R, q) \le k) \ge` ``power``
    (a beta quantile)."""
    r = integer("networks", networks, low=1)
    k = bands.median_index(r, alpha, comparisons)
    if k < 0:
        return 1.0
    return float(1 - scipy.stats.beta.ppf(1 - real_scalar("power", power, low=0.0, high=1.0), k + 1, r - k))


# --- the kernel over time: the infinite-width limit against finite networks ----------------------
@dataclass
class KernelRateRun:
    """Time-averaged rates of independent deep networks (:func:`kernel_rate_run`)."""

    beta: float
    theta: float
    gain: float
    width: int
    steps: int
    input: str
    """``"direct"`` (a constant unit-variance current) or ``"rate"`` (Bernoulli spikes through weights)."""
    input_rate: float | None
    step_rates: np.ndarray
    """Shape ``(networks, depth, steps)``: each network's rate of each layer and step, over its samples."""

    @property
    def rates(self) -> np.ndarray:
        """Shape ``(networks, depth)``: each network's rate of each layer averaged over the steps."""
        return self.step_rates.mean(axis=2)


def kernel_rate_run(
    beta: float, theta: float, gain: float, *, width: int, depth: int, steps: int, networks: int, batch: int = 1,
    input: str = "direct", input_rate: float | None = None, seed: int = 0,
) -> KernelRateRun:
    r"""``networks`` independent networks of ``depth`` layers with :math:`\mathrm{Var}[w] = c/n`, c = ``gain``,
    from rest over ``steps`` steps. Layer 0 receives a constant :math:`\mathcal N(0, 1)` current per neuron
    (``input="direct"``) or, with ``input="rate"``, Bernoulli(``input_rate``) spikes, fresh each step,
    through an n × n Gaussian weight of the same gain drawn per network: the inputs whose covariance
    :func:`snnmath.theory.input_covariance` gives.
    """
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    n, layers, t_steps = integer("width", width, low=1), integer("depth", depth, low=1), integer("steps", steps, low=1)
    replicas, n_batch = integer("networks", networks, low=2), integer("batch", batch, low=1)
    if input not in ("direct", "rate"):
        raise ValueError(f"input must be 'direct' or 'rate', got {input!r}")
    generator = torch.Generator().manual_seed(integer("seed", seed, low=0))
    inputs = None
    if input == "rate":
        if input_rate is None:
            raise ValueError("rate-coded input needs input_rate (the spike probability per step)")
        p = real_scalar("input_rate", input_rate, low=0.0, high=1.0)
        spikes = (torch.rand(t_steps, replicas, n_batch, n, generator=generator) < p).float()
        weights = torch.empty(replicas, n, n)
        for weight in weights:  # one (n, n) weight per network, fan-in n
            gain_normal_(weight, c, generator=generator)
        inputs = torch.einsum("trbj,rij->trbi", spikes, weights).reshape(t_steps, replicas * n_batch, n)

    def fill(weight: torch.Tensor, g: torch.Generator | None = None) -> torch.Tensor:
        return gain_normal_(weight, c, generator=g)

    record = simulate(layers, n, steps=t_steps, batch=n_batch, networks=replicas, beta=beta, theta=theta,
                      inputs=inputs, init=fill, generator=generator)
    active = record.active.double().view(layers, t_steps, replicas, n_batch)  # network-major samples
    step_rates = (active.mean(dim=3) / n).permute(2, 0, 1).numpy()
    return KernelRateRun(beta, theta, c, n, t_steps, input, None if input == "direct" else p, step_rates)


def deep_average(rates: np.ndarray) -> np.ndarray:
    """The mean over the deeper half of the layers (the last axis), per replicate: ``rates[..., L//2:]``."""
    return np.asarray(rates)[..., np.asarray(rates).shape[-1] // 2 :].mean(axis=-1)


def kernel_rate_check(
    run: KernelRateRun, theory_gain: float | None = None, *, gap: np.ndarray | float = 0.0,
    samples: int = 1 << 15, replicas: int = 32, seed: int = 0, alpha: float = bands.ALPHA,
) -> Check:
    r"""The kernel map's time-averaged rate per layer, and averaged over the deeper half of the layers,
    against the mean of ``run``'s independent networks.

    A row passes when :math:`|\bar r_{\mathrm{sim}} - \bar r_{\mathrm{kernel}}|` is at most the sum of the
    t bands of the networks and of the kernel map's independent replicas (:func:`snnmath.bands.t_band`, Bonferroni
    over the depth + 1 comparisons, each side at ``alpha / 2``) and ``gap``: the finite-width gap allowed
    at this width (one number, or depth + 1 numbers: per layer, then the deep average), since the kernel
    map is the n → ∞ limit. ``theory_gain`` (default the simulated gain) is the gain given to the theory.
    """
    c = run.gain if theory_gain is None else real_scalar("theory_gain", theory_gain, low=0.0, low_open=True)
    depth = run.rates.shape[1]
    kernel = theory.kernel_depth_map(c, run.beta, run.theta, run.steps, depth, input=run.input,
                                     input_rate=run.input_rate, samples=samples, replicas=replicas, seed=seed)
    per_replica = kernel.rates.mean(axis=2)  # (replicas, depth): time-averaged
    sim = np.column_stack([run.rates, deep_average(run.rates)])
    theo = np.column_stack([per_replica, deep_average(per_replica)])
    allowed = np.broadcast_to(np.asarray(gap, dtype=np.float64), (depth + 1,))
    sim_mean, sim_half = bands.t_band(sim, alpha / 2, depth + 1)
    theo_mean, theo_half = bands.t_band(theo, alpha / 2, depth + 1)
    rows = []
    for index in range(depth + 1):
        difference = float(sim_mean[index] - theo_mean[index])
        band = float(sim_half[index] + theo_half[index] + allowed[index])
        rows.append(dict(layer=index if index < depth else "deep half", simulated=float(sim_mean[index]),
                         kernel=float(theo_mean[index]), difference=difference, sim_band=float(sim_half[index]),
                         kernel_band=float(theo_half[index]), gap=float(allowed[index]), band=band,
                         ok=bool(abs(difference) <= band)))
    return Check("kernel map against finite networks", all(r["ok"] for r in rows), rows)


@dataclass
class WidthGap:
    """Simulation at one width against the kernel map (one stored point of the width study)."""

    beta: float
    width: int
    networks: int
    simulated: np.ndarray
    """Mean time-averaged rate per layer over the networks, then the deep-half average (depth + 1)."""
    simulated_se: np.ndarray
    kernel: np.ndarray
    """The kernel map's mean over its replicas, same layout."""
    kernel_se: np.ndarray
    rates: np.ndarray
    """The networks' time-averaged rates, ``(networks, depth)``."""

    @property
    def gap(self) -> np.ndarray:
        """Simulation minus kernel map."""
        return self.simulated - self.kernel

    @property
    def gap_se(self) -> np.ndarray:
        """Standard error of :attr:`gap` (networks and replicas independent)."""
        return np.hypot(self.simulated_se, self.kernel_se)


def _mean_se(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    x = np.column_stack([rows, deep_average(rows)])
    return x.mean(axis=0), x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])


def kernel_width_gaps(directory: str | Path) -> dict[tuple[float, int], WidthGap]:
    """The stored width study (``scripts/kernel_width_study.py``): one :class:`WidthGap` per (β, n) present."""
    folder = Path(directory)
    kernels = {}
    for path in sorted(folder.glob("kernel_beta*.json")):
        data = json.loads(path.read_text())
        kernels[data["beta"]] = _mean_se(np.asarray(data["time_averaged"]))
    gaps = {}
    for path in sorted(folder.glob("sim_beta*_n*.json")):
        data = json.loads(path.read_text())
        if data["beta"] not in kernels:
            continue
        rates = np.asarray(data["time_averaged"])
        mean, se = _mean_se(rates)
        gaps[data["beta"], data["width"]] = WidthGap(data["beta"], data["width"], data["networks"], mean, se,
                                                    *kernels[data["beta"]], rates)
    return dict(sorted(gaps.items()))


def gap_order(widths: Sequence[int], gaps: Sequence[float], errors: Sequence[float]) -> tuple[float, float]:
    r"""Least-squares slope of :math:`\log|g|` against :math:`\log n`, weighted by the relative errors
    (:math:`\sigma_{\log|g|} \approx \sigma_g/|g|`), and its standard error: the gap falls as
    :math:`n^{\text{slope}}` (−1 for 1/n, −1/2 for 1/√n). Needs three widths or more."""
    n, g, e = (np.asarray(a, dtype=np.float64) for a in (widths, gaps, errors))
    if n.size < 3:
        raise ValueError("the order of the gap needs at least three widths")
    weights = np.abs(g) / e
    design = np.column_stack([np.ones_like(n), np.log(n)]) * weights[:, None]
    coef, *_ = np.linalg.lstsq(design, np.log(np.abs(g)) * weights, rcond=None)
    residual = np.log(np.abs(g)) - coef[0] - coef[1] * np.log(n)
    dof = max(n.size - 2, 1)
    scale = max(float(np.sum((residual * weights) ** 2) / dof), 1.0)  # never below the errors' own size
    covariance = np.linalg.inv(design.T @ design) * scale
    return float(coef[1]), float(np.sqrt(covariance[1, 1]))


# --- the leak-aware scale over depth: does it hold the rate? ------------------------------------
@dataclass
class RateHeld:
    """Independent networks at one setting: each network's time-averaged rate (of its last layer, or of
    whatever statistic the check is about)."""

    label: str
    target: float
    """The rate the scale is meant to hold, :math:`\\rho`."""
    rates: np.ndarray
    """Shape ``(networks,)``."""


def rate_held_check(
    runs: Sequence[RateHeld], factor: float, silent: float | None, alpha: float = bands.ALPHA,
    comparisons: int | None = None,
) -> Check:
    r"""Claim, per run: the median network's rate m lies in :math:`[\rho/f, f\rho]`, f = ``factor``, and
    (unless ``silent`` is None) the probability s that a network's rate is 0 (silent) is at most ``silent``.

    Distribution-free bands on i.i.d. networks, Bonferroni over ``comparisons`` (by default this check's
    own: one or two per run): :func:`snnmath.bands.median_interval` for m,
    :func:`snnmath.bands.clopper_pearson` for s. A run is ``confirmed`` when all its intervals lie inside
    the claim (a false claim is confirmed with probability at most ``alpha``), ``rejected`` when one
    lies outside it (a true claim is rejected with probability at most ``alpha``), else ``undecided``;
    ``ok`` is ``confirmed``.
    """
    f = real_scalar("factor", factor, low=1.0, low_open=True)
    s_max = None if silent is None else real_scalar("silent", silent, low=0.0, high=1.0)
    parts = 1 if s_max is None else 2
    family = parts * len(runs) if comparisons is None else integer("comparisons", comparisons, low=parts * len(runs))
    rows = []
    for run in runs:
        rates = np.asarray(run.rates, dtype=np.float64)
        low, high = bands.median_interval(rates, alpha, family)
        silent_count = int(np.sum(rates == 0))
        silent_low, silent_high = bands.clopper_pearson(silent_count, rates.size, alpha, family)
        claim_low, claim_high = run.target / f, run.target * f
        silent_ok = s_max is None or silent_high <= s_max
        silent_out = s_max is not None and silent_low > s_max
        confirmed = bool(claim_low <= low and high <= claim_high and silent_ok)
        rejected = bool(high < claim_low or low > claim_high or silent_out)
        rows.append(dict(label=run.label, networks=rates.size, target=run.target, median=float(np.median(rates)),
                         low=float(low), high=float(high), claim_low=claim_low, claim_high=claim_high,
                         silent=silent_count / rates.size, silent_high=float(silent_high),
                         verdict="confirmed" if confirmed else "rejected" if rejected else "undecided",
                         ok=confirmed))
    silent_text = "" if s_max is None else f", at most {s_max:.0%} silent"
    return Check(f"median rate within a factor {f:g} of the target{silent_text}", all(r["ok"] for r in rows), rows)


def rate_held_power(
    off: RateHeld, networks: int, factor: float, comparisons: int, alpha: float = bands.ALPHA,
    confidence: float = bands.ALPHA,
) -> float:
    r"""Lower bound on the probability that :func:`rate_held_check`, run on ``networks`` fresh networks
    drawn like ``off``'s (a wrong gain), does not confirm the median claim: its power against that error.

    Confirming needs at most k networks below :math:`\rho/f` and at most k above :math:`f\rho` (k the
    order-statistic index of :func:`snnmath.bands.median_interval` for ``networks`` at
    ``alpha``/``comparisons``), so :math:`P(\text{confirm}) \le \min_\pm P(\mathrm{Bin}(N, p_\pm) \le k)`,
    :math:`p_-`, :math:`p_+` the probabilities of a rate below and above the band. Each p is replaced
    by its Clopper-Pearson lower bound from ``off``'s networks at ``confidence``, so the bound holds but
    for probability ``confidence``.
    """
    n = integer("networks", networks, low=1)
    f = real_scalar("factor", factor, low=1.0, low_open=True)
    k = bands.median_index(n, alpha, comparisons)
    rates = np.asarray(off.rates, dtype=np.float64)
    outside = np.array([np.sum(rates < off.target / f), np.sum(rates > off.target * f)])
    p_low, _ = bands.clopper_pearson(outside, rates.size, confidence, 2)
    return float(1 - np.min(scipy.stats.binom.cdf(k, n, p_low)))


def rate_held_study(
    directory: str | Path, statistic: str = "last",
) -> tuple[dict[tuple[float, int, float], RateHeld], dict[str, Any]]:
    """The stored verification of the leak-aware scale (``scripts/kernel_verification.py``): one
    :class:`RateHeld` per (β, T, gain factor) present, and the claim stated in the files. Each network's
    rate is its last layer's (``statistic="last"``) or the mean over its deeper half (``"deep"``,
    :func:`deep_average`), each layer's averaged over the window."""
    if statistic not in ("last", "deep"):
        raise ValueError(f"statistic must be 'last' or 'deep', got {statistic!r}")
    runs, claim = {}, {}
    for path in sorted(Path(directory).glob("beta*_steps*_gain*.json")):
        data = json.loads(path.read_text())
        label = f"β={data['beta']}, T={data['steps']}, gain ×{data['gain_factor']}"
        rates = np.asarray(data["rates"], dtype=np.float64)
        runs[data["beta"], data["steps"], data["gain_factor"]] = RateHeld(
            label, data["target"], rates[:, -1] if statistic == "last" else deep_average(rates))
        claim = data["claim"]
    return dict(sorted(runs.items())), claim


@dataclass
class LeakAwareVerification:
    """The stored verification of the leak-aware scale decided (:func:`leak_aware_verification`)."""

    claim: dict[str, Any]
    """The claim as the study's files state it, with the keys ``factor``, ``silent``, ``deep_factor`` and
    ``deep_betas``."""
    last: Check
    """Parts 1 and 2, the last layer's median and silent fraction, per setting (β, T) at the leak-aware gain."""
    deep: Check
    """Part 3, the median of the deeper half's rate, per setting whose β is in ``deep_betas``."""
    verdicts: dict[tuple[float, int], str]
    """The verdict on the whole claim per setting, ``confirmed`` when every part is, ``rejected`` when one
    is, else ``undecided``."""
    networks: int
    """Networks per setting at the leak-aware gain (the fewest, if a run is in progress)."""
    comparisons: int
    """The size of the Bonferroni family, every comparison of the three parts."""
    power: dict[tuple[float, int, float], float]
    """Per stored run at a wrong gain (β, T, factor), a lower bound on the probability that the whole check,
    run at the study's size on such networks, does not confirm: the largest of its parts' bounds
    (:func:`rate_held_power`), since the check confirms only when every part does."""


def leak_aware_verification(directory: str | Path) -> LeakAwareVerification:
    """Decide the claim of ``scripts/kernel_verification.py`` on its stored networks, with the power of the
    same check against the stored networks at gains 5 % off."""
    last, claim = rate_held_study(directory)
    deep, _ = rate_held_study(directory, "deep")
    settings = sorted((beta, steps) for beta, steps, factor in last if factor == 1.0)
    deep_settings = [key for key in settings if key[0] in claim.get("deep_betas", ())]
    comparisons = 2 * len(settings) + len(deep_settings)
    last_check = rate_held_check([last[key + (1.0,)] for key in settings], claim["factor"], claim["silent"],
                                 comparisons=comparisons)
    deep_factor = claim.get("deep_factor", claim["factor"])  # unused where no leak has part 3
    deep_check = rate_held_check([deep[key + (1.0,)] for key in deep_settings], deep_factor, None,
                                 comparisons=comparisons)
    parts = {key: [row["verdict"]] for key, row in zip(settings, last_check.rows, strict=True)}
    for key, row in zip(deep_settings, deep_check.rows, strict=True):
        parts[key].append(row["verdict"])
    verdicts = {key: "confirmed" if all(v == "confirmed" for v in found) else
                "rejected" if "rejected" in found else "undecided" for key, found in parts.items()}
    networks = min(last[key + (1.0,)].rates.size for key in settings)
    power: dict[tuple[float, int, float], float] = {}
    for run_key, off in last.items():
        if run_key[2] != 1.0:
            bounds = [rate_held_power(off, networks, claim["factor"], comparisons)]
            if run_key[:2] in deep_settings:
                bounds.append(rate_held_power(deep[run_key], networks, claim["deep_factor"], comparisons))
            power[run_key] = max(bounds)
    return LeakAwareVerification(claim, last_check, deep_check, verdicts, networks, comparisons, power)
