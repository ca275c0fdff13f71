"""The pixel-driven first layer: the input neuron's closed forms, the exact data-averaged rates, the
data-aware first-layer scale, and its check on real images (any seed passes, a wrong theory fails)."""

from fractions import Fraction

import numpy as np
import pytest
import sympy as sp
import torch

from snnmath import checks, data, theory
from snnmath import symbolic as sym
from snnmath.lif import lif_layer

SEEDS = range(5)


def have_mnist() -> bool:
    """Whether the loader finds MNIST without downloading ($SNNMATH_DATA, ../shared/data or the cache)."""
    try:
        data.data_folder()
    except data.DataError:
        return False
    return True


HAVE_MNIST = have_mnist()
needs_mnist = pytest.mark.skipif(not HAVE_MNIST, reason="real MNIST not found (run `python -m snnmath.data fetch`)")


@pytest.fixture(scope="module")
def mnist_test():
    if not HAVE_MNIST:
        pytest.skip("real MNIST not found")
    return data.load_mnist().arrays("test")[0]


@pytest.fixture(scope="module")
def digits():
    return data.load_digits().arrays("train")[0]


# --- symbolic ------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [Fraction(0), Fraction(1, 2), Fraction(9, 10), Fraction(1)])
def test_free_potential_is_the_unrolled_recurrence(beta):
    intensity, potential = Fraction(3, 7), Fraction(0)
    for t in range(6):
        potential = beta * potential + intensity
        at = {sym.beta: sp.Rational(beta), sym.pixel: sp.Rational(intensity), sym.step: t}
        assert sym.free_input_potential().subs(at) == sp.Rational(potential)


def test_first_spike_intensity_limits():
    perfect, leaky = (piece for piece, _ in sym.first_spike_intensity().args)
    assert sp.simplify(leaky.subs(sym.step, 0) - sym.theta) == 0  # x*(0) = θ: no pixel <= 1 spikes at θ >= 1
    assert sp.simplify(sp.limit(leaky, sym.beta, 1) - perfect) == 0
    assert sp.simplify(sym.silent_intensity() - sym.theta * (1 - sym.beta)) == 0


def test_silent_intensity_in_theory_is_the_limit_of_the_first_spike_intensity():
    betas = np.array([0.0, 0.5, 0.9, 1.0])
    assert theory.silent_intensity(betas, 1.3) == pytest.approx(1.3 * (1 - betas), abs=1e-15)
    late = theory.first_spike_intensity(betas[:-1], 1.3, 2000)
    assert theory.silent_intensity(betas[:-1], 1.3) == pytest.approx(late, rel=1e-12)
    assert theory.silent_intensity(np.array([0.5, 0.9]), [[1.0], [2.0]]).shape == (2, 2)
    assert not np.signbit(theory.silent_intensity(1.0, 1.0))


def test_paper_scale_current_variance_in_theory():
    q = float(theory.spike_probability(1.0))
    assert theory.paper_scale_current_variance([0.0, q / 2, q], 1.0) == pytest.approx([0.0, 0.5, 1.0], rel=1e-13)
    n, rate = 784, 0.07  # the paper's scale times n · p0, as the current's variance E[I²] = n σ_w² p0
    assert float(theory.paper_scale_current_variance(rate, 1.0)) == pytest.approx(
        n * float(theory.weight_variance(n, 1.0)) * rate, rel=1e-13)


def test_first_layer_scale_reduces_to_the_paper_at_gaussian_rate():
    gaussian_rate = sym.tail_probability(sym.theta / sp.sqrt(sym.V))  # inputs from N(0, V) potentials
    at_gaussian = sym.first_layer_weight_variance().subs(sym.mean_input_rate, gaussian_rate)
    assert sp.simplify(at_gaussian - sym.weight_variance()) == 0
    mean_k, second_k = sym.COUNT_MOMENTS
    assert sp.simplify(sym.scale_mixture_kurtosis() - 3 * second_k / mean_k**2) == 0


# --- theory --------------------------------------------------------------------------------
@pytest.mark.parametrize("beta", [0.0, 0.5, 0.9, 0.95, 1.0])
@pytest.mark.parametrize("theta", [0.1, 0.5, 1.0, 1.3])
def test_input_spike_trains_equal_the_simulator_bit_for_bit(beta, theta):
    levels = torch.arange(256, dtype=torch.float32) / 255
    simulated = lif_layer(levels.expand(40, 1, 256), beta, theta)[1][:, 0].bool().numpy()
    assert np.array_equal(theory.input_spike_trains(levels.numpy(), beta, theta, 40), simulated)


def test_first_spike_follows_the_closed_form():
    rng = np.random.default_rng(0)
    for beta, theta in [(0.5, 1.0), (0.9, 1.0), (1.0, 1.0), (0.7, 0.4)]:
        x = rng.uniform(0, 1, 2000)
        thresholds = theory.first_spike_intensity(beta, theta, np.arange(30))
        x = x[np.min(np.abs(x[:, None] - thresholds), axis=1) > 1e-5]  # away from float ties
        trains = theory.input_spike_trains(x, beta, theta, 30)
        fired = trains.any(axis=0)
        first = np.where(fired, trains.argmax(axis=0), -1)
        expected = np.where(x[:, None] > thresholds, 1, 0)
        expected_first = np.where(expected.any(axis=1), expected.argmax(axis=1), -1)
        assert np.array_equal(first, expected_first)


def test_no_input_spike_at_step_zero_for_theta_one(digits):
    assert theory.input_layer_rates(digits, 0.9, 1.0, 5, max_value=16)[0] == 0
    assert np.all(theory.input_layer_rates(digits, 0.0, 1.0, 5, max_value=16) == 0)  # β = 0: x*(t) = θ always


def test_rates_counts_and_histogram_agree(digits):
    beta, theta, steps = 0.5, 0.6, 8
    counts = theory.input_active_counts(digits, beta, theta, steps, max_value=16)
    rates = theory.input_layer_rates(digits, beta, theta, steps, max_value=16)
    x = torch.from_numpy(digits.reshape(len(digits), -1).astype(np.float32)) / 16
    brute = lif_layer(x.expand(steps, *x.shape), beta, theta)[1].sum(dim=2).T.numpy()
    assert np.array_equal(counts, brute)
    np.testing.assert_allclose(rates, counts.mean(axis=0) / 64, rtol=1e-12)
    as_floats = theory.input_layer_rates(x.numpy().reshape(digits.shape), beta, theta, steps)
    np.testing.assert_allclose(as_floats, rates, rtol=1e-12)
    intensities, fractions = theory.intensity_histogram(digits, max_value=16)
    assert intensities.shape == (17,) and fractions.sum() == pytest.approx(1)


def test_first_layer_weight_variance(digits):
    rates = theory.input_layer_rates(digits, 0.5, 1.0, 10, max_value=16)
    var = theory.first_layer_weight_variance(digits, 0.5, 1.0, 10, target_variance=2.0, max_value=16)
    assert var == pytest.approx(2.0 / (64 * rates.mean()), rel=1e-12)
    at_one = theory.first_layer_weight_variance(digits, 0.5, 1.0, 10, max_value=16, step=1)
    assert at_one == pytest.approx(1.0 / (64 * rates[1]), rel=1e-12)


def test_kurtosis_of_constant_counts_is_gaussian():
    kurtosis = theory.current_kurtosis(np.array([[0, 5], [0, 5], [0, 5]]))
    assert np.isnan(kurtosis[0]) and kurtosis[1] == pytest.approx(3.0)


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda im: theory.input_layer_rates(im.astype(np.int16) + 20, 0.5, 1.0, 3, max_value=16), "^images must"),
        (lambda im: theory.input_layer_rates(im / 8.0, 0.5, 1.0, 3), "^images must"),
        (lambda im: theory.input_layer_rates(im[0, 0], 0.5, 1.0, 3), "^images must"),
        (lambda im: theory.input_layer_rates(im.astype(bool), 0.5, 1.0, 3), "^images must"),
        (lambda im: theory.input_layer_rates(im, 1.5, 1.0, 3, max_value=16), "^beta must"),
        (lambda im: theory.input_layer_rates(im, 0.5, 1.0, 0, max_value=16), "^steps must"),
        (lambda im: theory.input_layer_rates(im, 0.5, 1.0, 3, max_value=0), "^max_value must"),
        (lambda im: theory.input_spike_trains([0.5, 1.2], 0.5, 1.0, 3), "^intensities must"),
        (lambda im: theory.first_layer_weight_variance(im, 0.5, 1.0, 3, max_value=16, step=0), "^theta must"),
        (lambda im: theory.first_layer_weight_variance(im, 0.5, 1.0, 3, max_value=16, step=3), "^step must"),
        (lambda im: theory.first_layer_weight_variance(im, 0.5, 1.0, 3, 0.0, max_value=16), "^target_variance must"),
        (lambda im: theory.current_kurtosis([1.0, 2.0]), "^counts must"),
        (lambda im: theory.first_spike_intensity(0.5, 1.0, 0.5), "^step must"),
        (lambda im: theory.silent_intensity(1.5, 1.0), "^beta must"),
        (lambda im: theory.silent_intensity(0.5, -1.0), "^theta must"),
        (lambda im: theory.paper_scale_current_variance(1.5, 1.0), "^rate must"),
        (lambda im: theory.paper_scale_current_variance(0.1, -1.0), "^theta must"),
    ],
)
def test_bad_input_is_rejected(digits, call, message):
    with pytest.raises(ValueError, match=message):
        call(digits)


# --- the check ------------------------------------------------------------------------------
@needs_mnist
@pytest.mark.parametrize("seed", SEEDS)
def test_first_layer_check_passes_for_any_seed(mnist_test, seed):
    beta = (0.5, 0.9, 1.0)[seed % 3]
    assert checks.first_layer_check(mnist_test, beta, 1.0, 10, width=50, networks=200, seed=seed).passed


@pytest.mark.parametrize("seed", SEEDS)
def test_first_layer_check_passes_on_digits_with_the_paper_scale(digits, seed):
    paper = float(theory.weight_variance(64, 1.0))
    check = checks.first_layer_check(digits, 0.5, 1.0, 10, width=50, networks=200, weight_variance=paper,
                                     max_value=16, seed=seed)
    assert check.passed


@needs_mnist
def test_first_layer_check_rejects_gaussian_input_rate(mnist_test):
    q = float(theory.spike_probability(1.0))
    check = checks.first_layer_check(mnist_test, 0.5, 1.0, 10, width=50, networks=200, assumed_rate=q)
    assert not check.passed
    assert all(row["chi2_ok"] for row in check.rows)  # the current given the inputs is right; the rate is not


def test_first_layer_check_detects_a_wrong_weight_variance(digits, monkeypatch):
    real = checks.normal_with_variance_
    monkeypatch.setattr(checks, "normal_with_variance_",
                        lambda tensor, variance, generator: real(tensor, 1.2 * variance, generator=generator))
    assert not checks.first_layer_check(digits, 0.5, 1.0, 10, width=50, networks=200, max_value=16).passed
