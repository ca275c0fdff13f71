"""snnmath.checks for the kernel chapter: finite networks against the kernel map, the stored width
study, the order of the gap, and the power of the live check against a gain 5 % off."""

import json
from pathlib import Path

import numpy as np
import pytest

from snnmath import checks, theory

STUDY = Path(__file__).resolve().parents[1] / "results" / "kernel_width"
# the live check of book/kernel.md, at its sizes and seeds
WIDTH, NETWORKS, BATCH, DEPTH, STEPS, REPLICAS, SAMPLES = 2000, 48, 4, 20, 20, 32, 1 << 15


def test_gap_order_recovers_the_exponent_of_a_power_law():
    widths = np.array([250, 500, 1000, 2000, 4000])
    for exponent in (-1.0, -0.5):
        gaps = 0.3 * widths**exponent
        slope, error = checks.gap_order(widths, gaps, 0.01 * gaps)
        assert slope == pytest.approx(exponent, abs=1e-9) and error < 0.02
    with pytest.raises(ValueError, match="three widths"):
        checks.gap_order([250, 500], [0.1, 0.05], [0.01, 0.01])


def test_rate_coded_input_fires_layer_0_at_the_kernel_maps_rate():
    """Rate-coded input: Bernoulli spikes through an (n, n) weight per network (fan-in n, not n²)."""
    gain, p = float(theory.weight_variance(1, 1.0)), float(theory.spike_probability(1.0))
    run = checks.kernel_rate_run(0.5, 1.0, gain, width=400, depth=2, steps=8, networks=8, batch=2,
                                 input="rate", input_rate=p, seed=3)
    assert run.step_rates.shape == (8, 2, 8) and run.rates.shape == (8, 2)
    check = checks.kernel_rate_check(run, samples=1 << 12, replicas=8, seed=1)
    assert check.passed and 0.05 < check.rows[0]["simulated"] < 0.4


def test_a_silent_theory_fails_the_check():
    gain = float(theory.weight_variance(1, 1.0))
    run = checks.kernel_rate_run(0.5, 1.0, gain, width=300, depth=3, steps=6, networks=24, seed=2)
    assert not checks.kernel_rate_check(run, 0.05 * gain, samples=1 << 12, replicas=8).passed


def test_the_stored_width_study_reads_back():
    study = checks.kernel_width_gaps(STUDY)
    if not study:
        pytest.skip("no stored width study (scripts/kernel_width_study.py)")
    for gap in study.values():
        assert gap.rates.shape == (gap.networks, DEPTH) and gap.gap.shape == (DEPTH + 1,)
        assert np.all(gap.gap_se > 0) and np.all(np.isfinite(gap.gap))


@pytest.fixture(scope="module")
def live_run():
    if (0.9, WIDTH) not in checks.kernel_width_gaps(STUDY):
        pytest.skip("the width study has no point at beta = 0.9, n = 2000 yet")
    return checks.kernel_rate_run(0.9, 1.0, float(theory.weight_variance(1, 1.0)), width=WIDTH, depth=DEPTH,
                                  steps=STEPS, networks=NETWORKS, batch=BATCH, seed=2000)


@pytest.mark.parametrize("factor", [1.0, 0.95, 1.05])
def test_the_chapters_live_check_passes_at_the_gain_and_fails_five_percent_off(live_run, factor):
    """book/kernel.md's check at its size: the right gain passes, a gain 5 % too low or too high fails."""
    gap = np.abs(checks.kernel_width_gaps(STUDY)[0.9, WIDTH].gap)
    check = checks.kernel_rate_check(live_run, factor * live_run.gain, gap=gap, samples=SAMPLES,
                                     replicas=REPLICAS, seed=90)
    assert check.passed == (factor == 1.0)


VERIFY = Path(__file__).resolve().parents[1] / "results" / "kernel_verification"


def test_rate_held_check_confirms_rejects_and_leaves_undecided():
    """Exact verdicts on constructed rates: all at the target, all 10 % above it, a wide spread, silence."""
    at = checks.RateHeld("at", 0.2, np.full(256, 0.2))  # 256 networks: a silent fraction of 0 bounded below 0.1
    above = checks.RateHeld("above", 0.2, np.full(256, 0.22))
    wide = checks.RateHeld("wide", 0.2, np.linspace(0.1, 0.3, 256))
    silent = checks.RateHeld("silent", 0.2, np.r_[np.zeros(160), np.full(96, 0.2)])
    verdicts = [row["verdict"] for row in checks.rate_held_check([at, above, wide, silent], 1.05, 0.1).rows]
    assert verdicts == ["confirmed", "rejected", "undecided", "rejected"]
    with pytest.raises(ValueError, match="factor"):
        checks.rate_held_check([at], 1.0, 0.1)
    with pytest.raises(ValueError, match="silent"):
        checks.rate_held_check([at], 1.05, 1.5)


def test_rate_held_power_bounds_the_chance_of_confirming_a_wrong_gain():
    """All stored networks of a wrong gain outside the band: power near 1; all inside: power near 0."""
    outside = checks.RateHeld("outside", 0.2, np.full(32, 0.25))
    inside = checks.RateHeld("inside", 0.2, np.full(32, 0.2))
    assert checks.rate_held_power(outside, 192, 1.05, 12) > 1 - 1e-12
    assert checks.rate_held_power(inside, 192, 1.05, 12) < 1e-12


def test_rate_held_check_without_a_silent_part_and_with_a_larger_family():
    """silent=None decides the median alone; a larger Bonferroni family widens the median interval."""
    rates = checks.RateHeld("spread", 0.2, np.random.default_rng(0).normal(0.2, 0.002, 64))
    alone = checks.rate_held_check([rates], 1.05, None)
    assert alone.rows[0]["verdict"] == "confirmed" and "silent" not in alone.name
    wider = checks.rate_held_check([rates], 1.05, None, comparisons=100)
    assert wider.rows[0]["low"] <= alone.rows[0]["low"] and wider.rows[0]["high"] >= alone.rows[0]["high"]
    with pytest.raises(ValueError, match="comparisons"):
        checks.rate_held_check([rates], 1.05, 0.1, comparisons=1)


def _study(folder, beta, steps, factor, rates, claim):
    data = dict(beta=beta, steps=steps, gain_factor=factor, target=0.3, width=1000, depth=4, claim=claim,
                rates=np.asarray(rates).tolist())
    (folder / f"beta{beta}_steps{steps}_gain{factor}.json").write_text(json.dumps(data))


def test_leak_aware_verification_combines_the_parts_and_takes_the_strongest_part_for_power(tmp_path):
    """Constructed study, 4 layers: at beta = 0.9 the last layer cannot tell a wrong gain (it is at the target)
    but the deeper half (layers 3, 4) can, so the whole check has power there; at beta = 0.5 part 3 is not
    claimed; a deeper half off the target makes part 3, and so the setting, rejected."""
    claim = dict(factor=1.05, silent=0.1, deep_factor=1.01, deep_betas=[0.9])
    rng = np.random.default_rng(1)

    def networks(deep, count):  # each network: layers 1-2 anything, 3-4 at ``deep``, the last at 0.3 ± 1 %
        layers = np.column_stack([np.full(count, 0.1), np.full(count, 0.1), np.full(count, deep),
                                  np.full(count, deep)])
        layers[:, -1] = 0.3 * (1 + 0.01 * rng.standard_normal(count))
        layers[:, 2] = 2 * deep - layers[:, -1]  # the deeper half's mean is exactly ``deep``
        return layers

    _study(tmp_path, 0.5, 25, 1.0, networks(0.3, 192), claim)
    _study(tmp_path, 0.9, 25, 1.0, networks(0.3, 192), claim)
    _study(tmp_path, 0.9, 25, 1.05, networks(0.31, 64), claim)
    _study(tmp_path, 0.9, 100, 1.0, networks(0.32, 192), claim)
    study = checks.leak_aware_verification(tmp_path)
    assert study.comparisons == 2 * 3 + 2 and study.networks == 192
    assert study.verdicts == {(0.5, 25): "confirmed", (0.9, 25): "confirmed", (0.9, 100): "rejected"}
    assert checks.rate_held_power(checks.rate_held_study(tmp_path)[0][0.9, 25, 1.05], 192, 1.05, 8) < 0.5
    assert study.power[0.9, 25, 1.05] > 1 - 1e-9
    with pytest.raises(ValueError, match="statistic"):
        checks.rate_held_study(tmp_path, "first")


def test_stored_verification_has_power_against_a_gain_5_percent_off():
    """On the stored study: at every setting the whole check, at the study's size, confirms a gain 5 % off with
    probability below 0.001 for any seed (bounded from the stored networks at that gain)."""
    study = checks.leak_aware_verification(VERIFY)
    if not study.power:
        pytest.skip("no stored verification with wrong gains (scripts/kernel_verification.py)")
    assert {key[:2] for key in study.power} == set(study.verdicts)
    for key, power in study.power.items():
        assert power >= 0.999, key
