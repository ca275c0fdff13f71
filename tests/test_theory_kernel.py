"""snnmath.theory.kernel: the kernel map over time (input covariances, the PSD root, the T = 1
case against the first-step map, replicas, errors)."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

from snnmath import bands, theory
from snnmath import symbolic as sym
from snnmath.theory import kernel


def test_the_kernel_map_at_one_step_is_the_variance_map_symbolically():
    assert sym.kernel_map_is_variance_map()


@pytest.mark.parametrize("kind", kernel.INPUTS)
def test_input_covariances(kind):
    c = kernel.input_covariance(kind, 4, variance=2.0, rate=0.3, gain=5.0)
    expected = {"direct": 2.0 * np.ones((4, 4)), "fresh": 2.0 * np.eye(4),
                "rate": 5.0 * (0.09 * np.ones((4, 4)) + 0.21 * np.eye(4))}[kind]
    np.testing.assert_allclose(c, expected, rtol=1e-15)


def test_covariance_root_repairs_rounding_and_refuses_a_non_covariance():
    rank_one = np.ones((5, 5)) * 0.7
    root = kernel.covariance_root(rank_one - 1e-13 * np.eye(5))  # negative eigenvalues from rounding
    np.testing.assert_allclose(root @ root.T, rank_one, atol=1e-12)
    with pytest.raises(ValueError, match="not positive semi-definite"):
        kernel.covariance_root(np.array([[1.0, 2.0], [2.0, 1.0]]))
    with pytest.raises(ValueError, match="symmetric"):
        kernel.covariance_root(np.array([[1.0, 0.5], [0.2, 1.0]]))
    with pytest.raises(ValueError, match="finite square"):
        kernel.covariance_root(np.ones((2, 3)))


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize(("variance", "theta"), [(1.0, 1.0), (0.5, 1.5), (2.0, 0.3)])
def test_one_step_kernel_is_an_exact_binomial_fraction_of_the_first_step_rate(seed, variance, theta):
    samples = 1 << 14
    estimate = kernel.spike_kernel(np.array([[variance]]), 0.5, theta, samples, torch.Generator().manual_seed(seed))
    p = float(theory.spike_probability(theta, variance))
    lo, hi = scipy.stats.binom.interval(1 - bands.ALPHA, samples, p)
    assert lo <= estimate[0, 0] * samples <= hi


def test_one_step_kernel_band_rejects_a_five_percent_wrong_rate_at_2_18_samples():
    """Power, computed exactly: with 2**18 samples a rate 5 % off lies outside the band of the true
    one with probability above 0.999, and one seeded estimate is outside the wrong band."""
    samples, p = 1 << 18, float(theory.spike_probability(1.0))
    for wrong in (0.95 * p, 1.05 * p):
        lo, hi = scipy.stats.binom.interval(1 - bands.ALPHA, samples, wrong)
        accept = scipy.stats.binom.cdf(hi, samples, p) - scipy.stats.binom.cdf(lo - 1, samples, p)
        assert accept < 1e-3
        estimate = kernel.spike_kernel(np.array([[1.0]]), 0.5, 1.0, samples, torch.Generator().manual_seed(0))
        assert not lo <= estimate[0, 0] * samples <= hi


def test_the_kernel_depth_map_at_one_step_follows_the_variance_map():
    """At T = 1 the replicas' mean rate follows Q(θ/√V_l) of the iterated first-step map, layer by layer,
    within a t band from the replicas' spread (θ = 0.5: the target attracts, errors do not grow)."""
    gain = float(theory.weight_variance(1, 0.5))
    run = kernel.kernel_depth_map(gain, 0.5, 0.5, 1, 10, samples=1 << 15, replicas=8, seed=3)
    variances = theory.iterate_map(0.5, gain, 1.0, 10)[:-1]
    rates = theory.spike_probability(0.5, variances)
    mean, half = bands.t_band(run.rates[:, :, 0], comparisons=10)
    assert np.all(np.abs(mean - rates) <= half)


def test_kernels_are_symmetric_with_the_rates_on_the_diagonal_and_replicas_reproducible():
    a = kernel.kernel_depth_map(6.3, 0.9, 1.0, 6, 3, samples=4096, replicas=2, seed=5)
    b = kernel.kernel_depth_map(6.3, 0.9, 1.0, 6, 3, samples=4096, replicas=2, seed=5)
    np.testing.assert_array_equal(a.kernels, b.kernels)
    np.testing.assert_array_equal(a.kernels, np.swapaxes(a.kernels, 2, 3))
    assert a.rates.shape == (2, 3, 6) and a.rate.shape == (3, 6) and np.all(np.isfinite(a.spread))
    assert np.all(a.kernels <= a.rates[..., :, None] + 1e-15)  # E[s s'] <= E[s]
    assert not np.array_equal(a.kernels[0], a.kernels[1])  # replicas are independent


def test_a_silent_input_stays_silent():
    run = kernel.kernel_depth_map(6.3, 0.5, 1.0, 4, 3, input_variance=0.0, samples=1024, replicas=1)
    assert np.all(run.kernels == 0) and np.all(np.isnan(run.spread))


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: kernel.kernel_depth_map(0.0, 0.5, 1.0, 4, 2), "gain"),
        (lambda: kernel.kernel_depth_map(5.0, 1.5, 1.0, 4, 2), "beta"),
        (lambda: kernel.kernel_depth_map(5.0, 0.5, float("nan"), 4, 2), "theta"),
        (lambda: kernel.kernel_depth_map(5.0, 0.5, 1.0, 0, 2), "steps"),
        (lambda: kernel.kernel_depth_map(5.0, 0.5, 1.0, 4, 0), "depth"),
        (lambda: kernel.kernel_depth_map(5.0, 0.5, 1.0, 4, 2, samples=1 << 25), "samples"),
        (lambda: kernel.kernel_depth_map(5.0, 0.5, 1.0, 4, 2, input="poisson"), "input"),
        (lambda: kernel.kernel_depth_map(5.0, 0.5, 1.0, 4, 2, input="rate"), "rate"),
        (lambda: kernel.kernel_depth_map(5.0, 0.5, 1.0, 4, 2, input_variance=-1.0), "variance"),
    ],
)
def test_bad_parameters_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- fixed points over depth and the leak-aware scale ---------------------------------------

SMALL = dict(samples=4096, seed=1)


def test_the_leak_aware_gain_holds_its_rate_and_sits_above_its_fold():
    scale = kernel.leak_aware_gain(0.5, 0.5, 4, **SMALL)
    assert scale.first_step_rate_held and abs(scale.rate - float(theory.spike_probability(0.5))) < 0.01
    assert scale.fold_gain < scale.gain and scale.fold_rate < scale.rate
    assert scale.margin == pytest.approx(scale.gain / scale.fold_gain - 1)
    assert 0 < scale.contraction < 1
    # the same gain, iterated afresh from the input, settles on that rate; 2 % less gain holds less
    start = kernel.input_covariance("direct", 4)
    at = kernel.kernel_fixed_point(scale.gain, 0.5, 0.5, start, **SMALL)
    below = kernel.kernel_fixed_point(0.98 * scale.gain, 0.5, 0.5, start, **SMALL)
    assert at.converged and abs(at.rate - scale.rate) < 2e-3 and below.rate < at.rate
    # below the fold the network falls silent
    assert kernel.kernel_fixed_point(0.9 * scale.fold_gain, 0.5, 0.5, start, **SMALL).rate < kernel.SILENT_RATE


def test_the_leak_aware_gain_is_deterministic():
    assert kernel.leak_aware_gain(0.5, 0.5, 4, **SMALL) == kernel.leak_aware_gain(0.5, 0.5, 4, **SMALL)


def test_a_target_outside_the_branch_is_refused_with_the_range_that_can_be_held():
    with pytest.raises(ValueError, match=r"target_rate=0\.9 cannot be held stably .* range from"):
        kernel.leak_aware_gain(0.5, 0.5, 4, 0.9, **SMALL)


def test_at_one_step_the_leak_aware_gain_is_the_first_step_gain():
    """T = 1: the kernel map is the variance map, which holds Q(θ) at c = 1/Q(θ) (V = 1) and has its
    fold at the saddle-node gain."""
    scale = kernel.leak_aware_gain(0.5, 0.5, 1, samples=1 << 16, seed=2)
    assert scale.gain == pytest.approx(float(theory.weight_variance(1, 0.5)), rel=0.02)
    assert scale.fold_gain == pytest.approx(float(theory.saddle_node_gain(0.5)), rel=0.02)


def test_tabulated_entries_are_what_the_solver_gives(monkeypatch):
    """Spot check of the shipped table: one cheap entry recomputed exactly (deterministic solver)."""
    table = kernel._tabulated()
    if not table:
        pytest.skip("no tabulated leak-aware scales yet (scripts/leak_aware_table.py)")
    (beta, theta, steps), row = min(table.items(), key=lambda item: item[0][2])
    assert kernel.leak_aware_gain(beta, theta, steps) == row


def test_leak_aware_scale_reads_the_table_and_computes_what_is_not_in_it(monkeypatch):
    monkeypatch.setattr(kernel, "_tabulated", lambda: {(0.5, 0.5, 4): "tabulated"})
    kernel.leak_aware_scale.cache_clear()
    try:
        assert kernel.leak_aware_scale(0.5, 0.5, 4) == "tabulated"
        monkeypatch.setattr(kernel, "leak_aware_gain", lambda b, th, t: ("computed", b, th, t))
        assert kernel.leak_aware_scale(0.5, 0.5, 3) == ("computed", 0.5, 0.5, 3)
    finally:
        kernel.leak_aware_scale.cache_clear()


def test_window_currents_have_the_covariance_asked_for_and_quantiles_along_the_leading_direction():
    """Every entry of the sample covariance within 4 standard errors of C; along C's leading eigenvector v
    (signed so that its entries sum to at least 0) the currents are exactly the stratified quantiles."""
    t, samples = 6, 1 << 14
    lag = np.abs(np.subtract.outer(np.arange(t), np.arange(t)))
    covariance = 0.4 + 0.5 * 0.6 ** lag  # a constant part and a decaying one, as a spike kernel has
    noise = kernel.window_noise(t, samples, seed=4)
    h = kernel.window_currents(covariance, noise).double().numpy()
    assert np.sort(noise.leading.numpy()) == pytest.approx(scipy.stats.norm.ppf((np.arange(samples) + 0.5) / samples),
                                                            abs=1e-6)
    products = h[:, None, :] * h[None, :, :]
    error = products.std(axis=2, ddof=1) / np.sqrt(samples)
    assert np.all(np.abs(products.mean(axis=2) - covariance) < 4 * error)
    values, vectors = np.linalg.eigh(covariance)
    lead = vectors[:, -1] * np.sign(vectors[:, -1].sum())
    assert lead @ h / np.sqrt(values[-1]) == pytest.approx(noise.leading.double().numpy(), abs=1e-4)
    with pytest.raises(ValueError, match="samples"):
        kernel.window_noise(t, 1, seed=0)


def test_stratifying_the_leading_direction_cuts_the_spread_of_the_held_rate_without_moving_it():
    """At beta = 0.9, theta = 1, T = 25 the rate 60 layers deep (where the map has settled, about 20 layers in)
    over 24 seeds of 4096 samples: stratified, its spread is at most half that of plain normal draws (it is
    about a seventh), and the means agree within 4 standard errors."""
    beta, gain, steps, samples = 0.9, 6.6, 25, 4096
    start = kernel.input_covariance("direct", steps)

    def rate(stratified: bool, seed: int) -> float:
        noise = kernel.window_noise(steps, samples, seed)
        sample = ((lambda c: kernel._window_kernel(c, beta, 1.0, noise)) if stratified
                  else (lambda c: kernel._sample_kernel(c, beta, 1.0, noise.normal)))
        point = kernel._follow(sample, lambda k: kernel._window_rate(k, 0), gain, start, 60, kernel.TOLERANCE)
        assert point.rate > kernel.SILENT_RATE  # settled, or wandering by more than 1e-4 of itself after 60 layers
        return point.rate

    plain, stratified = (np.array([rate(s, seed) for seed in range(24)]) for s in (False, True))
    assert stratified.std(ddof=1) < plain.std(ddof=1) / 2
    se = np.hypot(plain.std(ddof=1), stratified.std(ddof=1)) / np.sqrt(24)
    assert abs(plain.mean() - stratified.mean()) < 4 * se


# --- the quenched mean field from the kernel map's inputs -------------------------------------------

def test_quenched_rates_start_from_each_input_as_a_layer_below():
    gain, p = float(theory.weight_variance(1, 1.0)), float(theory.spike_probability(1.0))
    fresh = theory.quenched_rates(gain, 0.5, 1.0, 4, input="fresh", input_variance=2.0)
    np.testing.assert_allclose(fresh, theory.quenched_depth_map(gain, 0.5, 1.0, 3, input_std=2.0**0.5)[0])
    rate = theory.quenched_rates(gain, 0.5, 1.0, 2, input="rate", input_rate=p)
    q1, q2 = theory.quenched_rate_map(p, p * p, gain, 0.5, 1.0)  # Bernoulli(p) spikes: moments (p, p^2)
    assert rate[0] == q1 and rate[1] == theory.quenched_rate_map(q1, q2, gain, 0.5, 1.0)[0]
    with pytest.raises(ValueError, match="input_rate"):
        theory.quenched_rates(gain, 0.5, 1.0, 2, input="rate")
    with pytest.raises(ValueError, match="fresh part"):
        theory.quenched_rates(gain, 0.5, 1.0, 2, input="direct")


# --- the stationary limit T = ∞ ---------------------------------------------------------------

def test_a_burn_in_averages_the_rate_over_the_window_after_it():
    start = kernel.input_covariance("direct", 6)
    point = kernel.kernel_fixed_point(5.0, 0.5, 0.5, start, burn_in=2, **SMALL)
    assert point.rate == pytest.approx(np.diagonal(point.kernel)[2:].mean(), rel=1e-12)
    with pytest.raises(ValueError, match="burn_in"):
        kernel.kernel_fixed_point(5.0, 0.5, 0.5, start, burn_in=6, **SMALL)


def test_stationary_steps_forget_the_start_and_cover_five_time_constants():
    for beta in (0.0, 0.5, 0.9, 0.95, 0.99):
        burn_in, lags, window = kernel.stationary_steps(beta)
        assert beta ** burn_in < 1e-4 <= (beta ** (burn_in - 1) if burn_in > 1 else 1.0)
        assert lags >= max(32, 5 / (1 - beta)) > lags / 2 and window == 4 * lags
    with pytest.raises(ValueError, match=r"beta must be .*0\.99"):
        kernel.stationary_steps(0.995)


def test_stationary_currents_have_the_autocovariance_asked_for():
    """Circulant embedding: the sample autocovariance of the fluctuation (the constant part, stratified,
    separately) matches C(τ) − C_∞ within 4 standard errors at every lag."""
    lags, steps, samples = 16, 64, 1 << 14
    tau = np.arange(lags)
    current = np.append(0.4 + 0.6 * 0.7 ** tau * np.cos(0.5 * tau), 0.4)  # C_∞ = 0.4 and a damped oscillation
    noise = kernel.stationary_noise(steps + lags, samples, seed=3)
    h = kernel.stationary_currents(current, noise, steps).double().numpy()
    constant = np.sqrt(0.4) * noise.constant.double().numpy()
    assert np.sort(noise.constant.numpy()) == pytest.approx(scipy.stats.norm.ppf((np.arange(samples) + 0.5) / samples),
                                                             abs=1e-6)
    g = h - constant
    products = np.array([(g[:steps - k] * g[k:]).mean(axis=0) for k in range(lags)])  # lag × sample
    error = products.std(axis=1, ddof=1) / np.sqrt(samples)
    assert np.all(np.abs(products.mean(axis=1) - (current[:-1] - 0.4)) < 4 * error)


def test_stationary_kernel_of_a_fresh_current_is_the_exact_stationary_rate():
    """Layer one with a fresh N(0, V) current each step (C(τ) = V at τ = 0, 0 beyond): the map's rate
    K(0) against theory.stationary_rate (Nyström, exact to 1e-8), within 4 standard errors over
    8 independent draws; and the long lags are uncorrelated: K(τ) ≈ K(0)² far out."""
    beta, theta, variance = 0.9, 1.0, 2.0
    burn_in, lags, window = kernel.stationary_steps(beta)
    current = np.append([variance], np.zeros(lags))
    draws = np.array([kernel.stationary_kernel(current, beta, theta, kernel.stationary_noise(
        burn_in + window + lags, 4096, seed), burn_in, window) for seed in range(8)])
    exact = float(theory.stationary_rate(0.0, np.sqrt(variance), beta, theta))
    rates = draws[:, 0]
    assert abs(rates.mean() - exact) < 4 * rates.std(ddof=1) / np.sqrt(len(rates))
    tails = draws[:, -1]
    assert abs(tails.mean() - exact ** 2) < 4 * tails.std(ddof=1) / np.sqrt(len(tails)) + 1e-3 * exact ** 2


def test_stationary_kernel_of_a_constant_current_is_the_quadrature_of_the_exact_rate():
    """Layer one under direct input (h = z₀ constant, C ≡ 1): the map's rate is the average, over the M
    stratified quantiles z₀, of the long-run rate of a neuron with that constant current
    (theory.stationary_rate with σ = 0); each spike train is periodic after the burn-in, so its count over
    the window differs from W times its rate by at most 1, and the midpoint rule over a monotone rate errs
    by at most 1/M."""
    beta, theta, samples, window = 0.8, 0.5, 2048, 2048
    burn_in, lags, _ = kernel.stationary_steps(beta)
    noise = kernel.stationary_noise(burn_in + window + lags, samples, seed=0)
    rate = kernel.stationary_kernel(np.ones(lags + 1), beta, theta, noise, burn_in, window)[0]
    z = scipy.stats.norm.ppf((np.arange(samples) + 0.5) / samples)
    exact = float(np.mean(theory.stationary_rate(z, 0.0, beta, theta)))
    assert abs(rate - exact) <= 1 / window + 1 / samples


def test_the_stationary_map_agrees_with_the_window_map_long_after_rest():
    """The stationary fixed point at (β, θ) = (0.5, 1), gain 7.4, against the fixed point over depth of the
    window map of 50 steps after a burn-in of 50 (where the rate no longer moves with the burn-in), averaged
    over 10 independent draws: within 4 standard errors of that mean plus 4 of the stationary map's own,
    from 4 draws."""
    gain, beta, theta = 7.4, 0.5, 1.0
    start = kernel.input_covariance("direct", 100)
    window_rates = np.array([kernel.kernel_fixed_point(gain, beta, theta, start, burn_in=50, samples=1 << 14,
                                                       seed=seed).rate for seed in range(10)])
    stationary = np.array([kernel.stationary_fixed_point(gain, beta, theta, seed=seed).rate for seed in range(4)])
    error = np.hypot(window_rates.std(ddof=1) / np.sqrt(10), stationary.std(ddof=1) / np.sqrt(4))
    assert abs(window_rates.mean() - stationary.mean()) < 4 * error


def test_the_stationary_fixed_point_needs_almost_no_repair_of_its_spectrum():
    """At a fixed point (here (β, θ) = (0.5, 0.5) at the tabulated gain's neighbourhood) the autocorrelation has
    decayed within the L lags kept, so the negative spectrum set to 0 is under 1 % of the positive."""
    point = kernel.stationary_fixed_point(3.6, 0.5, 0.5, samples=2048)
    burn_in, lags, window = kernel.stationary_steps(0.5)
    spectrum = kernel.circulant_spectrum(3.6 * point.kernel, 1 << math.ceil(math.log2(burn_in + window + lags)))
    assert point.converged and -spectrum.clip(None, 0).sum() < 0.01 * spectrum.clip(0, None).sum()


def test_the_stationary_gain_holds_its_rate_stably_and_is_the_tabulated_entry():
    """(β, θ) = (0.5, 0.5) at the default draws: Q(θ) held to the bisection's precision above the fold, silence
    below the fold, and exactly the shipped T = ∞ entry (computed in another process: deterministic)."""
    scale = kernel.stationary_gain(0.5, 0.5)
    assert scale.first_step_rate_held and scale.rate == pytest.approx(float(theory.spike_probability(0.5)), rel=2e-3)
    assert scale.fold_gain < scale.gain and 0 < scale.contraction < 1
    assert (scale.burn_in, scale.window) == kernel.stationary_steps(0.5)[::2]
    assert kernel.stationary_fixed_point(0.9 * scale.fold_gain, 0.5, 0.5).rate < kernel.SILENT_RATE
    tabulated = kernel._tabulated().get((0.5, 0.5, math.inf))
    assert tabulated is None or tabulated == scale


def test_a_branch_that_is_not_one_interval_is_refused():
    """Where the network stays active at the fold found but falls silent at 1.1 times its gain, no fold and no
    default target can be given: an error says so rather than aiming at a rate below the fold."""
    def follow(gain):
        alive = 3.0 <= gain < 3.2 or gain > 3.5
        return kernel.KernelFixedPoint(np.zeros((1, 1)), 0.3 if alive else 0.0, 10, True)

    with pytest.raises(ValueError, match="not one interval"):
        kernel._scale(follow, lambda c, point: 0.5, 1.0, None, "a test")


def test_bad_stationary_parameters_are_named():
    burn_in, lags, window = kernel.stationary_steps(0.5)
    noise = kernel.stationary_noise(burn_in + window + lags, 64, 0)
    with pytest.raises(ValueError, match="C_inf >= 0"):
        kernel.stationary_kernel(np.append(np.ones(lags), -1.0), 0.5, 0.5, noise, burn_in, window)
    with pytest.raises(ValueError, match="burn_in \\+ window \\+ lags"):
        kernel.stationary_kernel(np.ones(lags + 1), 0.5, 0.5, noise, burn_in, 4 * window)
    for call, name in [(lambda: kernel.stationary_gain(1.0, 0.5), "beta"),
                       (lambda: kernel.stationary_gain(0.5, math.nan), "theta"),
                       (lambda: kernel.stationary_fixed_point(-1.0, 0.5, 0.5), "gain"),
                       (lambda: kernel.stationary_gain(0.5, 0.5, samples=1), "samples")]:
        with pytest.raises(ValueError, match=name):
            call()


def test_steps_inf_is_the_stationary_limit_and_other_non_integers_are_refused(monkeypatch):
    monkeypatch.setattr(kernel, "stationary_gain", lambda b, th, target, **kw: ("stationary", b, th, target, kw))
    assert kernel.leak_aware_gain(0.9, 1.0, math.inf, samples=8, seed=3) == ("stationary", 0.9, 1.0, None,
                                                                            dict(samples=8, seed=3))
    assert kernel.leak_aware_gain(0.9, 1.0, math.inf)[-1] == dict(seed=0)
    for bad in (0, 2.5, float("nan"), -math.inf, "inf"):
        with pytest.raises(ValueError, match=r"steps must be an integer >= 1 or math\.inf"):
            kernel.leak_aware_gain(0.9, 1.0, bad)
        with pytest.raises(ValueError, match=r"steps must be an integer >= 1 or math\.inf"):
            kernel.leak_aware_scale(0.9, 1.0, bad)


def test_tabulated_stationary_entries_are_stable_with_the_stationary_maps_steps():
    """Every shipped T = ∞ entry (one is recomputed exactly above; all: scripts/leak_aware_table.py --check)."""
    rows = {key: row for key, row in kernel._tabulated().items() if key[2] == math.inf}
    if not rows:
        pytest.skip("no tabulated stationary scales yet (scripts/leak_aware_table.py --steps inf)")
    for (beta, _, _), row in rows.items():
        assert (row.burn_in, row.window) == kernel.stationary_steps(beta)[::2]
        assert row.fold_gain < row.gain and 0 < row.contraction < 1
