"""Statistical bands for comparing theory with simulation.

Every assert in the book compares a prediction with a simulated estimate inside a band
derived here, at a family-wise false-alarm probability ``alpha`` (default
:data:`ALPHA`): a correct theory fails a chapter's checks with probability at most
``alpha`` whatever the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.signal
import scipy.stats
from numpy.typing import ArrayLike, NDArray

from ._validate import integer, real_scalar

ALPHA = 1e-6
"""Default family-wise probability that a correct prediction is rejected."""


def _alpha(alpha: float) -> float:
    return real_scalar("alpha", alpha, low=0.0, high=1.0, low_open=True)


def z_value(alpha: float = ALPHA, comparisons: int = 1) -> float:
    """Two-sided normal quantile with a Bonferroni split of ``alpha`` over ``comparisons``."""
    m = integer("comparisons", comparisons, low=1)
    return float(scipy.stats.norm.isf(_alpha(alpha) / (2 * m)))


def clopper_pearson(
    successes: ArrayLike, trials: ArrayLike, alpha: float = ALPHA, comparisons: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Exact (Clopper–Pearson) binomial confidence interval, Bonferroni over ``comparisons``."""
    a = _alpha(alpha) / integer("comparisons", comparisons, low=1)
    k = np.asarray(successes, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    if np.any(k < 0) or np.any(k > n) or np.any(n < 1):
        raise ValueError("successes must lie in [0, trials] and trials must be >= 1")
    lo = np.where(k > 0, scipy.stats.beta.ppf(a / 2, k, n - k + 1), 0.0)
    hi = np.where(k < n, scipy.stats.beta.isf(a / 2, k + 1, n - k), 1.0)
    return lo, hi


def chi2_interval(dof: int, alpha: float = ALPHA, comparisons: int = 1) -> tuple[float, float]:
    """Two-sided χ² interval with ``dof`` degrees of freedom (``(0, 0)`` when dof = 0)."""
    d = integer("dof", dof, low=0)
    if d == 0:
        return 0.0, 0.0
    a = _alpha(alpha) / integer("comparisons", comparisons, low=1)
    return float(scipy.stats.chi2.ppf(a / 2, d)), float(scipy.stats.chi2.isf(a / 2, d))


def central_interval(pmf: ArrayLike, alpha: float) -> tuple[int, int]:
    """Smallest ``[lo, hi]`` of a pmf on 0..N leaving at most ``alpha/2`` mass on each side."""
    p = np.asarray(pmf, dtype=np.float64)
    a = _alpha(alpha)
    below = np.cumsum(p)  # P(K <= k)
    above = np.cumsum(p[::-1])[::-1]  # P(K >= k)
    lo = int(np.argmax(below > a / 2))  # first k with P(K <= k) > a/2, so P(K < lo) <= a/2
    hi = int(len(p) - 1 - np.argmax(above[::-1] > a / 2))
    return lo, hi


def bernstein_half_width(
    variance: ArrayLike, bound: ArrayLike, samples: int, alpha: float = ALPHA, comparisons: int = 1
) -> NDArray[np.float64]:
    r"""Half-width ε of Bernstein's inequality for the mean of i.i.d. X with known variance σ²
    and :math:`|X - \mu| \le b`:
    :math:`P(|\bar X - \mu| \ge \varepsilon) \le 2\exp\!\big(-R\varepsilon^2/(2\sigma^2 + 2b\varepsilon/3)\big)`,
    solved for ε at level ``alpha`` (Bonferroni over ``comparisons``). Exact, no normal approximation.
    """
    r = integer("samples", samples, low=1)
    log_term = np.log(2 * integer("comparisons", comparisons, low=1) / _alpha(alpha))
    var = np.asarray(variance, dtype=np.float64)
    b = np.asarray(bound, dtype=np.float64)
    linear = 2 * b * log_term / 3
    return (linear + np.sqrt(linear**2 + 8 * r * var * log_term)) / (2 * r)


def sum_pmf(pmf: ArrayLike, count: int) -> NDArray[np.float64]:
    r"""Law of the sum of ``count`` i.i.d. draws from ``pmf`` (on 0..N), on 0..count·N: the
    ``count``-fold convolution, by repeated squaring with FFT convolutions (rounding below
    1e-300 set to zero, renormalised)."""
    p = np.asarray(pmf, dtype=np.float64)
    if p.ndim != 1 or np.any(p < 0) or not np.isclose(p.sum(), 1.0):
        raise ValueError("pmf must be a 1-d array of non-negative probabilities summing to 1")
    remaining = integer("count", count, low=1)
    result, power = np.array([1.0]), p
    while remaining:
        if remaining & 1:
            result = _clean(scipy.signal.fftconvolve(result, power))
        remaining >>= 1
        if remaining:
            power = _clean(scipy.signal.fftconvolve(power, power))
    return result


def _clean(pmf: NDArray[np.float64]) -> NDArray[np.float64]:
    pmf = np.where(pmf > 1e-300, pmf, 0.0)
    return pmf / pmf.sum()


def poisson_binomial_pmf(probabilities: ArrayLike) -> NDArray[np.float64]:
    r"""Law of :math:`\sum_r B_r` for independent :math:`B_r \sim \mathrm{Bernoulli}(p_r)` on 0..R, exact:
    :math:`f_r(m) = (1-p_r) f_{r-1}(m) + p_r f_{r-1}(m-1)`, one Bernoulli at a time."""
    p = np.asarray(probabilities, dtype=np.float64)
    if p.ndim != 1 or np.any(~np.isfinite(p)) or np.any((p < 0) | (p > 1)):
        raise ValueError("probabilities must be a 1-d array of numbers in [0, 1]")
    pmf = np.zeros(p.size + 1)
    pmf[0] = 1.0
    for count, prob in enumerate(p, start=1):
        pmf[1 : count + 1] = (1 - prob) * pmf[1 : count + 1] + prob * pmf[:count]
        pmf[0] *= 1 - prob
    return pmf


def t_band(
    samples: ArrayLike, alpha: float = ALPHA, comparisons: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Mean of i.i.d. replicate values along axis 0 and its Student-t half-width
    :math:`t_{R-1}\,s/\sqrt R`, Bonferroni over ``comparisons``.

    Exact for normal replicates whatever their variance (a z band would assume the spread
    known); for averages of many terms it is the CLT approximation.
    Columns (axis 1 onwards) are separate comparisons.
    """
    x = np.asarray(samples, dtype=np.float64)
    if x.ndim < 1 or x.shape[0] < 2 or not np.all(np.isfinite(x)):
        raise ValueError("samples must be finite, with at least 2 replicate values along axis 0")
    a = _alpha(alpha) / integer("comparisons", comparisons, low=1)
    half = scipy.stats.t.isf(a / 2, x.shape[0] - 1) * x.std(axis=0, ddof=1) / np.sqrt(x.shape[0])
    return x.mean(axis=0), np.asarray(half, dtype=np.float64)


def median_interval(
    samples: ArrayLike, alpha: float = ALPHA, comparisons: int = 1
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    r"""Distribution-free confidence interval :math:`[X_{(k)}, X_{(R+1-k)}]` for the median of
    R i.i.d. replicates along axis 0 (columns are separate comparisons), Bonferroni over
    ``comparisons``: k is the largest integer with :math:`P(\mathrm{Bin}(R, \tfrac12) \le k-1) \le a/2`,
    :math:`a = \alpha/\text{comparisons}`.

    Exact for any law, atoms included: for a median m (:math:`P(X \le m) \ge \tfrac12 \le P(X \ge m)`)
    the number of replicates :math:`\le m` dominates :math:`\mathrm{Bin}(R, \tfrac12)`, so
    :math:`P(X_{(k)} > m) \le P(\mathrm{Bin}(R, \tfrac12) \le k-1) \le a/2`, and likewise above.
    Needs :math:`2^{1-R} \le a` (R = 21 at a = 1e-6).
    """
    x = np.sort(np.asarray(samples, dtype=np.float64), axis=0)
    if x.ndim < 1 or not np.all(np.isfinite(x)):
        raise ValueError("samples must be a finite array with replicates along axis 0")
    k = median_index(x.shape[0], alpha, comparisons)
    if k < 0:
        need = int(np.ceil(1 - np.log2(_alpha(alpha) / comparisons)))
        raise ValueError(f"samples must hold at least {need} replicates along axis 0 for alpha/comparisons = "
                         f"{_alpha(alpha) / comparisons:g}, got {x.shape[0]}")
    return x[k], x[x.shape[0] - 1 - k]


def median_index(replicates: int, alpha: float = ALPHA, comparisons: int = 1) -> int:
    r"""The largest k with :math:`P(\mathrm{Bin}(R, \tfrac12) \le k) \le a/2`, :math:`a = \alpha/\text{comparisons}`
    (−1 when there is none): :func:`median_interval` is :math:`[X_{(k+1)}, X_{(R-k)}]` (1-based)."""
    r = integer("replicates", replicates, low=1)
    a = _alpha(alpha) / integer("comparisons", comparisons, low=1)
    k = int(scipy.stats.binom.ppf(a / 2, r, 0.5))  # smallest j with P(Bin <= j) >= a/2
    return k - 1 if scipy.stats.binom.cdf(k, r, 0.5) > a / 2 else k


@dataclass(frozen=True)
class SignTest:
    """The outcome of :func:`sign_test`."""

    wins: int
    """Pairs in which the first value is larger."""
    losses: int
    """Pairs in which the second value is larger."""
    ties: int
    """Pairs with equal values (left out of the test)."""
    p_value: float
    """One-sided exact p-value, :math:`P(\\mathrm{Bin}(m, \\tfrac12) \\ge \\text{wins})` with m untied pairs."""
    smallest_p: float
    """The smallest p-value these m untied pairs can give, :math:`2^{-m}` (1 when m = 0)."""


def sign_test(first: ArrayLike, second: ArrayLike) -> SignTest:
    r"""Exact one-sided sign test that ``first`` tends to exceed ``second``, paired element by element.

    Assumes only that the pairs are independent and, under the null hypothesis, that each
    untied pair is as likely to go one way as the other; ties are dropped. With m untied pairs
    and W wins, :math:`p = P(\mathrm{Bin}(m, \tfrac12) \ge W)`, at least :math:`2^{-m}`.
    """
    a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        raise ValueError(f"first and second must be finite 1-d arrays of one length, got shapes {a.shape}, {b.shape}")
    wins, losses = int(np.sum(a > b)), int(np.sum(a < b))
    untied = wins + losses
    p_value = float(scipy.stats.binom.sf(wins - 1, untied, 0.5)) if untied else 1.0
    return SignTest(wins, losses, len(a) - untied, p_value, 0.5**untied if untied else 1.0)
