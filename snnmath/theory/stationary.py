r"""Stationary firing rate of one leaky, resetting neuron driven by i.i.d. Gaussian current.

The neuron (snnTorch ``Leaky`` with the delayed subtractive reset):

.. math::
    u[t] = \beta\,u[t-1] + I[t] - \theta\,s[t-1], \qquad s[t] = H(u[t] - \theta)
    \ (\text{strict}),\qquad u[-1] = s[-1] = 0,\qquad I[t] \overset{iid}{\sim} \mathcal N(\mu, \sigma^2),

with :math:`\beta\in[0,1]` and :math:`\theta>0`. :func:`snnmath.theory.stationary_rate` returns the long-run
fraction of steps with :math:`s = 1`; :func:`snnmath.simulate.simulate_neurons` simulates the neuron directly.

Method (β < 1, σ > 0)
---------------------
Since :math:`s[t-1] = H(u[t-1]-\theta)`, the chain's state is :math:`v = u[t-1]` alone and

.. math::
    u = m(v) + \sigma Z,\qquad m(v) = \beta v - \theta\,\mathbf 1[v > \theta] + \mu .

It is a Harris-ergodic Markov chain (Gaussian kernel, contracting drift), so the long-run
fraction of spikes equals, for every start, the stationary probability
:math:`r = P_\pi(u > \theta) = \int f(v)\,Q\big((\theta - m(v))/\sigma\big)\,dv`, where the
stationary density solves :math:`f(u) = \int f(v)\,\varphi_\sigma(u - m(v))\,dv`.

* **Smoothness.** f is a Gaussian mixture of width σ, hence analytic; the integrand
  :math:`v \mapsto f(v)\varphi_\sigma(u - m(v))` is analytic on each side of θ and jumps at θ
  (the reset). So the equation is discretised by a **Nyström method with composite
  Gauss–Legendre quadrature** (``PANEL``-point panels, about ``nodes_per_std`` nodes per σ) on
  :math:`[\mathrm{lo}, \theta]` and :math:`[\theta, \mathrm{hi}]`, with a panel edge exactly at
  θ. The error then falls spectrally with the number of nodes (piecewise-constant cells with
  CDF differences are only O(h²) because of the jump; midpoint-in-v, exact-in-u cells have
  the same order). At the default 2.5 nodes per σ the change on doubling the nodes is
  ≲ 2e-9 (β ≤ 0.99, σ ≥ 0.05θ; ``tests/test_stationary.py`` asserts < 1e-8,
  ``benchmarks/bench_stationary.py`` reports it); at 1.5 nodes per σ it is ~1e-6.
* **Range, chosen per parameter pair.** With :math:`X = \sum_k \beta^k I[t-k]`
  (:math:`\mathcal N(\mu/(1-\beta), \sigma_X^2)`, :math:`\sigma_X^2 = \sigma^2/(1-\beta^2)`) the
  reset only subtracts, so :math:`X - \theta/(1-\beta) \le u \le X`. Two sharper comparison
  processes follow by induction from the map: :math:`u \le Z`,
  :math:`Z[t] = I[t] + \max(\beta\theta, \beta Z[t-1] - \theta)`, and :math:`u \ge Y`,
  :math:`Y[t] = I[t] + \min(\beta Y[t-1], -(1-\beta)\theta)`. Unrolled, each is an
  extremum of Gaussians with standard deviation ≤ σ_X whose means are affine in
  :math:`\beta^j`, so the bulk lies in

  .. math::
     \mathrm{lo} = \max\!\Big(\min\big(\mu - (1-\beta)\theta, \tfrac{\mu}{1-\beta}\big),
     \tfrac{\mu-\theta}{1-\beta}\Big) - k\sigma_X,\quad
     \mathrm{hi} = \min\!\Big(\max\big(\mu + \beta\theta, \tfrac{\mu-\theta}{1-\beta}\big),
     \tfrac{\mu}{1-\beta}\Big) + k\sigma_X

  with ``k = TAIL_SDS`` (= 9; mass outside ≲ 1e-15); when hi ≤ θ (no resets) lo is raised to
  :math:`\mu/(1-\beta) - k\sigma_X`, when lo > θ (a spike every step) hi is lowered to
  :math:`(\mu-\theta)/(1-\beta) + k\sigma_X`. :math:`[\mathrm{lo}, \mathrm{hi}]` is
  invariant under the noiseless map, so no column of the kernel falls outside the grid. The
  grid adapts: its length is about θ + 2kσ_X in the spiking regime and 2kσ_X + (1-β)θ when
  silent, so the number of nodes is ~ ``nodes_per_std``·(that length)/σ.
* **Stationary vector.** With :math:`g_i = w_i f(v_i)` the discrete chain is
  :math:`g = P g`, :math:`P_{ij} = w_i\varphi_\sigma(v_i - m(v_j))`. Columns are normalised
  to sum to one (this only moves the ≲ 1e-15 truncated mass), then
  :math:`(I - P)g = 0,\ \sum g = 1` is solved as one linear system (first row replaced by
  ones): a direct solve is immune to slow mixing (near-periodic dynamics at small σ, which
  would stall power iteration). Finally :math:`r = \sum_j g_j\,Q((\theta - m(v_j))/\sigma)`,
  accurate in relative terms even for tiny rates.
* **Speed.** Parameter pairs are grouped by their number of nodes; each group's matrices are
  built with numpy broadcasting and solved with numpy's batched LAPACK ``np.linalg.solve``,
  in 8 MB chunks, single-threaded (on a shared 2-core machine this beat 2 torch threads; OpenBLAS's
  own threads, left at 2, made the small solves up to 25× slower on a loaded machine, so the
  solve runs under a ``threadpoolctl`` limit of one thread).
  Not ``torch.linalg.solve``: in torch 2.13.0+cpu its batched float64 solve with 2 threads
  and n ≳ 128 returned wrong solutions (errors up to 2e-4 at condition number ~200), or
  raised MKL ``DLASWP`` errors and stalled for minutes. Groups with more than
  ``DENSE_MAX`` nodes (σ tiny against θ or β very close to 1) use a banded sparse LU
  (scipy) per pair; above ``NODES_MAX`` nodes a ``ValueError`` is raised.

Edge cases (exact)
------------------
* **β = 1** (perfect integrator with subtractive reset). There is no stationary distribution,
  but the long-run rate exists almost surely and is :math:`\min(1, \max(\mu, 0)/\theta)` for
  every σ ≥ 0. Write :math:`S_t = \sum_{k\le t} I[k]`, :math:`N_t` = spikes before t; then
  :math:`u[t] = S_t - \theta N_t`. A spike at t needs :math:`S_t > \theta(N_t + 1)`, so
  :math:`N_t \le \max(0, \max_{k<t} S_k)/\theta`, hence :math:`\limsup N_t/t \le \max(\mu,0)/\theta`
  (SLLN). For μ < 0 this gives finitely many spikes (rate 0); for **μ = 0** it gives rate 0
  too (the running maximum of a driftless walk is O(√(t log log t))) — the fraction of time
  that the *free* walk spends above θ follows the arcsine law, but every spike needs a new
  maximum of S, so :math:`N_t/t\to0`; the approach is slow, :math:`E N_t \le \sigma\sqrt{2t/\pi}/\theta`.
  For 0 < μ < θ, u has drift μ > 0 below θ and μ - θ < 0 above it, so it is positive
  recurrent, :math:`u[t]/t\to0` and :math:`N_t/t \to \mu/\theta`. For μ > θ,
  :math:`u[t] \ge S_t - \theta t \to \infty`: eventually a spike every step. For μ = θ the
  mirror argument bounds the silent steps, :math:`D_t \le 1 + \max_{k<t}(\theta k - S_k)^+/\theta
  = O(\sqrt{t\log\log t})`: rate 1.
  (σ = 0 follows from the same identities: rate 0 for μ ≤ 0, μ/θ below θ, 1 above.)
* **σ = 0, β < 1** (deterministic map :math:`v \mapsto m(v)`, a piecewise contraction whose
  spike sequence is eventually periodic for all but exceptional μ). If
  :math:`\mu \le (1-\beta)\theta` (checked in exact rational arithmetic) u stays below
  :math:`\mu/(1-\beta) \le \theta` and the rate is 0. Otherwise the orbit from u = 0 is
  iterated in float64 until the state repeats exactly (checkpoints at powers of two), and the
  rate is spikes per period, p/q. It is certified exact: every step's rounding errors are
  computed exactly (TwoSum, Dekker's TwoProduct) and accumulated into a bound
  :math:`e_t = \beta e_{t-1} + |\text{errors}_t|` on :math:`|u_\mathrm{exact} - u_\mathrm{float}|`, valid while both
  orbits make the same spike decisions; every iterate must be farther than :math:`e_t` from θ
  (or :math:`e_t = 0`: the float orbit is exact so far, as when u[0] = μ = θ). Then the exact
  orbit has the same, eventually periodic, spike sequence. If the margin fails (an orbit
  through θ within rounding, e.g. μ = 0.1, β = 0.9, θ = 1, where μ exceeds (1-β)θ by
  3e-17 in binary) or no period appears within ``DETERMINISTIC_STEPS`` steps, a
  ``ValueError`` says so instead of returning a number.
* **β = 0** needs nothing special (u = I - θ s[t-1], a two-state chain); the general method
  reproduces its closed form a/(1 - b + a), a = Q((θ-μ)/σ), b = Q((2θ-μ)/σ), to ≲ 1e-10.
"""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import scipy.sparse
import scipy.sparse.linalg
import scipy.special
from numpy.typing import ArrayLike, NDArray
from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

from .._validate import real_array, real_scalar

Array = NDArray[np.float64]

PANEL = 8
"""Gauss–Legendre nodes per panel."""
NODES_PER_STD = 2.5
"""Nodes per standard deviation σ of the input current (the default quadrature density)."""
TAIL_SDS = 9.0
"""Half-widths of the grid beyond the bulk, in units of the AR(1) standard deviation σ_X."""
DENSE_MAX = 640
"""Largest node count solved as a batched dense system; above it a sparse LU per pair."""
NODES_MAX = 200_000
"""Largest node count attempted (σ tiny against θ, or β extremely close to 1)."""
CHUNK_ENTRIES = 1_000_000
"""Number of matrix entries per batched chunk (8 MB of float64, which stays in cache and beats larger chunks)."""
DETERMINISTIC_STEPS = 1 << 20
"""Most steps iterated for σ = 0 before giving up on finding the period."""

_GL_X, _GL_W = np.polynomial.legendre.leggauss(PANEL)
_BLAS = ThreadpoolController()  # numpy's OpenBLAS, found once (a scan per call costs ~10 ms)


def _q(x: Array) -> Array:
    """Normal upper tail Q(x) = P(Z > x)."""
    return 0.5 * scipy.special.erfc(np.asarray(x) / math.sqrt(2.0))


def stationary_rate(
    mean: ArrayLike,
    std: ArrayLike,
    beta: ArrayLike,
    theta: ArrayLike,
    *,
    nodes_per_std: float = NODES_PER_STD,
) -> Array:
    r"""Long-run probability per step that the neuron spikes, for input :math:`\mathcal N(\mu,\sigma^2)`.

    ``mean``, ``std``, ``beta`` and ``theta`` broadcast against each other; the result has
    their broadcast shape (a 0-d array for scalars). See the module docstring for the method,
    its accuracy (absolute error ≲ 1e-8 at the default ``nodes_per_std``) and the exact
    treatment of β = 1 and σ = 0.

    Raises ``ValueError`` for invalid parameters (the message starts with the parameter's
    name), and where no exact long-run rate can be certified (σ = 0 orbits that touch θ
    within float rounding, or that have no short period).
    """
    mu = real_array("mean", mean)
    sd = real_array("std", std, low=0.0)
    b = real_array("beta", beta, low=0.0, high=1.0)
    th = real_array("theta", theta, low=0.0, low_open=True)
    density = real_scalar("nodes_per_std", nodes_per_std, low=0.0, low_open=True)
    mu, sd, b, th = np.broadcast_arrays(mu, sd, b, th)
    shape = mu.shape
    mu, sd, b, th = (np.ascontiguousarray(a, dtype=np.float64).ravel() for a in (mu, sd, b, th))
    out = np.full(mu.shape, np.nan)

    integrator = b == 1.0
    out[integrator] = np.clip(mu[integrator] / th[integrator], 0.0, 1.0)
    deterministic = ~integrator & (sd == 0.0)
    if deterministic.any():
        out[deterministic] = _deterministic_rate(mu[deterministic], b[deterministic], th[deterministic])
    noisy = ~integrator & ~deterministic
    if noisy.any():
        out[noisy] = _nystrom_rate(mu[noisy], sd[noisy], b[noisy], th[noisy], density)
    return out.reshape(shape)


# --- β < 1, σ > 0: Nyström discretisation ----------------------------------------------
def _bulk(mu: Array, sd: Array, b: Array, th: Array) -> tuple[Array, Array]:
    """The interval [lo, hi] that holds the stationary u up to ≲ 1e-15 (module docstring)."""
    one_minus = 1.0 - b
    sd_x = sd / np.sqrt(one_minus * (1.0 + b))
    free = mu / one_minus  # mean of X
    reset_all = (mu - th) / one_minus  # mean of X - θ/(1-β)
    lo = np.maximum(np.minimum(mu - one_minus * th, free), reset_all) - TAIL_SDS * sd_x
    hi = np.minimum(np.maximum(mu + b * th, reset_all), free) + TAIL_SDS * sd_x
    # never above θ: no resets, u is the AR(1) X; always above θ: u is X - θ/(1-β)
    lo = np.where(hi <= th, np.maximum(lo, free - TAIL_SDS * sd_x), lo)
    hi = np.where(lo > th, np.minimum(hi, reset_all + TAIL_SDS * sd_x), hi)
    return lo, hi


def _panels(mu: Array, sd: Array, b: Array, th: Array, density: float) -> tuple[Array, ...]:
    """Grid bounds, split point and panel counts left/right of the split for each pair.

    Raises ``ValueError`` where the grid would exceed ``NODES_MAX`` nodes, or where its node
    spacing would fall below 1e-9 of the magnitudes involved (σ negligible in float64).
    """
    lo, hi = _bulk(mu, sd, b, th)
    split = np.clip(th, lo, hi)
    width = PANEL * sd / density  # target panel width
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        left = np.where(split - lo > 0, np.maximum(np.ceil((split - lo) / width), 1.0), 0.0)
        right = np.where(hi - split > 0, np.maximum(np.ceil((hi - split) / width), 1.0), 0.0)
        nodes = PANEL * (left + right)
        scale = np.maximum(np.maximum(np.abs(lo), np.abs(hi)), th)
        unresolved = ~(sd / density >= 1e-9 * scale)
        too_many = ~(nodes <= NODES_MAX)
    bad = unresolved | too_many
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        need = f"would need {nodes[i]:.3g} grid nodes (limit {NODES_MAX})" if too_many[i] else (
            "is below float64 resolution at this scale"
        )
        raise ValueError(
            f"std is too small for the grid (or beta too close to 1): mean={float(mu[i])!r}, "
            f"std={float(sd[i])!r}, beta={float(b[i])!r}, theta={float(th[i])!r} {need}; "
            "std = 0 gives the noiseless limit"
        )
    return lo, hi, split, left.astype(np.int64), right.astype(np.int64)


def _nystrom_rate(mu: Array, sd: Array, b: Array, th: Array, density: float) -> Array:
    lo, hi, split, left, right = _panels(mu, sd, b, th, density)
    panels = left + right
    out = np.empty(mu.shape)
    for k in np.unique(panels):
        idx = np.flatnonzero(panels == k)
        n = PANEL * int(k)
        args = (mu[idx], sd[idx], b[idx], th[idx], lo[idx], hi[idx], split[idx], left[idx], int(k))
        if n <= DENSE_MAX:
            out[idx] = _dense_group(*args)
        else:
            out[idx] = _sparse_group(*args)
    bad = ~(np.abs(out - 0.5) <= 0.5 + 1e-9)  # NaN, or outside [0, 1] beyond rounding
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise RuntimeError(
            f"stationary_rate: the discretised chain gave rate {float(out[i])!r} for mean={float(mu[i])!r}, "
            f"std={float(sd[i])!r}, beta={float(b[i])!r}, theta={float(th[i])!r} (singular or ill-conditioned "
            "system); please report"
        )
    return np.clip(out, 0.0, 1.0)


def _nodes(lo: Array, hi: Array, split: Array, left: Array, k: int) -> tuple[Array, Array]:
    """Gauss–Legendre nodes and weights, shape (B, PANEL·k): ``left`` panels on [lo, split],
    the others on [split, hi]."""
    j = np.arange(k)[None, :]
    nl = left[:, None]
    nr = k - nl
    on_left = j < nl
    wl = (split - lo)[:, None] / np.maximum(nl, 1)
    wr = (hi - split)[:, None] / np.maximum(nr, 1)
    start = np.where(on_left, lo[:, None] + j * wl, split[:, None] + (j - nl) * wr)
    h = np.where(on_left, wl, wr)
    v = start[:, :, None] + h[:, :, None] * (0.5 * (_GL_X + 1.0))
    w = h[:, :, None] * (0.5 * _GL_W)
    return v.reshape(len(lo), -1), w.reshape(len(lo), -1)


def _drift(v: Array, mu: Array, b: Array, th: Array) -> Array:
    """Noiseless image m(v) = βv - θ·1[v > θ] + μ, per row."""
    return b[:, None] * v - th[:, None] * (v > th[:, None]) + mu[:, None]


def _dense_group(
    mu: Array, sd: Array, b: Array, th: Array, lo: Array, hi: Array, split: Array, left: Array, k: int
) -> Array:
    """Rates for pairs that share the node count PANEL·k: batched dense solves."""
    n = PANEL * k
    chunk = max(1, CHUNK_ENTRIES // (n * n))
    out = np.empty(len(mu))
    e0 = np.zeros((n, 1))
    e0[0] = 1.0
    for start in range(0, len(mu), chunk):
        s = slice(start, start + chunk)
        v_np, w_np = _nodes(lo[s], hi[s], split[s], left[s], k)
        m_np = _drift(v_np, mu[s], b[s], th[s])
        # P[b, i, j] ∝ w_i exp(-((v_i - m_j)/σ)²/2), columns normalised to one.
        p = v_np[:, :, None] - m_np[:, None, :]
        p *= (1.0 / sd[s])[:, None, None]
        np.square(p, out=p)
        p *= -0.5
        np.exp(p, out=p)
        p *= w_np[:, :, None]
        p /= p.sum(axis=1, keepdims=True)
        np.negative(p, out=p)
        p[:, np.arange(n), np.arange(n)] += 1.0
        p[:, 0, :] = 1.0
        # numpy's LAPACK, not torch.linalg.solve, on one BLAS thread: see "Speed" in the module docstring
        with _BLAS.limit(limits=1, user_api="blas"):
            g = np.linalg.solve(p, e0)[..., 0]
        tail = _q((th[s][:, None] - m_np) / sd[s][:, None])
        out[s] = np.einsum("ij,ij->i", g, tail)
    return out


def _sparse_group(
    mu: Array, sd: Array, b: Array, th: Array, lo: Array, hi: Array, split: Array, left: Array, k: int
) -> Array:
    """Rates for large grids, one sparse LU per pair (the kernel is negligible beyond 40σ)."""
    n = PANEL * k
    out = np.empty(len(mu))
    for i in range(len(mu)):
        v, w = _nodes(lo[i : i + 1], hi[i : i + 1], split[i : i + 1], left[i : i + 1], k)
        v, w = v[0], w[0]
        m = _drift(v[None, :], mu[i : i + 1], b[i : i + 1], th[i : i + 1])[0]
        reach = 40.0 * sd[i]
        first = np.searchsorted(v, m - reach)
        last = np.searchsorted(v, m + reach)
        counts = last - first
        cols = np.repeat(np.arange(n), counts)
        rows = np.concatenate([np.arange(f, e) for f, e in zip(first, last, strict=True)])
        vals = w[rows] * np.exp(-0.5 * ((v[rows] - m[cols]) / sd[i]) ** 2)
        sums = np.bincount(cols, weights=vals, minlength=n)
        vals = -vals / sums[cols]
        keep = rows != 0
        a = scipy.sparse.coo_matrix(
            (
                np.concatenate([vals[keep], np.ones(n - 1), np.ones(n)]),
                (
                    np.concatenate([rows[keep], np.arange(1, n), np.zeros(n, dtype=np.int64)]),
                    np.concatenate([cols[keep], np.arange(1, n), np.arange(n)]),
                ),
            ),
            shape=(n, n),
        ).tocsc()
        rhs = np.zeros(n)
        rhs[0] = 1.0
        g = scipy.sparse.linalg.spsolve(a, rhs)
        out[i] = float(g @ _q((th[i] - m) / sd[i]))
    return out


# --- σ = 0: the deterministic map ----------------------------------------------------------
def _silent(mu: float, b: float, th: float) -> bool:
    """Exactly: does the noiseless neuron never spike, i.e. μ ≤ (1-β)θ?"""
    return Fraction(mu) <= (1 - Fraction(b)) * Fraction(th)


def _two_sum(a: Array, b: Array) -> tuple[Array, Array]:
    """``a + b`` rounded, and its rounding error exactly (Knuth's TwoSum)."""
    s = a + b
    bb = s - a
    return s, (a - (s - bb)) + (b - bb)


def _split(a: Array) -> tuple[Array, Array]:
    c = 134217729.0 * a  # 2**27 + 1
    high = c - (c - a)
    return high, a - high


def _two_prod(a: Array, b: Array) -> tuple[Array, Array]:
    """``a * b`` rounded, and its rounding error exactly (Dekker's TwoProduct)."""
    p = a * b
    ah, al = _split(a)
    bh, bl = _split(b)
    return p, ((ah * bh - p) + ah * bl + al * bh) + al * bl


def _deterministic_rate(mu: Array, b: Array, th: Array) -> Array:
    """Exact long-run rate of the noiseless map for β < 1 (module docstring), or ValueError."""
    out = np.zeros(len(mu))
    active = np.array(
        [not _silent(float(m), float(bb), float(t)) for m, bb, t in zip(mu, b, th, strict=False)], dtype=bool
    )
    idx = np.flatnonzero(active)
    if idx.size == 0:
        return out
    mu_a, b_a, th_a = mu[idx], b[idx], th[idx]
    u = np.zeros(idx.size)
    spike = np.zeros(idx.size, dtype=bool)
    error = np.zeros(idx.size)  # bound on |exact u - float u|
    certified = np.ones(idx.size, dtype=bool)
    ref_u = u.copy()
    ref_t = np.zeros(idx.size, dtype=np.int64)
    since = np.zeros(idx.size, dtype=np.int64)  # spikes after the checkpoint
    done = np.zeros(idx.size, dtype=bool)
    rate = np.zeros(idx.size)
    for t in range(1, DETERMINISTIC_STEPS + 1):
        leak, e1 = _two_prod(b_a, u)
        drive, e2 = _two_sum(leak, mu_a)
        u, e3 = _two_sum(drive, -th_a * spike)  # θ·s is exact
        # exact - float = β·(previous difference) + e1 + e2 + e3; bound it, with room for rounding
        error = (b_a * error + np.abs(e1) + np.abs(e2) + np.abs(e3)) * (1.0 + 2.0**-48)
        spike = u > th_a
        certified &= (np.abs(u - th_a) > error) | (error == 0.0)
        since += spike
        hit = ~done & (u == ref_u)
        if hit.any():
            rate[hit] = since[hit] / (t - ref_t[hit])
            done |= hit
            if done.all():
                break
        if t & (t - 1) == 0:  # power of two: move the checkpoint
            ref_u = np.where(done, ref_u, u)
            ref_t = np.where(done, ref_t, t)
            since = np.where(done, since, 0)
    bad = ~done | ~certified
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        why = (
            "its orbit comes within float rounding of theta (e.g. mean within rounding of (1 - beta)*theta), "
            "so its spike sequence cannot be certified"
            if done[i]
            else f"its orbit shows no period within {DETERMINISTIC_STEPS} steps"
        )
        raise ValueError(
            f"std = 0 (deterministic input) with mean={float(mu_a[i])!r}, beta={float(b_a[i])!r}, "
            f"theta={float(th_a[i])!r}: no exact long-run rate is available because {why}"
        )
    out[idx] = rate
    return out
