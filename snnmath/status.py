"""The book's statuses for a result: one small vocabulary, and the one function that turns a check's
outcome, with its power or its measured error, into a status.

========================  =====================================================================
word                      meaning
========================  =====================================================================
``verified``              an exact result, checked by simulation with a check that would have
                          rejected a stated wrong theory with probability at least :data:`POWER`
``identity``              holds by construction (a Gaussian sum given its active count, a normal
                          tail against a random-number generator, a symbolic identity); its check
                          tests the code, not the theory
``approximate``           an approximation whose measured error stays within a bound stated
                          before the run (from the theory or a stored study)
``not reproduced``        a claim tested as stated that the evidence does not support at the
                          level fixed for it, without refuting it
``refuted``               the evidence contradicts it
========================  =====================================================================

The introduction's table, the page of what holds and every chapter's summary take their words
from :func:`judge`, never typed by hand.
"""

from __future__ import annotations

from dataclasses import dataclass

POWER = 0.999
"""The least probability with which the check of a *verified* result rejects the stated wrong theory."""

VOCABULARY: dict[str, str] = {
    "verified": f"an exact result, checked by simulation with a check that rejects a stated wrong theory "
                f"with probability at least {POWER}",
    "identity": "holds by construction; its check tests the code, not the theory",
    "approximate": "an approximation whose measured error stays within a bound stated before the run",
    "not reproduced": "tested as stated, not supported at the level fixed for it, and not refuted",
    "refuted": "the evidence contradicts it",
}
"""Every status word, with its meaning."""


@dataclass(frozen=True)
class Status:
    """A status word from :data:`VOCABULARY` and the detail behind it (what the check detects,
    the measured error, what refutes it)."""

    word: str
    detail: str = ""

    def __post_init__(self) -> None:
        if self.word not in VOCABULARY:
            raise ValueError(f"status must be one of {', '.join(VOCABULARY)}; got {self.word!r}")

    def __str__(self) -> str:
        return f"{self.word}: {self.detail}" if self.detail else self.word

    def markdown(self) -> str:
        """The word in bold, then the detail: for tables and summaries."""
        return f"**{self.word}**: {self.detail}" if self.detail else f"**{self.word}**"


def _percent(fraction: float) -> str:
    return f"{fraction:.1%}" if fraction < 0.1 else f"{fraction:.0%}"


def _miss(probability: float) -> str:
    return f"at most {probability:.0e}" if probability > 1e-15 else "below 1e-15"


def judge(
    passed: bool | None,
    *,
    identity: bool = False,
    power: float | None = None,
    detects: str = "",
    error: float | None = None,
    bound: float | None = None,
    grows: str = "",
    detail: str = "",
) -> Status:
    r"""The status of a result from its check.

    * ``identity=True``: the check tests something that holds by construction; ``identity`` when it
      passes, ``refuted`` (the code breaks it) when it fails.
    * ``error`` and ``bound`` (an approximation): ``approximate`` when the measured relative error is
      within the bound stated before the run, ``refuted`` beyond it; ``grows`` says where it grows.
      ``passed`` is not used: the bound decides.
    * otherwise (an exact result or a claim tested as stated): ``passed=False`` is ``refuted``,
      ``passed=None`` (the test cannot decide) ``not reproduced``; ``passed=True`` is ``verified``
      when the check's ``power`` against the wrong theory ``detects`` is at least :data:`POWER`,
      ``not reproduced`` when it is lower (a check that cannot fail verifies nothing). A passed check
      without a power is refused.

    ``detail`` is added to the status's own detail.
    """
    def status(word: str, own: str) -> Status:
        return Status(word, "; ".join(part for part in (own, detail) if part))

    if identity:
        return status("identity", "holds by construction, checks the code") if passed else \
            status("refuted", "its check fails")
    if error is not None or bound is not None:
        if error is None or bound is None:
            raise ValueError("an approximation needs both its measured error and its stated bound")
        where = f", growing {grows}" if grows else ""
        measured, stated = _percent(abs(error)), _percent(bound)
        if abs(error) <= bound:
            return status("approximate", f"measured error {measured} (stated bound {stated}){where}")
        return status("refuted", f"measured error {measured} beyond the stated bound {stated}{where}")
    if passed is None:
        return status("not reproduced", "")
    if not passed:
        return status("refuted", "")
    if power is None:
        raise ValueError("a passed check needs its power to be called verified")
    wrong = detects or "the wrong theory"
    if power >= POWER:
        return status("verified", f"misses {wrong} with probability {_miss(1 - power)}")
    return status("not reproduced", f"its check passes but detects {wrong} only with probability {power:.2f}")
