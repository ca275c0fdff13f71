"""What the chapters share: one figure and table style, one colour and label per initialiser,
and the helpers that glue equations (printed from :mod:`snnmath.symbolic`) and numbers into the text."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib.style
import numpy as np
import sympy as sp
from IPython.display import Markdown, Math
from matplotlib.axes import Axes
from myst_nb import glue

from . import symbolic as sym
from .init import LABELS

STYLE = {
    "figure.dpi": 110,
    "savefig.dpi": 110,
    "font.size": 10,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "legend.frameon": False,
    "figure.constrained_layout.use": True,
}

INIT_COLOURS = {"snn": "C0", "kaiming": "C1", "glorot": "C2", "pytorch": "C3", "fluctuation": "C4", "snn_uniform": "C5",
                "leak_aware": "C6"}
"""One colour per initialiser, the same in every figure."""
INIT_LABELS = LABELS
"""One label per initialiser (:data:`snnmath.init.LABELS`), the same in every figure and table."""


SEED_SHIFT = "SNNMATH_SEED_SHIFT"
"""Environment variable whose integer value shifts every seed a chapter takes through :func:`seed`."""


def seed(base: int = 0) -> int:
    """A chapter's seed: ``base`` plus the shift in ``$SNNMATH_SEED_SHIFT`` (0 when unset), so that
    ``benchmarks/seed_shifts.py`` can rerun a chapter's checks with other seeds without editing it."""
    shift = os.environ.get(SEED_SHIFT, "0")
    try:
        value = int(shift)
    except ValueError:
        raise ValueError(f"{SEED_SHIFT} must be an integer >= 0, got {shift!r}") from None
    if value < 0 or base < 0:
        raise ValueError(f"{SEED_SHIFT} and the base seed must be >= 0, got {shift!r} and {base!r}")
    return base + value


def glue_equation(name: str, lhs: Any, rhs: Any, relation: Any = sp.Eq, tail: bool = False) -> None:
    r"""Glue the relation ``lhs ~ rhs`` (``sympy.Eq`` by default), printed by :func:`snnmath.symbolic.latex`,
    under ``name`` for ``{glue:math}``; ``tail=True`` writes the normal tail as :math:`Q(z)`
    (:func:`snnmath.symbolic.with_tail`)."""
    glue(name, Math(_relation(lhs, rhs, relation, tail)), display=False)


def _relation(lhs: Any, rhs: Any, relation: Any, tail: bool) -> str:
    """LaTeX of ``relation(lhs, rhs)``, unevaluated, with the normal tail as Q(z) when ``tail``."""
    return sym.latex(relation(lhs, sym.with_tail(rhs) if tail else rhs, evaluate=False))


def glue_numbers(**values: Any) -> None:
    """Glue each keyword's value under its name (underscores become hyphens), for ``{glue:text}``; a NumPy
    scalar is glued as the Python number it holds, so that a format such as ``:.1%`` applies to it."""
    for key, value in values.items():
        glue(key.replace("_", "-"), value.item() if isinstance(value, np.generic) else value, display=False)


def glue_status(name: str, *statuses: Any) -> None:
    """Glue one or more :class:`snnmath.status.Status` as Markdown under ``name``, for ``{glue:md}`` in a
    chapter's summary: each word in bold with its detail, separated by semicolons."""
    glue(name, Markdown("; ".join(status.markdown() for status in statuses)), display=False)


def glue_claims(name: str, claims: Iterable[Any]) -> None:
    """Glue a Markdown list of :class:`snnmath.claims.Claim` objects under ``name``, for a ``{glue:md}``
    block: each claim, its conditions in brackets, then its status."""
    glue(name, Markdown("\n".join(f"- {c.text} ({c.conditions}): {c.status.markdown()}" for c in claims)),
         display=False)


def small_probability(probability: float) -> str:
    """A small probability as prose: ``"at most 5e-08"``, or ``"below 1e-15"`` where double precision
    cannot resolve it (a probability computed as one minus a number within rounding of 1)."""
    return f"at most {probability:.0e}" if probability > 1e-15 else "below 1e-15"


def use_book_style() -> None:
    """Apply the book's matplotlib style."""
    matplotlib.style.use(STYLE)  # a dict of rcParams, applied as rcParams.update would


def _format(value: Any) -> str:
    if isinstance(value, bool):
        return "✓" if value else "✗"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def table(rows: Iterable[dict[str, Any]], columns: Sequence[str]) -> Markdown:
    """A Markdown table of ``columns`` from a list of dicts (booleans as ✓/✗)."""
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(_format(row[c]) for c in columns) + " |" for row in rows]
    return Markdown("\n".join(lines))


def cobweb(ax: Axes, path: np.ndarray, **line: Any) -> None:
    """Draw the cobweb (V0,V0) → (V0,V1) → (V1,V1) → … of a map's trajectory ``path``."""
    xs = np.repeat(path[:-1], 2)
    ys = np.empty_like(xs)
    ys[0::2], ys[1::2] = path[:-1], path[1:]
    ax.plot(xs, ys, lw=0.8, **line)


def glue_equations(name: str, *pairs: tuple[Any, Any], relation: Any = sp.Eq, tail: bool = False) -> None:
    r"""Like :func:`glue_equation` for several relations ``lhs ~ rhs``, given as ``(lhs, rhs)`` pairs,
    set side by side in one formula (separated by ``\qquad``), e.g. the two limits of one quantity."""
    parts = [_relation(lhs, rhs, relation, tail) for lhs, rhs in pairs]
    glue(name, Math(r",\qquad ".join(parts)), display=False)
