"""The chapters' checks: they pass for any seed when the theory is right (quick sizes,
several seeds) and fail when the theory is wrong, so none of them is vacuous."""

import numpy as np
import pytest

from snnmath import checks, stats, theory

SEEDS = range(5)


@pytest.mark.parametrize("seed", SEEDS)
def test_spike_probability_check_passes_for_any_seed(seed):
    assert checks.spike_probability_check([0.0, 1.0, 3.0], [0.5, 2.0], samples=100_000, seed=seed).passed


@pytest.mark.parametrize("seed", SEEDS)
def test_one_layer_map_check_passes_for_any_seed(seed):
    assert checks.one_layer_map_check([0.0, 1.0, 3.0], [10, 200], replicates=40, seed=seed).passed


@pytest.mark.parametrize("seed", SEEDS)
def test_deep_chain_check_passes_for_any_seed(seed):
    runs = [checks.deep_run(theta, width=300, depth=40, batch=16, seed=seed) for theta in (1.0, 1.5)]
    assert checks.deep_chain_check(runs).passed


def test_spike_probability_check_detects_a_wrong_formula(monkeypatch):
    monkeypatch.setattr(theory, "spike_probability", lambda theta, variance=1.0: 1.05 * (0.5 if theta == 0 else 0.158655))
    assert not checks.spike_probability_check([0.0, 1.0], [1.0], samples=200_000).passed


def test_one_layer_map_check_detects_a_wrong_weight_variance(monkeypatch):
    real = checks.gain_normal_
    monkeypatch.setattr(checks, "gain_normal_", lambda tensor, gain, generator: real(tensor, 1.15 * gain, generator))
    assert not checks.one_layer_map_check([1.0], [200], replicates=40).passed


def test_deep_chain_check_detects_a_wrong_chain():
    run = checks.deep_run(1.0, width=300, depth=30, batch=16, seed=0)
    # per-sample bands are wide (samples share weights, so only a union bound is valid):
    # at this size a 50 % error in the gain is what the check is guaranteed to see
    run.chain = theory.active_count_distribution(300, 1.0, 29, gain=1.5 * float(theory.weight_variance(1, 1.0)))
    assert not checks.deep_chain_check([run]).passed


def test_kaiming_check():
    assert checks.kaiming_check().passed


# --- stats ---------------------------------------------------------------------------
def test_clopper_pearson_covers_and_is_exact_at_edges():
    lo, hi = stats.clopper_pearson(0, 100, 0.05)
    assert lo == 0 and 0 < hi < 0.05
    lo, hi = stats.clopper_pearson(50, 100, 0.05)
    assert lo < 0.5 < hi


def test_central_interval_leaves_at_most_alpha_half_each_side():
    pmf = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    assert stats.central_interval(pmf, 0.19) == (0, 4)
    assert stats.central_interval(pmf, 0.2) == (1, 3)
    assert stats.central_interval(pmf, 0.61) == (2, 2)


def test_bad_alpha_is_rejected():
    with pytest.raises(ValueError, match="^alpha must"):
        stats.z_value(0.0)
    with pytest.raises(ValueError, match="^comparisons must"):
        stats.z_value(0.1, 0)
