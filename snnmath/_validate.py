"""Parameter validation shared by every public function.

Each check raises ``ValueError`` naming the parameter and its allowed range, so that
bad input never turns into a NaN or a silently wrong number downstream.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import NDArray


def real_array(
    name: str,
    value: Any,
    *,
    low: float | None = None,
    high: float | None = None,
    low_open: bool = False,
) -> NDArray[np.float64]:
    """Return ``value`` as a float64 array after checking it is finite and in range.

    The allowed range is ``[low, high]``, or ``(low, high]`` when ``low_open``.
    """
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a real number or array of them, got {value!r}") from None
    bounds = _describe(low, high, low_open)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite{bounds}, got {value!r}")
    too_low = low is not None and np.any(arr <= low if low_open else arr < low)
    too_high = high is not None and np.any(arr > high)
    if too_low or too_high:
        raise ValueError(f"{name} must be finite{bounds}, got {value!r}")
    return arr


def real_scalar(name: str, value: Any, **bounds: Any) -> float:
    """Like :func:`real_array` but for a single number."""
    arr = real_array(name, value, **bounds)
    if arr.ndim != 0:
        raise ValueError(f"{name} must be a single number, got an array of shape {arr.shape}")
    return float(arr)


def integer(name: str, value: Any, *, low: int = 1, high: int | None = None) -> int:
    """Return ``value`` as an int after checking ``low <= value (<= high)``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        if not (isinstance(value, (float, np.floating)) and math.isfinite(value) and value == int(value)):
            raise ValueError(f"{name} must be an integer{_describe(low, high, False)}, got {value!r}")
    ivalue = int(value)
    if ivalue < low or (high is not None and ivalue > high):
        raise ValueError(f"{name} must be an integer{_describe(low, high, False)}, got {value!r}")
    return ivalue


def window_steps(name: str, value: Any) -> int | float:
    """Return a number of time steps: an int >= 1, or ``math.inf`` for the stationary limit."""
    if isinstance(value, (float, np.floating)) and value == math.inf:
        return math.inf
    try:
        return integer(name, value, low=1)
    except ValueError:
        raise ValueError(f"{name} must be an integer >= 1 or math.inf (the stationary limit), got {value!r}") from None


def _describe(low: float | None, high: float | None, low_open: bool) -> str:
    if low is not None and high is not None:
        return f" in {'(' if low_open else '['}{low}, {high}]"
    if low is not None:
        return f" {'>' if low_open else '>='} {low}"
    if high is not None:
        return f" <= {high}"
    return ""
