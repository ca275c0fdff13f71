"""The correlation checks pass a true theory for any seed and, at the chapter's size, reject a wrong one."""

import pytest

from snnmath import correlation_checks as cc

ORTHANT = cc.ORTHANT_SIZE
DEEP = cc.CORRELATION_SIZE


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_orthant_check_passes_the_theory(seed):
    assert cc.orthant_check(ORTHANT["thetas"], ORTHANT["rhos"], 200_000, seed=seed).passed


@pytest.mark.parametrize("factor", [0.95, 1.05])
def test_orthant_check_rejects_a_threshold_off_by_five_percent(factor):
    power = cc.orthant_power(ORTHANT["thetas"], ORTHANT["rhos"], ORTHANT["samples"], factor)
    assert power >= 0.999
    assert not cc.orthant_check(ORTHANT["thetas"], ORTHANT["rhos"], ORTHANT["samples"], seed=7,
                                theta_factor=factor).passed


@pytest.mark.parametrize("seed", [0, 1])
def test_correlation_check_passes_the_theory_at_reduced_size(seed):
    run = cc.correlation_run(1.0, 2000, 6, 8, DEEP["rhos"], seed=seed)
    assert cc.correlation_check(run).passed


def test_correlation_check_rejects_a_gain_off_by_five_percent_at_the_chapter_size():
    run = cc.correlation_run(1.0, DEEP["width"], DEEP["depth"], DEEP["networks"], DEEP["rhos"], seed=11)
    assert cc.correlation_check(run).passed
    for factor in (0.95, 1.05):
        assert cc.correlation_power(run, factor) >= 0.999
        assert not cc.correlation_check(run, factor).passed


def test_silent_layers_are_left_out():
    run = cc.correlation_run(1.0, 20, 30, 4, (0.5,), seed=0, gain=2.0)  # Kaiming's gain at θ = 1: silence
    assert (run.counts[:, :, -1, 0] == 0).all()
    check = cc.correlation_check(run)
    assert not check.passed and check.rows[-1]["networks"] == 0


def test_run_over_one_step_is_the_first_step_run():
    one = cc.correlation_run(1.0, 300, 4, 2, (0.5, 0.9), seed=4)
    leaky = cc.correlation_run(1.0, 300, 4, 2, (0.5, 0.9), seed=4, beta=0.9, steps=1)
    assert (one.counts == leaky.counts).all()


@pytest.mark.parametrize("seed", [0, 1])
def test_correlation_over_time_check_passes_the_kernel_map(seed):
    run = cc.correlation_run(1.0, 1000, 4, 8, (0.5, 0.99), seed=seed, beta=0.9, steps=5)
    assert cc.correlation_over_time_check(run, 0.9, 5, samples=1 << 12, replicas=8, seed=seed).passed
