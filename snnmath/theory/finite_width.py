r"""The first time step at finite width, exactly: the active-count Markov chain.

At t = 0 with Gaussian weights a layer whose input has K active spikes gives every neuron
:math:`u \sim \mathcal N(0, \mathrm{Var}[w]\,K)`, independently across neurons, so
:math:`K_l \mid K_{l-1} = k \sim \mathrm{Binomial}(n, Q(\theta/\sqrt{c k/n}))` with K = 0
absorbing. From it: the law of K over depth, the probability of silence, the exact band of
the per-sample mean square, and the expected depth to silence.
"""

from __future__ import annotations

import numpy as np
import scipy.integrate
import scipy.special
import scipy.stats
from scipy.optimize import brentq

from .._validate import integer, real_scalar
from ._common import Array
from .first_step import gain_or_proposed, spike_probability


def transition_matrix(n: int, theta: float, gain: float | None = None) -> Array:
    r"""P[k, k'] = P(K_l = k' | K_{l-1} = k) = Binomial(n, Q(θ/√(k c/n))) at k'.

    Gaussian weights with Var[w] = c/n; K = 0 is absorbing. ``gain`` defaults to the
    proposed scale at unit target variance, c = 1/Q(θ).
    """
    width = integer("n", n, low=1)
    th = real_scalar("theta", theta, low=0.0)
    c = gain_or_proposed(th, gain)
    active = np.arange(width + 1)
    return _binomial_pmf(width, spike_probability(th, active * (c / width)))


def _binomial_pmf(n: int, p: Array) -> Array:
    """Rows ``Binomial(n, p[i]).pmf(0..n)`` through log-gamma (much faster than scipy.stats.binom),
    each renormalised to sum to one (the log-gamma route leaves ~1e-12 rounding)."""
    k = np.arange(n + 1)
    log_choose = scipy.special.gammaln(n + 1) - scipy.special.gammaln(k + 1) - scipy.special.gammaln(n - k + 1)
    p = p[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        log_pmf = log_choose + scipy.special.xlogy(k, p) + scipy.special.xlog1py(n - k, -p)
    pmf = np.exp(log_pmf)
    return pmf / pmf.sum(axis=1, keepdims=True)


def active_count_distribution(
    n: int, theta: float, depth: int, gain: float | None = None, input_variance: float = 1.0
) -> Array:
    r"""Distribution of the number of active neurons in layers 0..depth, shape (depth+1, n+1).

    Layer 0 is driven by i.i.d. :math:`\mathcal N(0, V_0)` currents, so
    :math:`K_0 \sim \mathrm{Binomial}(n, Q(\theta/\sqrt{V_0}))`; deeper layers follow
    :func:`transition_matrix`.
    """
    width = integer("n", n, low=1)
    th = real_scalar("theta", theta, low=0.0)
    layers = integer("depth", depth, low=0)
    v0 = real_scalar("input_variance", input_variance, low=0.0, low_open=True)
    step = transition_matrix(width, th, gain)
    out = np.empty((layers + 1, width + 1))
    out[0] = _binomial_pmf(width, np.atleast_1d(spike_probability(th, v0)))[0]
    for layer in range(1, layers + 1):
        out[layer] = out[layer - 1] @ step
    return out


def silence_probability(n: int, theta: float, depth: int, gain: float | None = None) -> float:
    """Probability that a sample has no spike in layer ``depth`` at t = 0 (layer 0 has unit variance)."""
    return float(active_count_distribution(n, theta, depth, gain)[-1, 0])


def mean_square_interval(
    n: int, theta: float, depth: int, alpha: float, gain: float | None = None, input_variance: float = 1.0
) -> tuple[Array, Array]:
    r"""Acceptance region :math:`\{0\} \cup [\mathrm{low}_l, \mathrm{high}_l]` of one sample's
    mean square potential :math:`\hat V_l = \frac1n\sum_i u_{l,i}^2` in layers 0..depth at
    t = 0, holding with probability at least ``1 - alpha``: a silent layer (exactly 0) is
    allowed as often as the chain predicts it, a spiking one must lie in the interval.

    Exact for Gaussian weights: :math:`\hat V_0 = V_0\,\chi^2_n/n` and, given
    :math:`K_{l-1} = k` active inputs, :math:`\hat V_l = \sigma_w^2 k\,\chi^2_n/n`, mixed
    over the chain's distribution of :math:`K_{l-1}` (k = 0 gives exactly 0).
    """
    width = integer("n", n, low=1)
    th = real_scalar("theta", theta, low=0.0)
    a = real_scalar("alpha", alpha, low=0.0, high=1.0, low_open=True)
    c = gain_or_proposed(th, gain)
    counts = active_count_distribution(width, th, depth, gain=c, input_variance=input_variance)
    active = np.arange(width + 1)
    lows, highs = np.empty(len(counts)), np.empty(len(counts))
    for layer in range(len(counts)):
        if layer == 0:
            scales, weights = np.array([input_variance]), np.array([1.0])
        else:
            scales, weights = active * (c / width), counts[layer - 1]
        lows[layer], highs[layer] = _mixture_interval(scales, weights, width, a)
    return lows, highs


def _mixture_interval(scales: Array, weights: Array, dof: int, alpha: float) -> tuple[float, float]:
    """``[lo, hi]`` with P(0 < X < lo) = alpha/2 = P(X > hi), X = scales[k]·χ²_dof/dof w.p. weights[k]."""
    keep = weights > 0
    scales, weights = scales[keep], weights[keep]

    def cdf(v: float) -> float:
        with np.errstate(divide="ignore"):
            z = np.where(scales > 0, dof * v / np.where(scales > 0, scales, 1.0), np.inf)
        return float(np.sum(weights * scipy.stats.chi2.cdf(z, dof)))

    top = float(scales.max()) * scipy.stats.chi2.isf(alpha / 4, dof) / dof + 1.0

    def quantile(q: float) -> float:
        return brentq(lambda v: cdf(v) - q, 0.0, top, xtol=1e-12, rtol=1e-10)

    silent = cdf(0.0)
    if silent >= 1 - alpha / 2:  # (almost) surely silent
        return 0.0, 0.0
    return quantile(silent + alpha / 2), quantile(1 - alpha / 2)


def expected_depth_to_silence(
    n: int, theta: float, gain: float | None = None, input_variance: float = 1.0, max_layers: int = 100_000
) -> tuple[float, float]:
    r"""Expected index of the first silent layer at t = 0, and the per-layer hazard of silence.

    :math:`E[\tau] = \sum_{l \ge 0} P(K_l > 0)`. The chain is iterated until its law
    conditioned on survival settles into the quasi-stationary distribution q (relative
    change below 1e-13); from then on survival decays geometrically with hazard
    :math:`h = \sum_k q_k P(k \to 0)`, computed from the binomial probabilities of
    silence directly (accurate even where h is far below float64 epsilon), so the tail
    of the sum is :math:`P(K_L > 0)/h`. Returns ``(E[τ], log h)``; E[τ] is ``inf`` only
    when it exceeds the float64 range (the natural log of the hazard stays finite, and
    :func:`log_expected_depth_to_silence` gives the log of E[τ] itself).
    """
    head, tail, log_hazard = _depth_to_silence(n, theta, gain, input_variance, max_layers)
    if tail == 0:
        return head, log_hazard
    with np.errstate(over="ignore"):
        return float(head + tail * np.exp(-log_hazard)), log_hazard


def log_expected_depth_to_silence(
    n: int, theta: float, gain: float | None = None, input_variance: float = 1.0, max_layers: int = 100_000
) -> float:
    r"""Natural log of the expected depth to silence :math:`E[\tau]` of
    :func:`expected_depth_to_silence`, finite also where E[τ] itself overflows float64:
    :math:`\log E[\tau] = \log\big(S + P(K_L > 0)/h\big)` summed in log space, S the
    sum over the layers before the geometric tail (``-inf`` when E[τ] = 0)."""
    head, tail, log_hazard = _depth_to_silence(n, theta, gain, input_variance, max_layers)
    with np.errstate(divide="ignore"):
        if tail == 0:
            return float(np.log(head))
        return float(np.logaddexp(np.log(head), np.log(tail) - log_hazard))


def _depth_to_silence(
    n: int, theta: float, gain: float | None, input_variance: float, max_layers: int
) -> tuple[float, float, float]:
    """``(S, P(K_L > 0), log h)`` with E[τ] = S + P(K_L > 0)/h, L the layer from which the law
    conditioned on survival is quasi-stationary; ``(E[τ], 0, 0)`` when the chain is silent first."""
    width = integer("n", n, low=1)
    th = real_scalar("theta", theta, low=0.0)
    layers = integer("max_layers", max_layers, low=1)
    step_gain = gain_or_proposed(th, gain)
    step = transition_matrix(width, th, step_gain)
    dist = active_count_distribution(width, th, 0, gain, input_variance)[0]
    expected = 0.0
    conditional = np.zeros(width + 1)
    for _ in range(layers):
        alive = float(dist[1:].sum())
        if alive <= 0:
            return expected, 0.0, 0.0
        expected += alive
        previous, conditional = conditional, np.concatenate([[0.0], dist[1:] / alive])
        if np.abs(conditional - previous).sum() < 1e-13:
            p = spike_probability(th, np.arange(1, width + 1) * (step_gain / width))
            log_silence = scipy.stats.binom.logpmf(0, width, p)  # log P(k -> 0), no underflow
            log_hazard = float(scipy.special.logsumexp(log_silence, b=conditional[1:]))
            return expected - alive, alive, log_hazard
        dist = dist @ step
    raise ValueError(f"max_layers={layers} was too few for the chain to reach its quasi-stationary law")


def mean_active_rate(
    n: int, theta: float, depth: int, gain: float | None = None, input_variance: float = 1.0
) -> Array:
    r"""The chain's mean firing rate :math:`E[K_l]/n` in layers 0..depth at t = 0 (the law of
    :func:`active_count_distribution`); its wide limit is the mean-field rate
    :math:`Q(\theta/\sqrt{V_l})`."""
    width = integer("n", n, low=1)
    counts = active_count_distribution(width, theta, depth, gain, input_variance)
    return np.asarray(counts @ (np.arange(width + 1) / width), dtype=np.float64)


def required_width(
    theta: float, depth: int, keep: float = 0.99, gain: float | None = None, input_variance: float = 1.0,
    largest: int = 4096,
) -> int | None:
    r"""Smallest width n at which a network of ``depth`` layers (layers 0 … depth−1) keeps at least
    ``keep`` of its samples active in its last layer at t = 0, :math:`P(K_{depth-1} > 0) \ge` keep,
    from the exact chain (doubling, then bisection over n, the survival rising with n); None above ``largest``."""
    th = real_scalar("theta", theta, low=0.0)
    layers = integer("depth", depth, low=1)
    share = real_scalar("keep", keep, low=0.0, high=1.0, low_open=True)

    def enough(width: int) -> bool:
        return 1 - active_count_distribution(width, th, layers - 1, gain, input_variance)[-1, 0] >= share

    most = integer("largest", largest, low=1)
    low, high = 0, 1  # enough(0) is False by convention (no neuron, no spike)
    while not enough(high):  # double up to the first width that is enough
        if high >= most:
            return None
        low, high = high, min(2 * high, most)
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high
