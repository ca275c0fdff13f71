"""One figure and table style for the whole book."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import matplotlib.style
import numpy as np
from IPython.display import Markdown
from matplotlib.axes import Axes

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

INIT_COLOURS = {"snn": "C0", "kaiming": "C1", "glorot": "C2", "pytorch": "C3", "fluctuation": "C4"}
"""One colour per initialiser, the same in every figure."""


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
