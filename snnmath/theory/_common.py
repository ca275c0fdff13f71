"""What every theory module shares: compiling a formula of :mod:`snnmath.symbolic` to numpy
code in its tail-stable form, and validating thresholds and results."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

import numpy as np
import scipy.special
import sympy as sp
from numpy.typing import ArrayLike, NDArray

from .. import symbolic as sym
from .._validate import real_array

Array = NDArray[np.float64]

_MODULES: list[Any] = [{"erfcx": scipy.special.erfcx}, "scipy", "numpy"]


@cache
def compiled(formula: Callable[[], sp.Expr], *args: sp.Symbol) -> Callable[..., Any]:
    """Numpy code of the tail-stable form (:func:`snnmath.symbolic.stable`) of ``formula()``
    over ``args``, compiled once per formula and argument list."""
    return compile_expression(formula(), *args)


def compile_expression(expr: sp.Expr, *args: sp.Symbol) -> Callable[..., Any]:
    """``lambdify`` the tail-stable form of ``expr`` over ``args`` (uncached: for expressions
    built from several formulas; cache the caller)."""
    return sp.lambdify(args, sym.stable(expr), modules=_MODULES)


def thresholds(theta: ArrayLike) -> Array:
    """``theta`` as a float array, checked to be finite and ≥ 0."""
    return real_array("theta", theta, low=0.0)


def finite_result(value: Any, what: str) -> Array:
    """``value`` as a float64 array, or a ``ValueError`` where it overflowed float64."""
    out = np.asarray(value, dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError(
            f"{what} is not representable in float64 for these parameters "
            "(theta/sqrt(variance) beyond about 37 standard deviations)"
        )
    return out
