r"""Symbolic derivations (sympy): the single source of truth for every formula.

Every function returns a sympy object; :func:`latex` prints it for the book and
:mod:`snnmath.theory` turns it into vectorised numpy code with ``lambdify``. Nothing
here is typed as a result: each expression is *derived* from the model

.. math::  u_l = \sum_{j=1}^{n} w_{lj}\, s_{l-1,j}, \qquad s = H(u - \theta),

with zero-mean i.i.d. weights independent of the spikes, and Gaussian membrane
potentials :math:`u \sim \mathcal N(0, V)` in the previous layer.

Numerical stability: tail probabilities are written with ``erfc``; for ratios and
reciprocals of them :func:`stable` rewrites ``erfc(z) = exp(-z**2) erfcx(z)`` so that
the Gaussian factors cancel symbolically and thresholds far in the tail stay finite.
"""

from __future__ import annotations

from functools import cache

import sympy as sp
from sympy.printing.latex import LatexPrinter

# --- symbols -------------------------------------------------------------------------
n = sp.Symbol("n", positive=True, integer=True)
"""Fan-in (layer width) :math:`n`."""
var_w = sp.Symbol(r"\sigma_w^2", positive=True)
"""Weight variance :math:`\\mathrm{Var}[w]`."""
theta = sp.Symbol(r"\theta", nonnegative=True)
"""Firing threshold :math:`\\theta`."""
V = sp.Symbol("V", positive=True)
"""Membrane variance of the previous layer (or the target variance)."""
gain = sp.Symbol("c", positive=True)
"""Gain :math:`c = n\\,\\mathrm{Var}[w]` of the variance map."""
x = sp.Symbol("x", positive=True)
"""Standardised threshold :math:`x = \\theta/\\sqrt{V}`."""
u = sp.Symbol("u", real=True)
"""Membrane potential."""
k = sp.Symbol("k", nonnegative=True, integer=True)
"""Number of active (spiking) inputs of a neuron."""


MOMENTS = sp.symbols("E_w E_s E_s2", real=True)
"""Placeholders for the moments E[w], E[s], E[s²] in :func:`membrane_variance_from_moments`."""
_MOMENT_NAMES = dict(zip(MOMENTS, (r"\mathbb{E}[w]", r"\mathbb{E}[s]", r"\mathbb{E}[s^2]"), strict=True))


class erfcx(sp.Function):  # noqa: N801  (named like scipy.special.erfcx)
    r"""Scaled complementary error function :math:`\mathrm{erfcx}(z) = e^{z^2}\mathrm{erfc}(z)`."""

    @classmethod
    def eval(cls, z: sp.Expr) -> sp.Expr | None:
        return sp.Integer(1) if z == 0 else None

    def fdiff(self, argindex: int = 1) -> sp.Expr:
        z = self.args[0]
        return 2 * z * erfcx(z) - 2 / sp.sqrt(sp.pi)

    def _eval_rewrite_as_erfc(self, z: sp.Expr, **kwargs: object) -> sp.Expr:
        return sp.exp(z**2) * sp.erfc(z)

    def _latex(self, printer: LatexPrinter) -> str:
        return r"\operatorname{erfcx}\left(" + printer._print(self.args[0]) + r"\right)"


class _Printer(LatexPrinter):
    """sympy's LaTeX printer, with H for the Heaviside step (sympy's default is θ)."""

    def _print_Heaviside(self, expr: sp.Heaviside, exp: str | None = None) -> str:
        tex = r"H\left(" + self._print(expr.args[0]) + r"\right)"
        return tex if exp is None else f"{tex}^{{{exp}}}"


def latex(expr: sp.Basic) -> str:
    """LaTeX of a sympy expression or relation, as shown in the book."""
    return _Printer({"symbol_names": _MOMENT_NAMES}).doprint(expr)


def stable(expr: sp.Expr) -> sp.Expr:
    r"""Rewrite :math:`\mathrm{erfc}(z) = e^{-z^2}\mathrm{erfcx}(z)` and cancel the exponentials.

    The result is mathematically identical to ``expr`` but evaluates without 0/0 or
    overflow for thresholds far in the Gaussian tail.
    """
    rewritten = expr.replace(sp.erfc, lambda z: sp.exp(-(z**2)) * erfcx(z))
    return sp.powsimp(sp.expand_power_base(rewritten, force=True), combine="exp")


# --- the Gaussian spike --------------------------------------------------------------
def gaussian_density(variance: sp.Expr = V) -> sp.Expr:
    """Density of :math:`u \\sim \\mathcal N(0, V)`."""
    return sp.exp(-(u**2) / (2 * variance)) / sp.sqrt(2 * sp.pi * variance)


def spike() -> sp.Expr:
    """The spike :math:`s = H(u - \\theta)` (strict threshold; the set u = θ has measure 0)."""
    return sp.Heaviside(u - theta)


def binary_square(expr: sp.Expr) -> sp.Expr:
    """Apply :math:`H^2 = H`: a spike is 0 or 1, so it equals its square."""
    return expr.replace(lambda e: e.is_Pow and isinstance(e.base, sp.Heaviside), lambda e: e.base)


@cache
def second_moment_of_spike() -> sp.Expr:
    r""":math:`E[s^2] = \int H(u-\theta)^2\,\varphi_V(u)\,du = P(u>\theta)
    = \tfrac12\mathrm{erfc}\big(\theta/\sqrt{2V}\big)`, derived by integration."""
    integrand = binary_square(spike() ** 2) * gaussian_density()
    return sp.simplify(sp.integrate(integrand, (u, -sp.oo, sp.oo)))


def tail_probability(z: sp.Expr) -> sp.Expr:
    r"""Standard normal tail :math:`Q(z) = P(\xi > z)`: :func:`second_moment_of_spike` at θ = z, V = 1."""
    return second_moment_of_spike().subs({theta: z, V: 1})


def normal_density(z: sp.Expr) -> sp.Expr:
    r"""Standard normal density :math:`\varphi(z)`."""
    return gaussian_density(sp.Integer(1)).subs(u, z)


# --- the variance map ----------------------------------------------------------------
@cache
def membrane_variance_from_moments() -> tuple[sp.Expr, sp.Expr]:
    r"""Var[u] of :math:`u=\sum_j w_j s_j` from moments, before and after :math:`E[w]=0`.

    With i.i.d. weights independent of the spikes and spikes identically distributed,
    :math:`E[u^2] = n E[w^2]E[s^2] + n(n-1)E[w]^2E[s]^2` and :math:`E[u] = nE[w]E[s]`.
    Returns ``(general, zero_mean_weights)``; the second is :math:`n\,\sigma_w^2 E[s^2]`.
    """
    mean_w, mean_s, second_s = MOMENTS
    second_w = var_w + mean_w**2
    second_u = n * second_w * second_s + n * (n - 1) * mean_w**2 * mean_s**2
    variance_u = sp.expand(second_u - (n * mean_w * mean_s) ** 2)
    zero_mean = sp.simplify(variance_u.subs(mean_w, 0))
    return variance_u, zero_mean.subs(second_s, second_moment_of_spike())


@cache
def variance_map() -> sp.Expr:
    r"""The depth map :math:`V_l = c\,Q(\theta/\sqrt{V_{l-1}})` with :math:`c = n\sigma_w^2`.

    Here ``V`` stands for :math:`V_{l-1}` and ``gain`` for :math:`c`.
    """
    return membrane_variance_from_moments()[1].subs(var_w, gain / n)


@cache
def weight_variance() -> sp.Expr:
    r"""Closed-form scale: solve :math:`V = n\sigma_w^2 Q(\theta/\sqrt V)` for :math:`\sigma_w^2`,
    giving :math:`\sigma_w^2 = V / (n\,Q(\theta/\sqrt V))`."""
    fixed = sp.Eq(V, membrane_variance_from_moments()[1])
    (solution,) = sp.solve(fixed, var_w)
    return solution


def kaiming_limit() -> sp.Expr:
    """The closed-form scale at θ = 0: :math:`2V/n` (Kaiming's 2/n at V = 1)."""
    return sp.simplify(weight_variance().subs(theta, 0))


@cache
def map_slope() -> sp.Expr:
    r"""Slope :math:`\partial V_l/\partial V_{l-1}` of the variance map."""
    return sp.simplify(sp.diff(variance_map(), V))


@cache
def fixed_point_gain() -> sp.Expr:
    r"""Gain at which V is a fixed point: solve :math:`V = c\,Q(\theta/\sqrt V)` for c."""
    (solution,) = sp.solve(sp.Eq(V, variance_map()), gain)
    return solution


@cache
def slope_at_fixed_point() -> sp.Expr:
    r"""Slope of the map at a non-zero fixed point, as a function of :math:`x = \theta/\sqrt V`.

    Substituting the fixed-point gain into :func:`map_slope` leaves
    :math:`x\,\varphi(x) / (2 Q(x))`: stability depends on θ and V only through x.
    """
    at_fixed = map_slope().subs(gain, fixed_point_gain())
    return sp.simplify(at_fixed.subs(theta, x * sp.sqrt(V)))


def stability_condition() -> sp.Rel:
    r"""A non-zero fixed point is attracting iff its slope is below one (the slope is ≥ 0)."""
    return sp.Lt(slope_at_fixed_point(), 1)


def fixed_point_gain_of_ratio() -> sp.Expr:
    r"""The fixed-point gain written through :math:`x=\theta/\sqrt V`: :math:`c = \theta^2/(x^2 Q(x))`."""
    return sp.simplify(fixed_point_gain().subs(V, theta**2 / x**2))


def saddle_node_equation() -> sp.Eq:
    r"""Where the two non-zero fixed points merge: :math:`\partial_x \log c(x) = 0`.

    Along the fixed-point curve, :math:`c(x)=\theta^2/(x^2Q(x))` has one minimum in x;
    below it only the silent fixed point exists. The condition is written as
    :math:`x\varphi(x) = 2Q(x)`, which is also slope = 1 (see :func:`saddle_node_is_unit_slope`).
    """
    q = tail_probability(x)
    return sp.Eq(x * normal_density(x), 2 * q)


def saddle_node_is_unit_slope() -> bool:
    """Check symbolically that d log c/dx = 0 and slope = 1 are the same condition."""
    dlogc = sp.diff(sp.log(fixed_point_gain_of_ratio()), x)
    eq = saddle_node_equation()
    # d log c/dx = -(2Q - x φ)/(x Q): zero exactly where x φ = 2Q.
    identity_1 = sp.simplify(dlogc + (eq.rhs - eq.lhs) / (x * tail_probability(x)))
    identity_2 = sp.simplify(slope_at_fixed_point() - eq.lhs / eq.rhs)
    return bool(identity_1 == 0 and identity_2 == 0)


def critical_ratio(digits: int = 30) -> sp.Float:
    r"""The root :math:`x_c` of :math:`x\varphi(x) = 2Q(x)` to ``digits`` significant digits.

    For a target variance V the proposed scale's fixed point stops attracting at
    :math:`\theta_c = x_c\sqrt V`; the saddle-node boundary is :math:`c_{sn}(\theta) =
    \theta^2/(x_c^2 Q(x_c))`.
    """
    eq = saddle_node_equation()
    return sp.nsolve(eq.lhs - eq.rhs, x, 1.2, prec=digits)


# --- exact finite width at t = 0 -----------------------------------------------------
def active_input_variance() -> sp.Expr:
    r"""Given k active inputs, :math:`u_i = \sum_{j \in \mathrm{active}} w_{ij} \sim
    \mathcal N(0, k\sigma_w^2)`: the variance of a sum of k independent Gaussian weights."""
    return k * var_w


def transition_spike_probability() -> sp.Expr:
    r"""P(a neuron spikes | k active inputs) :math:`= Q(\theta/\sqrt{k\sigma_w^2})`.

    Neurons have disjoint weight rows, so given k they spike independently and the
    number active in the next layer is :math:`\mathrm{Binomial}(n, \cdot)`.
    """
    return second_moment_of_spike().subs(V, active_input_variance())


# --- display -------------------------------------------------------------------------
Q = sp.Function("Q")
"""The standard normal tail :math:`Q(z) = \\tfrac12\\mathrm{erfc}(z/\\sqrt2)`, for display."""


def with_tail(expr: sp.Basic) -> sp.Basic:
    r"""Write every :math:`\mathrm{erfc}(z)` as :math:`2Q(\sqrt2 z)` (display only)."""
    return expr.replace(sp.erfc, lambda z: 2 * Q(sp.sqrt(2) * z))


# --- beyond the first step: stationary moments with leak and reset -------------------
beta = sp.Symbol(r"\beta", nonnegative=True)
"""Leak factor β."""
p = sp.Symbol("p", positive=True)
"""Stationary firing probability per step."""
mu, sigma = sp.Symbol(r"\mu", real=True), sp.Symbol(r"\sigma", positive=True)
"""Stationary membrane mean and standard deviation."""
input_mean, input_var = sp.Symbol(r"\mu_I", real=True), sp.Symbol(r"\sigma_I^2", positive=True)
"""Mean and variance of the input current per step."""


def stationary_mean() -> sp.Expr:
    r"""Stationary mean from :math:`E[u] = \beta E[u] + \mu_I - \theta p`:
    :math:`\mu = (\mu_I - \theta p)/(1-\beta)` (β < 1)."""
    (solution,) = sp.solve(sp.Eq(mu, beta * mu + input_mean - theta * p), mu)
    return solution


def spike_membrane_covariance() -> sp.Expr:
    r""":math:`\mathrm{Cov}(u, s) = E[(u-\mu)H(u-\theta)]` for :math:`u\sim\mathcal N(\mu,\sigma^2)`,
    by integration: :math:`\sigma\,\varphi((\theta-\mu)/\sigma)`."""
    density = sp.exp(-((u - mu) ** 2) / (2 * sigma**2)) / sp.sqrt(2 * sp.pi * sigma**2)
    return sp.simplify(sp.integrate((u - mu) * density, (u, theta, sp.oo)))


@cache
def stationary_variance_equation() -> sp.Eq:
    r"""Stationary variance of :math:`u_t = \beta u_{t-1} + I_t - \theta s_{t-1}`.

    Assumptions, each explicit: the input :math:`I_t` is independent of the past (fresh
    each step, so it is uncorrelated with :math:`u_{t-1}` and :math:`s_{t-1}`); the
    process is stationary; :math:`u` is Gaussian for the spike–membrane covariance; and
    :math:`\mathrm{Var}[s] = p(1-p)` because :math:`s^2 = s`. Then
    :math:`\sigma^2 = \beta^2\sigma^2 + \sigma_I^2 + \theta^2 p(1-p) - 2\beta\theta\,\mathrm{Cov}(u,s)`.
    """
    cov_us, cov_ui, cov_is = sp.symbols("C_us C_uI C_Is", real=True)
    var_s = p - p**2  # E[s^2] - E[s]^2, and E[s^2] = E[s] = p because s^2 = s
    variance = (beta**2 * sigma**2 + input_var + theta**2 * var_s
                + 2 * beta * cov_ui - 2 * beta * theta * cov_us - 2 * theta * cov_is)
    fresh_input = {cov_ui: 0, cov_is: 0}
    return sp.Eq(sigma**2, variance.subs(fresh_input).subs(cov_us, spike_membrane_covariance()))


def leak_reset_input_variance() -> sp.Expr:
    r"""Input variance that holds the stationary membrane at :math:`\mu = 0`, :math:`\sigma = 1`:
    :math:`\sigma_I^2 = 1 - \beta^2 - \theta^2 p(1-p) + 2\beta\theta\varphi(\theta)`, p = Q(θ)."""
    eq = stationary_variance_equation().subs({mu: 0, sigma: 1})
    (solution,) = sp.solve(eq, input_var)
    return sp.simplify(solution.subs(p, tail_probability(theta)))


def leak_reset_weight_variance() -> sp.Expr:
    r"""Leak-and-reset-aware scale: with i.i.d. inputs firing at p = Q(θ),
    :math:`\sigma_I^2 = n\sigma_w^2 p`, so :math:`\sigma_w^2 = \sigma_I^2/(np)`."""
    return leak_reset_input_variance() / (n * tail_probability(theta))


def circulating_scales() -> dict[str, sp.Expr]:
    r"""The two leak-and-reset-aware scales in circulation (one is in the reference code of the paper), to test:
    ``"phi_over_p"`` (the reference code's) and ``"phi"``."""
    q, phi = tail_probability(theta), normal_density(theta)
    return {
        "phi_over_p": (1 - beta**2 - theta**2 * q * (1 - q) + 2 * beta * theta * phi / q) / (n * q),
        "phi": (1 - beta**2 - theta**2 * q * (1 - q) + 2 * beta * theta * phi) / (n * q),
    }


# --- surrogate derivatives -------------------------------------------------------------
slope = sp.Symbol(r"\alpha", positive=True)
"""Slope parameter of a surrogate derivative (snnTorch's ``alpha`` or ``slope``)."""
SURROGATE_NAMES = ("arctan", "fast_sigmoid")


def surrogate_derivative(name: str) -> sp.Expr:
    r"""The surrogate derivative :math:`\sigma'(u - \theta)` that snnTorch's backward pass uses.

    ``"arctan"`` (``surrogate.atan``): the derivative of :math:`\tfrac1\pi\arctan(\tfrac\pi2\alpha z)`,
    :math:`\sigma'(z) = \frac{\alpha/2}{1 + (\pi\alpha z/2)^2}`, which integrates to 1.
    ``"fast_sigmoid"`` (``surrogate.fast_sigmoid``): :math:`\sigma'(z) = 1/(\alpha|z| + 1)^2`,
    which integrates to :math:`2/\alpha`. Both are functions of :math:`z = u - \theta`.
    """
    z = u - theta
    if name == "arctan":
        return (slope / 2) / (1 + (sp.pi / 2 * slope * z) ** 2)
    if name == "fast_sigmoid":
        return 1 / (slope * sp.Abs(z) + 1) ** 2
    raise ValueError(f"surrogate must be one of {SURROGATE_NAMES}, got {name!r}")
