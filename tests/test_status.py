"""The status vocabulary and judge(): one word per outcome, never 'verified' without power."""

import pytest

from snnmath.status import POWER, VOCABULARY, Status, judge


def test_every_outcome_maps_to_its_word():
    assert judge(True, identity=True).word == "identity"
    assert judge(False, identity=True).word == "refuted"
    assert judge(True, power=1 - 1e-9, detects="a gain 5 % off").word == "verified"
    assert judge(False, power=1.0).word == "refuted"
    assert judge(None).word == "not reproduced"
    assert judge(None, error=0.19, bound=0.25).word == "approximate"
    assert judge(True, error=0.30, bound=0.25).word == "refuted"  # the stated bound decides, not the flag


def test_verified_needs_power():
    weak = judge(True, power=POWER - 1e-6, detects="a gain 5 % off")
    assert weak.word == "not reproduced" and "a gain 5 % off" in weak.detail
    with pytest.raises(ValueError, match="power"):
        judge(True)
    strong = judge(True, power=1 - 1e-9, detects="a gain 5 % off")
    assert "a gain 5 % off" in strong.detail and "1e-09" in strong.detail


def test_approximation_reports_error_bound_and_growth():
    status = judge(None, error=-0.19, bound=0.25, grows="with the leak")
    assert status.detail.startswith("measured error 19% (stated bound 25%)") and "with the leak" in status.detail
    with pytest.raises(ValueError, match="both"):
        judge(None, error=0.1)


def test_vocabulary_is_closed_and_printed():
    assert set(VOCABULARY) == {"verified", "identity", "approximate", "not reproduced", "refuted"}
    with pytest.raises(ValueError, match="one of"):
        Status("plausible")
    assert Status("refuted", "x").markdown() == "**refuted**: x"
    text = str(judge(True, identity=True, detail="symbolic"))
    assert text == "identity: holds by construction, checks the code; symbolic"
