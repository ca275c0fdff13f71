"""The claims read from the stored studies: their statuses, conditions and table rows (cheap: no simulation)."""

from snnmath import claims
from snnmath.status import VOCABULARY


def test_stored_claims_have_the_statuses_the_studies_support():
    over_time = claims.first_step_over_time()
    assert over_time.status.word == "refuted" and over_time.source == "paper"
    assert claims.training().status.word == "not reproduced"
    assert claims.robustness().status.word == "not reproduced"
    by_beta = {c.text: c.status.word for c in claims.kernel_width()}
    assert any("0.9" in text and word == "approximate" for text, word in by_beta.items())


def test_leak_aware_settings_are_verified_only_with_power():
    for claim in claims.leak_aware():
        assert claim.status.word in ("verified", "not reproduced", "refuted"), claim
        if claim.status.word == "verified":
            assert "probability" in claim.status.detail


def test_rows_carry_a_word_of_the_vocabulary_and_a_chapter_reference():
    row = claims.training().row()
    assert row["chapter"] == "{doc}`training`"
    assert any(row["status"].startswith(f"**{word}**") for word in VOCABULARY)


def test_the_seed_study_summary_was_written_with_the_runs_it_summarises():
    """benchmarks/seed_shifts.py --shifts 0 rewrites the summary after runs are added or removed."""
    study = claims.seed_study()
    assert study.summary["runs"] == len(study.runs)
    assert {chapter: entry["runs"] for chapter, entry in study.summary["chapters"].items()} == {
        chapter: sum(r["chapter"] == chapter for r in study.runs) for chapter in {r["chapter"] for r in study.runs}}
