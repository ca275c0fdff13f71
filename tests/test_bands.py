"""snnmath.bands: the statistical bands every check is built on."""

import numpy as np
import pytest
import scipy.stats

from snnmath import bands


def test_clopper_pearson_covers_and_is_exact_at_edges():
    lo, hi = bands.clopper_pearson(0, 100, 0.05)
    assert lo == 0 and 0 < hi < 0.05
    lo, hi = bands.clopper_pearson(50, 100, 0.05)
    assert lo < 0.5 < hi


def test_central_interval_leaves_at_most_alpha_half_each_side():
    pmf = np.array([0.1, 0.2, 0.4, 0.2, 0.1])
    assert bands.central_interval(pmf, 0.19) == (0, 4)
    assert bands.central_interval(pmf, 0.2) == (1, 3)
    assert bands.central_interval(pmf, 0.61) == (2, 2)


def test_bad_alpha_is_rejected():
    with pytest.raises(ValueError, match="^alpha must"):
        bands.z_value(0.0)
    with pytest.raises(ValueError, match="^comparisons must"):
        bands.z_value(0.1, 0)




@pytest.mark.parametrize("seed", range(5))
def test_t_band_covers_the_mean_of_normal_replicates(seed):
    x = np.random.default_rng(seed).normal(3.0, 2.0, size=(40, 3))
    mean, half = bands.t_band(x, alpha=1e-6, comparisons=3)
    assert np.all(np.abs(mean - 3.0) <= half)
    assert half[0] == pytest.approx(scipy.stats.t.ppf(1 - 1e-6 / 6, 39) * x[:, 0].std(ddof=1) / np.sqrt(40))


def test_median_interval_is_an_order_statistic_interval():
    lo, hi = bands.median_interval(np.arange(101.0), 1e-3)
    assert lo < 50 < hi and lo == int(lo) and hi == int(hi)


def test_sign_test_is_the_exact_binomial_tail():
    result = bands.sign_test([3, 2, 5, 1, 4, 2], [1, 1, 1, 1, 5, 2])
    assert (result.wins, result.losses, result.ties) == (3, 1, 2)
    assert result.p_value == pytest.approx(scipy.stats.binomtest(3, 4, 0.5, alternative="greater").pvalue)
    assert result.smallest_p == 2.0**-4
    everything = bands.sign_test(np.ones(5), np.zeros(5))
    assert everything.p_value == everything.smallest_p == 2.0**-5
    assert bands.sign_test([1.0], [1.0]).p_value == 1.0


def test_sign_test_is_valid_under_the_null():
    """Under the null the one-sided p-value is super-uniform: P(p <= a) <= a for every a."""
    rng = np.random.default_rng(0)
    p_values = np.array([bands.sign_test(rng.normal(size=9), rng.normal(size=9)).p_value for _ in range(4000)])
    for a in (0.02, 0.1, 0.3):
        low, _ = bands.clopper_pearson(int(np.sum(p_values <= a)), len(p_values))
        assert low <= a


def test_sign_test_refuses_bad_input():
    with pytest.raises(ValueError, match="first and second"):
        bands.sign_test([1, 2], [1])
    with pytest.raises(ValueError, match="first and second"):
        bands.sign_test([1, np.nan], [1, 2])


def test_book_seed_takes_the_shift(monkeypatch):
    from snnmath import book

    monkeypatch.delenv(book.SEED_SHIFT, raising=False)
    assert book.seed(3) == 3
    monkeypatch.setenv(book.SEED_SHIFT, "5")
    assert book.seed(3) == 8
    monkeypatch.setenv(book.SEED_SHIFT, "x")
    with pytest.raises(ValueError, match="SNNMATH_SEED_SHIFT"):
        book.seed(0)
