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
current = sp.Symbol("h", real=True)
"""Synaptic current :math:`h[t]` of one neuron (the kernel map over time)."""
covariance = sp.Symbol("C", positive=True)
"""An entry of the current covariance :math:`C_l(t, t')` (the kernel map over time)."""


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


@cache
def kernel_map_first_step() -> sp.Expr:
    r"""The kernel map :math:`C_{l+1} = c\,E_{h\sim\mathcal N(0, C_l)}[S(h)S(h)^\top]` at T = 1.

    At t = 0 the LIF recurrence starts from :math:`u[-1] = s[-1] = 0`, so
    :math:`u[0] = \beta\cdot 0 + h[0] - \theta\cdot 0 = h[0]` and :math:`S(h) = H(h[0]-\theta)`;
    the 1 × 1 kernel is :math:`c\int H(h-\theta)^2\varphi_C(h)\,dh`, derived by integration.
    Equal to :func:`variance_map` with V = C (:func:`kernel_map_is_variance_map`).
    """
    potential = beta * 0 + current - theta * 0
    integrand = binary_square(sp.Heaviside(potential - theta) ** 2) * gaussian_density(covariance).subs(u, current)
    return gain * sp.simplify(sp.integrate(integrand, (current, -sp.oo, sp.oo)))


def kernel_map_is_variance_map() -> bool:
    """Whether sympy proves :func:`kernel_map_first_step` equal to :func:`variance_map` (V = C)."""
    return sp.simplify(kernel_map_first_step().subs(covariance, V) - variance_map()) == 0


step, other_step = sp.symbols(r"t t^{\prime}", integer=True, nonnegative=True)
"""Time steps :math:`t, t'` of the kernel map."""
neuron = sp.Symbol("j", integer=True, positive=True)
"""Index of a neuron of the layer below."""


class KernelAverage(sp.Function):
    r"""The average :math:`\mathbb E_{h \sim \mathcal N(0, C_l)}[\cdot]` over one neuron's current sequence."""

    def _latex(self, printer: LatexPrinter) -> str:
        return r"\mathbb{E}_{h \sim \mathcal{N}(0,\, C_l)}\left[" + printer._print(self.args[0]) + r"\right]"


def kernel_map() -> tuple[tuple[sp.Expr, sp.Expr], tuple[sp.Expr, sp.Expr]]:
    r"""The kernel map as two relations ``(lhs, rhs)``: :math:`C_{l+1}(t, t') = c\,K_l(t, t')` and
    :math:`K_l(t, t') = \mathbb E_{h\sim\mathcal N(0, C_l)}[S(h)_t\,S(h)_{t'}]`, S(h) one neuron's spikes."""
    spikes = sp.IndexedBase("S(h)")
    kernel = sp.Function("K_l")(step, other_step)
    return ((sp.Function("C_{l+1}")(step, other_step), gain * kernel),
            (kernel, KernelAverage(spikes[step] * spikes[other_step])))


def empirical_covariance() -> tuple[sp.Expr, sp.Expr]:
    r"""Given the spikes :math:`s_{j,t}` of the n neurons below, the covariance of a neuron's currents
    :math:`h_t = \sum_j w_j s_{j,t}` with i.i.d. :math:`w_j \sim \mathcal N(0, c/n)`:
    :math:`\mathrm{Cov}(h_t, h_{t'}) = \frac{c}{n}\sum_j s_{j,t}\,s_{j,t'}`, as ``(lhs, rhs)``."""
    s, h = sp.IndexedBase("s"), sp.IndexedBase("h")
    return (sp.Function(r"\mathrm{Cov}")(h[step], h[other_step]),
            gain / n * sp.Sum(s[neuron, step] * s[neuron, other_step], (neuron, 1, n)))


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
"""The surrogate derivatives that :func:`surrogate_derivative` knows."""


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


# --- convolutions: the per-position map and the border ---------------------------------
channels = sp.Symbol("C", positive=True, integer=True)
"""Number of input channels :math:`C_{in}` of a convolution."""
kernel_size = sp.Symbol("k", positive=True, integer=True)
"""Side k of a square, odd convolution kernel (k × k taps)."""
row, col = sp.symbols("i j", integer=True, nonnegative=True)
"""Position (row i, column j) of a neuron in its feature map."""
height, width = sp.symbols("H W", positive=True, integer=True)
"""Height and width of the feature maps."""
offset_row, offset_col = sp.symbols("a b", integer=True)
"""Kernel tap offsets, each in :math:`[-r, r]` with :math:`r = (k-1)/2`."""
previous_map = sp.IndexedBase("V_{l-1}", real=True)
"""The variance map of the previous layer, indexed by position."""


def kernel_radius() -> sp.Expr:
    """Half-width :math:`r = (k-1)/2` of the kernel ('same' padding adds r positions per side)."""
    return (kernel_size - 1) / 2


def conv_fan_in() -> sp.Expr:
    r"""Fan-in of a convolution for weight scaling: :math:`n = C_{in} k^2`."""
    return channels * kernel_size**2


@cache
def conv_tap_contribution() -> sp.Expr:
    r"""Variance that one in-image kernel tap adds to :math:`u_l(i,j)`: :math:`\tfrac{c}{k^2} Q(\theta/\sqrt V)`.

    A tap carries :math:`C_{in}` inputs, so it adds :func:`membrane_variance_from_moments` with
    n = :math:`C_{in}`; the weights are scaled for the full fan-in, :math:`\sigma_w^2 = c/(C_{in}k^2)`,
    and V is the variance at the tap's position in layer l − 1.
    """
    per_tap = membrane_variance_from_moments()[1].subs(n, channels)
    return sp.simplify(per_tap.subs(var_w, gain / conv_fan_in()))


def inside_offsets(position: sp.Expr, size: sp.Expr) -> tuple[sp.Expr, sp.Expr]:
    r"""Offsets :math:`a \in [-r, r]` with :math:`0 \le \mathrm{position} + a \le \mathrm{size}-1`:
    :math:`[\max(-r, -\mathrm{position}), \min(r, \mathrm{size}-1-\mathrm{position})]`. Zero padding
    puts zeros (no spike) at every other tap."""
    r = kernel_radius()
    return sp.Max(-r, -position), sp.Min(r, size - 1 - position)


def conv_variance_map(padding: str = "zeros") -> sp.Expr:
    r"""The per-position depth map of a k × k convolution,
    :math:`V_l(i,j) = \sum_{\text{taps}} \tfrac{c}{k^2}\,Q\big(\theta/\sqrt{V_{l-1}(i+a, j+b)}\big)`.

    ``"zeros"``: the sum runs over the in-image taps only (:func:`inside_offsets`), so a border
    neuron with m(i, j) < k² taps inside gets less variance, and since :math:`V_l(i,j)` reads
    :math:`V_{l-1}` up to r positions away the deficit moves r positions inward per layer.
    ``"circular"``: all k² taps, at positions taken modulo H and W.
    """
    r = kernel_radius()
    if padding == "zeros":
        rows, cols = (offset_row, *inside_offsets(row, height)), (offset_col, *inside_offsets(col, width))
        at = previous_map[row + offset_row, col + offset_col]
    elif padding == "circular":
        rows, cols = (offset_row, -r, r), (offset_col, -r, r)
        at = previous_map[sp.Mod(row + offset_row, height), sp.Mod(col + offset_col, width)]
    else:
        raise ValueError(f"padding must be 'zeros' or 'circular', got {padding!r}")
    return sp.Sum(conv_tap_contribution().subs(V, at), rows, cols)


def taps_inside(position: sp.Expr, size: sp.Expr) -> sp.Expr:
    r"""Number of kernel offsets inside the image along one axis,
    :math:`\min(r, \mathrm{size}-1-\mathrm{position}) - \max(-r, -\mathrm{position}) + 1`; a neuron at
    (i, j) has :math:`m(i,j) = C_{in}\,t(i)\,t(j)` inputs (:math:`C_{in}k^2` in the interior)."""
    return sp.Sum(1, (offset_row, *inside_offsets(position, size))).doit()


def uniform_previous_layer(conv_map: sp.Expr) -> sp.Expr:
    r"""A per-position map evaluated for a position-independent previous layer, :math:`V_{l-1}(\cdot) = V`
    (layer 0, or a circular stack): the sum collapses to :math:`\tfrac{c}{k^2}Q(\theta/\sqrt V)` times the
    number of taps it runs over."""
    uniform = conv_map.replace(lambda e: isinstance(e, sp.Indexed) and e.base == previous_map, lambda e: V)
    return sp.factor(uniform.doit())


def border_rescaled_map() -> sp.Expr:
    r"""The zero-padded map rescaled per position by :math:`k^2/(t(i)\,t(j))`, i.e. every neuron's
    current multiplied by :math:`\sqrt{k^2/(t(i)t(j))}`: the average over its in-image taps,
    :math:`V_l(i,j) = \tfrac{c}{t(i)t(j)}\sum_{\text{inside}} Q(\theta/\sqrt{V_{l-1}})`, which keeps a
    uniform fixed point uniform."""
    factor = kernel_size**2 / (taps_inside(row, height) * taps_inside(col, width))
    return factor * conv_variance_map("zeros")


tap_count = sp.Function("t")
"""Display name :math:`t(\\cdot)` for :func:`taps_inside` along one axis."""


def first_layer_map() -> sp.Expr:
    r"""Layer 1 of a zero-padded stack driven by uniform :math:`V_0`:
    :math:`V_1(i,j) = \tfrac{t(i)\,t(j)}{k^2}\,c\,Q(\theta/\sqrt{V_0})`, with ``V`` standing for
    :math:`V_0` and :data:`tap_count` for :func:`taps_inside`. Derived by dividing
    :func:`uniform_previous_layer` by :math:`t(i)t(j)`, which leaves no dependence on position."""
    per_pair = sp.simplify(uniform_previous_layer(conv_variance_map("zeros"))
                           / (taps_inside(row, height) * taps_inside(col, width)))
    if per_pair.free_symbols & {row, col, height, width}:
        raise ArithmeticError(f"the uniform first layer did not factor per in-image tap: {per_pair}")
    return tap_count(row) * tap_count(col) * per_pair


# --- gradients at the first time step ---------------------------------------------------
GRADIENT_MOMENTS = (sp.Symbol(r"\mathbb{E}[\delta_l^2]", positive=True),
                    sp.Symbol(r"\mathbb{E}[\delta_{l,i}\delta_{l,k}]", real=True))
"""Placeholders for :math:`E[\\delta_{l,i}^2]` and the cross moment :math:`E[\\delta_{l,i}\\delta_{l,k}]` (i ≠ k)."""
surrogate_square = sp.Symbol(r"\mathbb{E}[\sigma'^2]", positive=True)
"""Placeholder for :math:`E[\\sigma'(u_{l-1}-\\theta)^2]` in :func:`backward_variance_from_moments`."""


@cache
def backward_variance_from_moments() -> tuple[sp.Expr, sp.Expr]:
    r""":math:`E[\delta_{l-1,j}^2]` of the backward recursion at t = 0, before and after :math:`E[w]=0`.

    At T = 1, :math:`\delta_l = \partial L/\partial u_l` obeys
    :math:`\delta_{l-1,j} = \sigma'(u_{l-1,j}-\theta)\sum_{i=1}^{n} w_{ij}\,\delta_{l,i}`
    (n neurons in layer l; square layers). Assumptions, each explicit: the weights are i.i.d.
    (mean :math:`E[w]`, variance :math:`\sigma_w^2`); and, the mean-field *gradient independence
    assumption*, the weights met in the backward pass are independent of the gradients
    :math:`\delta_l` they multiply, and :math:`\sigma'(u_{l-1,j}-\theta)^2` is uncorrelated with
    :math:`(W_l^\top\delta_l)_j^2`. Neither is exact at finite width (:math:`\delta_l` depends on
    :math:`W_l` and on the spikes :math:`s_{l-1}` through :math:`u_l`); both hold as n → ∞, where
    the mean square of :math:`\delta_l` concentrates. Then
    :math:`E[(\sum_i w_{ij}\delta_{l,i})^2] = n E[w^2] E[\delta_l^2] + n(n-1)E[w]^2 E[\delta_{l,i}\delta_{l,k}]`.
    Returns ``(general, zero_mean_weights)``; the second is
    :math:`E[\sigma'^2]\,n\,\sigma_w^2\,E[\delta_l^2]` whatever the gradients' correlations.
    """
    mean_w, (second_d, cross_d) = MOMENTS[0], GRADIENT_MOMENTS
    second_w = var_w + mean_w**2
    incoming = n * second_w * second_d + n * (n - 1) * mean_w**2 * cross_d
    general = sp.expand(surrogate_square * incoming)
    return general, sp.factor(general.subs(mean_w, 0))


def surrogate_square_moment(name: str) -> sp.Integral:
    r""":math:`E[\sigma'(u-\theta)^2] = \int \sigma'(u-\theta)^2\,\varphi_V(u)\,du` for
    :math:`u \sim \mathcal N(0, V)`, as an unevaluated integral (sympy finds no closed form for
    θ > 0; :mod:`snnmath.theory` evaluates it by quadrature)."""
    return sp.Integral(surrogate_derivative(name) ** 2 * gaussian_density(), (u, -sp.oo, sp.oo))


def backward_gain(name: str) -> sp.Expr:
    r"""Per-layer backward gain :math:`\chi = E[\delta_{l-1}^2]/E[\delta_l^2] = c\,E[\sigma'(u-\theta)^2]`
    with :math:`c = n\sigma_w^2`, from :func:`backward_variance_from_moments` (zero-mean weights)."""
    ratio = backward_variance_from_moments()[1] / GRADIENT_MOMENTS[0]
    return ratio.subs(var_w, gain / n).subs(surrogate_square, surrogate_square_moment(name))


def backward_gain_at_scale(name: str) -> sp.Expr:
    r"""The backward gain under the proposed scale :math:`\sigma_w^2 = V/(n\,Q(\theta/\sqrt V))`:
    :math:`\chi = V\,E[\sigma'^2]/Q(\theta/\sqrt V)`, which is :math:`E[\sigma'^2]/Q(\theta)` at V = 1."""
    return backward_gain(name).subs(gain, sp.simplify(n * weight_variance()))


@cache
def surrogate_square_moment_at_zero_threshold(name: str) -> sp.Expr:
    r""":func:`surrogate_square_moment` at θ = 0, integrated by sympy: elementary (erf, exp) for the
    arctan surrogate, a Meijer G function for the fast sigmoid."""
    return sp.integrate(surrogate_square_moment(name).function.subs(theta, 0), (u, -sp.oo, sp.oo))


def surrogate_peak(name: str) -> sp.Expr:
    r"""The surrogate's largest value :math:`\sigma'(0)` (at u = θ): α/2 (arctan), 1 (fast sigmoid)."""
    return surrogate_derivative(name).subs(u, theta)


def surrogate_square_mass(name: str) -> sp.Expr:
    r""":math:`\int \sigma'(z)^2\,dz`: α/4 (arctan), 2/(3α) (fast sigmoid)."""
    return sp.simplify(sp.integrate(surrogate_derivative(name) ** 2, (u, -sp.oo, sp.oo)))


@cache
def surrogate_square_limits(name: str) -> tuple[sp.Expr, sp.Expr]:
    r"""Leading behaviour of :math:`E[\sigma'(u-\theta)^2]` for a flat (α → 0) and a sharp (α → ∞) surrogate.

    Flat: :math:`\sigma'(z)^2/\sigma'(0)^2 \to 1` pointwise and is at most 1, so by dominated
    convergence :math:`E[\sigma'^2] \sim \sigma'(0)^2`. Sharp: with :math:`u = \theta + y/\alpha`,
    :math:`E[\sigma'^2] = \int \sigma'(y/\alpha)^2\,\varphi_V(\theta + y/\alpha)\,dy/\alpha`; the
    density tends to :math:`\varphi_V(\theta)` and is bounded, so
    :math:`E[\sigma'^2] \sim \varphi_V(\theta)\int\sigma'(z)^2dz`. Both limits are taken by sympy
    on the integrand; returns ``(flat, sharp)``.
    """
    integrand = surrogate_square_moment(name).function
    peak = surrogate_peak(name)
    flat_ratio = sp.limit(sp.simplify(surrogate_derivative(name) ** 2 / peak**2), slope, 0)
    flat = peak**2 * sp.integrate(flat_ratio * gaussian_density(), (u, -sp.oo, sp.oo))
    y = sp.Symbol("y", real=True)
    mass = surrogate_square_mass(name)
    stretched = sp.simplify(integrand.subs(u, theta + y / slope) / slope / mass)
    sharp = mass * sp.integrate(sp.limit(stretched, slope, sp.oo), (y, -sp.oo, sp.oo))
    return sp.simplify(flat), sp.simplify(sharp)


# --- the pixel-driven first layer --------------------------------------------------------
pixel = sp.Symbol("x_j", nonnegative=True)
"""Intensity :math:`x_j \\in [0, 1]` of pixel j: a constant current into input neuron j."""
step = sp.Symbol("t", integer=True, nonnegative=True)
"""Time step t = 0, 1, …"""
steps = sp.Symbol("T", positive=True, integer=True)
"""Number of time steps T."""
input_rate = sp.IndexedBase("p_0", positive=True)
r"""Data-averaged firing probability :math:`p_0[t] = E[K[t]]/n` of the input layer at step t."""
mean_input_rate = sp.Symbol(r"\bar p_0", positive=True)
r"""Time-averaged input rate :math:`\bar p_0 = \frac1T\sum_t p_0[t]`."""
COUNT_MOMENTS = sp.symbols(r"\mathbb{E}[K] \mathbb{E}[K^2]", positive=True)
"""Placeholders for the moments E[K], E[K²] of the number of active inputs over images."""
level, levels = sp.Symbol("v", integer=True, nonnegative=True), sp.Symbol("L", positive=True, integer=True)
"""A pixel level v = 0..L (intensity v/L; L = 255 for MNIST)."""
level_fraction = sp.IndexedBase("h", nonnegative=True)
"""Fraction :math:`h_v` of all pixels (over positions and images) at level v."""
input_spike = sp.Function("s_0")
"""Spike :math:`s_0(x, t)` of an input neuron with constant current x at step t."""


@cache
def free_input_potential() -> sp.Piecewise:
    r"""Input neuron's potential before its first spike, :math:`u_0[t] = \sum_{k=0}^{t}\beta^{t-k}x_j`:
    :math:`x_j(1-\beta^{t+1})/(1-\beta)`, and :math:`x_j(t+1)` at β = 1.

    The recurrence :math:`u[t] = \beta u[t-1] + x_j - \theta s[t-1]` with :math:`u[-1] = s[-1] = 0`
    has no reset term until the neuron has spiked; the leaky case is solved by ``rsolve``, the
    perfect integrator (β = 1) by summing the unrolled recurrence.
    """
    u_of = sp.Function("u")
    leaky = sp.rsolve(u_of(step) - beta * u_of(step - 1) - pixel, u_of(step), {u_of(-1): 0})
    lag = sp.Symbol("k", integer=True, nonnegative=True)
    perfect = sp.summation((beta ** (step - lag) * pixel).subs(beta, 1), (lag, 0, step))
    return sp.Piecewise((perfect, sp.Eq(beta, 1)), (sp.powsimp(sp.factor(leaky)), True))


@cache
def first_spike_intensity() -> sp.Piecewise:
    r"""Smallest intensity that spikes by step t: the input neuron first spikes at the first t with
    :math:`x_j > x^*(t)` (strict threshold), where :math:`x^*(t)` solves
    :func:`free_input_potential` = θ: :math:`\theta(1-\beta)/(1-\beta^{t+1})`, θ/(t+1) at β = 1.

    :math:`x^*(0) = \theta`: with intensities in [0, 1] and θ ≥ 1 no input neuron spikes at t = 0.
    """
    pieces = [(sp.solve(sp.Eq(potential, theta), pixel)[0], condition)
              for potential, condition in free_input_potential().args]
    return sp.Piecewise(*pieces)


def silent_intensity() -> sp.Expr:
    r"""Intensity at or below which an input neuron never spikes (β < 1): :math:`\lim_{t\to\infty}
    x^*(t) = \theta(1-\beta)`, the potential's bound :math:`x_j/(1-\beta)` reaching θ.

    The limit is taken with :math:`\beta = 1/(1+c)`, c > 0 (so that :math:`\beta^{t} \to 0`).
    """
    c = sp.Symbol("c", positive=True)
    leaky = first_spike_intensity().args[1][0]
    limit = sp.limit(leaky.subs(beta, 1 / (1 + c)), step, sp.oo)
    return sp.factor(sp.simplify(limit.subs(c, 1 / beta - 1)))


def input_layer_rate() -> sp.Expr:
    r"""Data-averaged input rate :math:`p_0[t] = \sum_{v=0}^{L} h_v\,s_0(v/L, t)`.

    An input neuron's spike train is a deterministic function of its intensity, so averaging over
    pixels (all positions of all images) is a sum over the L + 1 levels weighted by their
    frequencies :math:`h_v`: exact, no Gaussian assumption.
    """
    return sp.Sum(level_fraction[level] * input_spike(level / levels, step), (level, 0, levels))


def first_layer_current_variance() -> sp.Expr:
    r""":math:`E[I_1[t]^2] = n\sigma_w^2\,p_0[t]` for the synaptic current :math:`I_1[t] = W_1 s_0[t]`.

    Given the image, :math:`I_{1,i}[t]` is a sum of :math:`K[t]` independent zero-mean weights
    (:func:`active_input_variance`); averaging over images replaces K by
    :math:`E[K[t]] = n\,p_0[t]`. Pixel positions need not fire alike: only the count enters.
    """
    return active_input_variance().subs(k, n * input_rate[step])


@cache
def first_layer_weight_variance() -> sp.Expr:
    r"""Data-aware first-layer scale: :math:`\sigma_w^2 = V/(n\,\bar p_0)`.

    Solves :math:`\frac1T\sum_{t=0}^{T-1} E[I_1[t]^2] = V` (the current variance pooled over the
    T steps) for :math:`\sigma_w^2`, and writes :math:`\frac1T\sum_t p_0[t]` as :math:`\bar p_0`.
    For one step t alone, :math:`V/(n\,p_0[t])`: substitute :math:`\bar p_0 = p_0[t]`.
    """
    rate_sum = sp.Sum(input_rate[step], (step, 0, steps - 1))
    pooled = sp.factor_terms(sp.Sum(first_layer_current_variance(), (step, 0, steps - 1)) / steps)
    (solution,) = sp.solve(sp.Eq(V, pooled), var_w)
    return sp.simplify(solution.subs(rate_sum, steps * mean_input_rate))


def paper_scale_current_variance() -> sp.Expr:
    r"""Current variance that the paper's scale :math:`1/(n\,Q(\theta))` hands to the first hidden
    layer at step t: :math:`p_0[t]/Q(\theta)`, one only if the input layer fires at Q(θ)."""
    return sp.simplify(first_layer_current_variance().subs(var_w, weight_variance().subs(V, 1)))


@cache
def scale_mixture_kurtosis() -> sp.Expr:
    r"""Kurtosis :math:`E[I^4]/E[I^2]^2 = 3E[K^2]/E[K]^2` of a current with :math:`I \mid K \sim
    \mathcal N(0, \sigma_w^2 K)`: Gaussian given the image, a scale mixture over images.

    The conditional moments :math:`\int u^m \varphi_{v}(u)\,du` (m = 2, 4) are integrated at
    :math:`v = \sigma_w^2 k` and averaged over k. It is 3 (Gaussian) only if K does not vary.
    """
    mean_k, second_k = COUNT_MOMENTS
    conditional = {m: sp.integrate(u**m * gaussian_density(), (u, -sp.oo, sp.oo)).subs(V, active_input_variance())
                   for m in (2, 4)}
    fourth = sp.expand(conditional[4]).subs(k**2, second_k)
    second = conditional[2].subs(k, mean_k)
    return sp.simplify(fourth / second**2)


# --- two inputs at t = 0: the correlation map ----------------------------------------
rho = sp.Symbol(r"\rho", real=True)
"""Correlation of the membrane potentials of one neuron under two inputs."""
angle = sp.Symbol("t", real=True)
"""Integration variable of the correlation map, :math:`\\rho = \\sin t`."""
u_a, u_b = sp.symbols("u_a u_b", real=True)
"""Standardised membrane potentials :math:`u/\\sqrt V` of one neuron under inputs a and b."""


def bivariate_density() -> sp.Expr:
    r"""Density of :math:`(u_a, u_b)`, standard normal margins with correlation :math:`\rho`."""
    quadratic = (u_a**2 - 2 * rho * u_a * u_b + u_b**2) / (1 - rho**2)
    return sp.exp(-quadratic / 2) / (2 * sp.pi * sp.sqrt(1 - rho**2))


def plackett_relation() -> tuple[sp.Expr, sp.Expr]:
    r"""Plackett's identity in notation, ``(lhs, rhs)``:
    :math:`\partial_\rho\varphi_2 = \partial_{u_a}\partial_{u_b}\varphi_2` (:func:`plackett_identity_holds`)."""
    density = sp.Function(r"\varphi_2")(u_a, u_b, rho)
    return sp.Derivative(density, rho), sp.Derivative(density, u_a, u_b)


def plackett_identity_holds() -> bool:
    r"""Plackett's identity :math:`\partial_\rho \varphi_2 = \partial_{u_a}\partial_{u_b}\varphi_2`, proved by sympy.

    Integrating both sides over :math:`u_a, u_b > x` gives :math:`\partial_\rho P(u_a > x, u_b > x)
    = \varphi_2(x, x; \rho)` (:func:`coincidence_slope`)."""
    density = bivariate_density()
    return sp.simplify(sp.diff(density, rho) - sp.diff(density, u_a, u_b)) == 0


def coincidence_at_zero_correlation_holds() -> bool:
    r"""At :math:`\rho = 0` the two potentials are independent: :math:`P(u_a > x, u_b > x) = Q(x)^2`, integrated."""
    both = sp.integrate(bivariate_density().subs(rho, 0), (u_a, x, sp.oo), (u_b, x, sp.oo))
    return sp.simplify((both - tail_probability(x) ** 2).rewrite(sp.erfc)) == 0


def coincidence_slope() -> sp.Expr:
    r""":math:`\partial_\rho P(u_a > x, u_b > x) = \varphi_2(x, x;\rho) = e^{-x^2/(1+\rho)}/(2\pi\sqrt{1-\rho^2})`."""
    return _cancel_exponents(sp.simplify(bivariate_density().subs({u_a: x, u_b: x})))


def _cancel_exponents(expr: sp.Expr) -> sp.Expr:
    """Cancel common factors inside every exponential (:math:`x^2(1-\rho)/(\rho^2-1) = -x^2/(1+\rho)`),
    so that the form evaluates at ρ = 1 without 0/0."""
    return expr.replace(lambda e: isinstance(e, sp.exp), lambda e: sp.exp(sp.cancel(e.args[0])))


@cache
def correlation_integrand() -> sp.Expr:
    r""":func:`coincidence_slope` after :math:`\rho = \sin t` (with :math:`d\rho = \cos t\,dt`, :math:`|t| \le \pi/2`):
    :math:`e^{-x^2/(1+\sin t)}/(2\pi)`, bounded, so the integral up to :math:`\rho = 1` is proper."""
    substituted = (coincidence_slope() * sp.cos(angle)).subs(rho, sp.sin(angle))
    return substituted.subs(sp.sqrt(1 - sp.sin(angle) ** 2), sp.cos(angle))


def coincidence_probability() -> sp.Expr:
    r""":math:`E[s_a s_b] = P(u_a > x, u_b > x) = Q(x)^2 + \int_0^{\arcsin\rho} e^{-x^2/(1+\sin t)}/(2\pi)\,dt`:
    its value at :math:`\rho = 0` plus the integral of its slope (unevaluated: no closed form for x > 0)."""
    return tail_probability(x) ** 2 + sp.Integral(correlation_integrand(), (angle, 0, sp.asin(rho)))


def correlation_map() -> sp.Expr:
    r"""The correlation of the next layer's potentials, :math:`\rho' = E[s_a s_b]/E[s^2]`, x = θ/√V.

    With zero-mean weights of gain c, :math:`E[u'_a u'_b] = c\,E[s_a s_b]` and
    :math:`E[u'^2] = c\,E[s^2] = c\,Q(x)`: the gain cancels."""
    return coincidence_probability() / tail_probability(x)


def correlation_map_at_zero_threshold() -> sp.Expr:
    r"""At θ = 0: Sheppard's arcsine law :math:`\rho' = 1/2 + \arcsin(\rho)/\pi`."""
    return sp.expand(sp.simplify(correlation_map().subs(x, 0).doit()))


@cache
def correlation_slope() -> sp.Expr:
    r""":math:`\partial\rho'/\partial\rho = \varphi_2(x,x;\rho)/Q(x)`: infinite at ρ = 1 for every x."""
    return _cancel_exponents(sp.simplify(sp.diff(correlation_map(), rho)))


def correlation_slope_over_tail() -> sp.Expr:
    r"""The integrand of :func:`correlation_map` divided by Q(x), the form the numerics integrate."""
    return correlation_integrand() / tail_probability(x)
