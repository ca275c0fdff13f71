"""Tests of :mod:`snnmath.theory.stationary`: the stationary rate against direct simulation, the
β = 0 closed form, grid refinement, the exact β = 1 and σ = 0 cases, and bad input.

Simulation bands are rigorous at family-wise level ``ALPHA`` whatever the seed: each
neuron's rate over the window is one i.i.d. sample in [0, 1] (the spikes of one neuron are
autocorrelated, independent neurons are not), and the empirical Bernstein bound of Maurer &
Pontil (2009, Thm 4) — which uses the sample variance and holds for any distribution on
[0, 1] — is split over all comparisons (Bonferroni). The simulations start at u = 0 and
discard a burn-in of 60 membrane time constants (β^(60/(1-β)) < e^-60); at the noise levels
used (σ ≥ 0.1 θ) the chain forgets its start on that scale, so the remaining bias is
negligible against the bands (a few 1e-3).
"""

from __future__ import annotations

import itertools
import math
from fractions import Fraction

import numpy as np
import pytest
import scipy.special
import torch

import snnmath.theory.stationary as st
from snnmath.bands import ALPHA
from snnmath.simulate import simulate_neurons
from snnmath.theory import stationary_rate

BETAS = (0.0, 0.5, 0.9)
THETAS = (0.5, 1.0, 2.0)
MEAN_STD = ((0.0, 1.0), (0.3, 0.5), (0.1, 0.2), (-0.5, 1.5), (1.0, 0.3))
NEURONS, STEPS = 20_000, 500
BETA1_CASES = 8  # comparisons in test_beta_one_matches_simulation


def q(x):
    return 0.5 * scipy.special.erfc(np.asarray(x) / math.sqrt(2.0))


def empirical_bernstein(samples: np.ndarray, comparisons: int, alpha: float = ALPHA) -> float:
    """Two-sided half-width for the mean of i.i.d. samples in [0, 1] (Maurer & Pontil 2009,
    Thm 4, applied to X and 1 - X), Bonferroni over ``comparisons``."""
    n = samples.size
    log_term = math.log(4 * comparisons / alpha)
    var = samples.var(ddof=1)
    return math.sqrt(2 * var * log_term / n) + 7 * log_term / (3 * (n - 1))


def beta0_rate(mean, std, theta):
    """β = 0: two-state chain in s with a = P(s=1 | s_prev=0), b = P(s=1 | s_prev=1)."""
    a = q((theta - mean) / std)
    b = q((2 * theta - mean) / std)
    return a / (1 - b + a)


# --- agreement with direct simulation ---------------------------------------------------------
def test_matches_simulation_of_single_neurons():
    means = np.array([m for m, _ in MEAN_STD])[:, None]
    stds = np.array([s for _, s in MEAN_STD])[:, None]
    thetas = np.array(THETAS)[None, :]
    comparisons = len(BETAS) * means.size * thetas.size
    worst = 0.0
    for i, beta in enumerate(BETAS):
        predicted = stationary_rate(means, stds, beta, thetas)
        refined = stationary_rate(means, stds, beta, thetas, nodes_per_std=2 * st.NODES_PER_STD)
        discretisation = 10 * np.abs(predicted - refined) + 1e-9
        counts = simulate_neurons(means, stds, beta, thetas, STEPS, NEURONS, 1234 + i)
        rates = counts / STEPS
        for j, k in itertools.product(range(means.shape[0]), range(thetas.shape[1])):
            sample = rates[j, k]
            band = empirical_bernstein(sample, comparisons) + discretisation[j, k]
            err = abs(sample.mean() - predicted[j, k])
            worst = max(worst, err / band)
            assert err <= band, (beta, float(means[j, 0]), float(stds[j, 0]), THETAS[k], sample.mean(),
                                 predicted[j, k], band)
    print(f"largest error / band: {worst:.3f}")
    assert worst > 0  # the comparison ran


def test_simulate_neurons_shapes_seed_and_burn_in():
    a = simulate_neurons([0.1, 0.5], 1.0, 0.5, 1.0, steps=30, neurons=7, generator=3, burn_in=5)
    b = simulate_neurons([0.1, 0.5], 1.0, 0.5, 1.0, steps=30, neurons=7, generator=torch.Generator().manual_seed(3),
                         burn_in=5)
    assert a.shape == (2, 7) and a.dtype == np.int64
    assert np.array_equal(a, b)
    assert a.min() >= 0 and a.max() <= 30
    # steps after the burn-in only: a neuron that always spikes counts exactly `steps`
    assert np.all(simulate_neurons(10.0, 0.0, 0.5, 1.0, steps=12, neurons=3, burn_in=4) == 12)
    # u[-1] = s[-1] = 0 and a strict threshold: mean = θ, σ = 0, β = 0 never spikes
    assert np.all(simulate_neurons(1.0, 0.0, 0.0, 1.0, steps=50, neurons=2) == 0)
    with pytest.raises(ValueError, match="^steps"):
        simulate_neurons(0.0, 1.0, 0.5, 1.0, steps=0, neurons=2)
    with pytest.raises(ValueError, match="^beta"):
        simulate_neurons(0.0, 1.0, 1.5, 1.0, steps=3, neurons=2)


# --- numerical accuracy -----------------------------------------------------------------------
def test_beta_zero_closed_form():
    mean = np.linspace(-1.0, 3.0, 17)[:, None, None]
    std = np.geomspace(0.05, 3.0, 9)[None, :, None]
    theta = np.array([0.5, 1.0, 2.0])[None, None, :]
    got = stationary_rate(mean, std, 0.0, theta)
    assert got.shape == (17, 9, 3)
    np.testing.assert_allclose(got, beta0_rate(mean, std, theta), rtol=0, atol=1e-8)


def test_grid_refinement_converges():
    mean = np.linspace(-1.0, 2.0, 10)[:, None]
    std = np.geomspace(0.1, 3.0, 10)[None, :]
    for beta in (0.0, 0.5, 0.9, 0.99):
        if beta == 0.99:  # 4x more nodes: sparse solves, one pair at a time
            mean, std = mean[::4], std[:, ::4]
        coarse = stationary_rate(mean, std, beta, 1.0)
        fine = stationary_rate(mean, std, beta, 1.0, nodes_per_std=2 * st.NODES_PER_STD)
        assert np.max(np.abs(coarse - fine)) < 1e-8, beta
        rough = stationary_rate(mean, std, beta, 1.0, nodes_per_std=0.6 * st.NODES_PER_STD)
        # spectral convergence: the coarse grid is far closer to the fine one than a rough grid
        assert np.max(np.abs(rough - fine)) > 10 * np.max(np.abs(coarse - fine))


def test_sparse_path_agrees_with_dense(monkeypatch):
    args = (np.array([0.3, 0.2, 0.3, 0.0, -0.5, 1.5]), np.array([0.2, 0.5, 0.05, 1.0, 0.5, 0.2]),
            np.array([0.5, 0.9, 0.9, 0.9, 0.9, 0.5]), 1.0)
    dense = stationary_rate(*args)
    monkeypatch.setattr(st, "DENSE_MAX", 0)
    np.testing.assert_allclose(stationary_rate(*args), dense, rtol=0, atol=1e-11)


def test_small_noise_tends_to_the_noiseless_rate():
    # β = 0.5, θ = 1, μ = 0.7: the noiseless orbit is 3-periodic with one spike and keeps ≥ 0.05
    # away from θ, so small noise leaves the rate at 1/3 (this grid is large: the sparse path)
    assert stationary_rate(0.7, 0.0, 0.5, 1.0) == pytest.approx(1 / 3, abs=1e-15)
    assert stationary_rate(0.7, 0.003, 0.5, 1.0) == pytest.approx(1 / 3, abs=1e-10)


def test_broadcasting_and_monotone_in_mean():
    mean = np.linspace(-0.5, 1.5, 6)[:, None]
    std = np.array([0.3, 1.0])[None, :]
    beta = 0.8
    grid = stationary_rate(mean, std, beta, 1.0)
    assert grid.shape == (6, 2)
    for i, j in itertools.product(range(6), range(2)):
        assert grid[i, j] == pytest.approx(float(stationary_rate(mean[i, 0], std[0, j], beta, 1.0)), abs=1e-13)
    assert np.all(np.diff(grid, axis=0) > 0)
    assert np.ndim(stationary_rate(0.0, 1.0, 0.5, 1.0)) == 0
    mixed = stationary_rate(0.2, 0.5, np.array([0.0, 0.5, 1.0]), np.array([1.0, 2.0, 1.0]))
    assert mixed[0] == pytest.approx(float(beta0_rate(0.2, 0.5, 1.0)), abs=1e-8)
    assert mixed[2] == 0.2


# --- β = 1: exact limits ------------------------------------------------------------------------
def test_beta_one_closed_form():
    mean = np.array([-1.0, -1e-9, 0.0, 0.25, 0.999, 1.0, 3.0])
    expected = np.array([0.0, 0.0, 0.0, 0.25, 0.999, 1.0, 1.0])
    for std in (0.0, 0.5, 2.0):
        np.testing.assert_array_equal(stationary_rate(mean, std, 1.0, 1.0), expected)
    assert stationary_rate(0.5, 1.0, 1.0, 2.0) == 0.25


def test_beta_one_matches_simulation():
    """β = 1 through pathwise bounds. With S_t the input sum and N_t the spikes before t,
    u[t] = S_t - θN_t, so (window of T steps after B): for 0 < μ < θ the rate is μ/θ up to
    the change of u over the window divided by θT (u is positive recurrent: allowance 0.01);
    for μ ≤ 0, N_t ≤ max_k S_k⁺/θ and E max_k S_k⁺ ≤ σ√(2t/π) (Lévy's inequality) for μ = 0;
    for μ = θ the non-spike steps D_t satisfy D_t ≤ 1 + max_k (θk - S_k)⁺/θ likewise."""
    burn, steps, neurons = 2000, 4000, 2000
    total = burn + steps
    cases = [  # (mean, std, theta, allowance on E[rate] beyond the limit)
        (0.3, 1.0, 1.0, 0.01),
        (0.5, 0.5, 2.0, 0.01),
        (0.0, 1.0, 1.0, 1.0 * math.sqrt(2 * total / math.pi) / (1.0 * steps)),
        (0.0, 0.5, 0.5, 0.5 * math.sqrt(2 * total / math.pi) / (0.5 * steps)),
        (-0.2, 1.0, 1.0, 1.0**2 / (2 * 0.2) / (1.0 * steps)),  # Kingman: E sup S ≤ σ²/(2|μ|)
        (1.0, 0.5, 1.0, (1 + 0.5 * math.sqrt(2 * total / math.pi) / 1.0) / steps),
        (1.5, 0.5, 1.0, 1e-3),
        (0.4, 0.0, 1.0, 2.0 / steps),
    ]
    assert len(cases) == BETA1_CASES
    for i, (mean, std, theta, allowance) in enumerate(cases):
        limit = float(stationary_rate(mean, std, 1.0, theta))
        assert limit == min(1.0, max(mean, 0.0) / theta)
        rates = simulate_neurons(mean, std, 1.0, theta, steps, neurons, 99 + i, burn_in=burn) / steps
        band = empirical_bernstein(rates, BETA1_CASES) if std > 0 else 0.0
        assert abs(rates.mean() - limit) <= band + allowance, (mean, std, theta, rates.mean(), limit)


def test_beta_one_zero_drift_rate_vanishes_slowly():
    """μ = 0: the limit is 0 although the free walk spends half its time above θ (arcsine law):
    the count stays below the running maximum over θ, E N_T ≤ σ√(2T/π)/θ, a rate O(T^-1/2)."""
    assert stationary_rate(0.0, 1.0, 1.0, 1.0) == 0.0
    for i, steps in enumerate((400, 6400)):
        rates = simulate_neurons(0.0, 1.0, 1.0, 1.0, steps, 4000, 5 + i, burn_in=0) / steps
        bound = math.sqrt(2 * steps / math.pi) / steps
        assert rates.mean() <= bound + empirical_bernstein(rates, 2)
    assert bound < 0.01


# --- σ = 0: the noiseless map ------------------------------------------------------------------
def test_deterministic_closed_forms():
    # β = 0: u = μ - θ s[t-1]: silent up to θ (strict), alternating up to 2θ, always above
    mean = np.array([-1.0, 0.5, 1.0, 1.0 + 1e-12, 1.5, 2.0, 2.0 + 1e-12, 5.0])
    np.testing.assert_array_equal(stationary_rate(mean, 0.0, 0.0, 1.0), [0, 0, 0, 0.5, 0.5, 0.5, 1, 1])
    # β = 0.5, θ = 1, μ = 0.7: u = 0.7, 1.05 (spike), 0.225, 0.8125, 1.106 (spike), … period 3
    assert stationary_rate(0.7, 0.0, 0.5, 1.0) == 1 / 3
    # silent exactly when μ ≤ (1-β)θ: here 0.25 = (1 - 0.75)·1 in binary, u → 1 from below
    assert stationary_rate(0.25, 0.0, 0.75, 1.0) == 0.0
    assert stationary_rate(0.25 + 1e-9, 0.0, 0.75, 1.0) > 0.0


def test_deterministic_matches_simulation():
    beta, theta, steps = 0.7, 1.0, 20_000
    mean = np.linspace(0.05, 2.5, 50)
    rates = stationary_rate(mean, 0.0, beta, theta)
    counts = simulate_neurons(mean, 0.0, beta, theta, steps, 1, 0, burn_in=2000)[:, 0]
    for r, c in zip(rates, counts, strict=False):
        ratio = Fraction(float(r)).limit_denominator(st.DETERMINISTIC_STEPS)
        period = ratio.denominator
        assert r == ratio.numerator / period  # a ratio p/q of a short period q
        assert abs(c - r * steps) <= period  # a window of whole periods plus < one period


def test_deterministic_uncertifiable_orbit_raises():
    # 0.1 > (1 - 0.9)·1 in binary by 2.8e-17: the orbit creeps up to θ within rounding
    with pytest.raises(ValueError, match=r"^std = 0 .*mean=0\.1, beta=0\.9, theta=1\.0.*rounding"):
        stationary_rate(0.1, 0.0, 0.9, 1.0)


# --- bad input --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(beta=1.5), r"^beta must be finite in \[0\.0, 1\.0\], got 1\.5"),
        (dict(beta=-0.1), r"^beta must be finite in \[0\.0, 1\.0\]"),
        (dict(beta=float("nan")), r"^beta must be finite"),
        (dict(theta=0.0), r"^theta must be finite > 0\.0"),
        (dict(theta=float("inf")), r"^theta must be finite"),
        (dict(std=-1.0), r"^std must be finite >= 0\.0"),
        (dict(std=[1.0, float("nan")]), r"^std must be finite"),
        (dict(mean=float("inf")), r"^mean must be finite"),
        (dict(mean="a"), r"^mean must be a real number"),
        (dict(nodes_per_std=0.0), r"^nodes_per_std must be finite > 0\.0"),
    ],
)
def test_bad_input(kwargs, message):
    args = dict(mean=0.0, std=1.0, beta=0.5, theta=1.0)
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        stationary_rate(**args)


def test_too_small_noise_is_refused():
    with pytest.raises(ValueError, match=r"^std is too small .*std = 0 gives the noiseless limit"):
        stationary_rate(0.5, 1e-6, 0.9, 1.0)


def test_incompatible_shapes():
    with pytest.raises(ValueError):
        stationary_rate(np.zeros(3), np.ones(4), 0.5, 1.0)
