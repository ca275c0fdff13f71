r"""In-place weight initialisers in the style of ``torch.nn.init``.

Each takes a weight ``tensor`` (Linear: ``(out, in)``; Conv: ``(out, in, *kernel)``), an
optional keyword-only ``torch.Generator``, fills the tensor and returns it. The fan-in is
``in * prod(kernel)``. The weight variances, all from :func:`variance_of`:

=========================  =========================================================
``snn_normal_``            :math:`V/(n\,Q(\theta/\sqrt V))`, the proposed scale
``snn_uniform_``           the same variance, uniform on :math:`\pm\sqrt{3\,\mathrm{Var}[w]}`
``kaiming_normal_``        :math:`2/n_{in}` (He et al. 2015)
``glorot_normal_``         :math:`2/(n_{in}+n_{out})` (Glorot & Bengio 2010)
``pytorch_default_``       uniform on :math:`\pm 1/\sqrt{n_{in}}`, variance :math:`1/(3n_{in})`
``fluctuation_driven_``    Rossbroich, Gygax & Zenke (2022), see its docstring
``leak_aware_normal_``     :math:`c/n_{in}`, c the leak-aware gain for leak β over T steps from rest (or T = ∞)
=========================  =========================================================

:func:`apply_` initialises every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` of a model (an
snnTorch network included) with one of them in one call. :data:`SCHEMES` is the one registry of them by name. The
Kaiming, Glorot and PyTorch-default baselines are ``torch.nn.init``'s own functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import nn

from . import theory
from ._validate import integer, real_scalar

Initialiser = Callable[[torch.Tensor, "torch.Generator | None"], torch.Tensor]
"""An in-place initialiser ``f(tensor, generator)`` that fills ``tensor`` and returns it."""


def fans(tensor: torch.Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a Linear or Conv weight: ``in·k…`` and ``out·k…``."""
    if tensor.dim() < 2:
        raise ValueError(f"tensor must have at least 2 dimensions (out, in, ...), got shape {tuple(tensor.shape)}")
    receptive = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def psp_integrals(beta: float) -> tuple[float, float]:
    r"""Integrals of the discrete PSP kernel :math:`\varepsilon[t] = \beta^t`:
    :math:`\bar\varepsilon = \sum_t \beta^t = 1/(1-\beta)` and
    :math:`\hat\varepsilon = \sum_t \beta^{2t} = 1/(1-\beta^2)` (β < 1)."""
    b = real_scalar("beta", beta, low=0.0, high=1.0)
    if b == 1.0:
        raise ValueError(
            "beta must be < 1 for the fluctuation-driven scale (the PSP kernel does not decay at beta = 1)"
        )
    return 1.0 / (1.0 - b), 1.0 / (1.0 - b * b)


def fluctuation_moments(
    fan_in: int, threshold: float = 1.0, beta: float = 0.5, mean: float = 0.0, xi: float = 1.0,
    rate: float | None = None,
) -> tuple[float, float]:
    r"""Weight mean and variance of Rossbroich, Gygax & Zenke (2022) for this book's neuron.

    Inputs firing at ``rate`` ν per step drive a membrane with PSP kernel β^t (reset
    ignored). Asking for membrane mean :math:`\mu_U` = ``mean`` and standard deviation
    :math:`\sigma_U = (\theta-\mu_U)/\xi` gives

    .. math::  \mu_w = \frac{\mu_U}{n\nu\bar\varepsilon}, \qquad
               \sigma_w^2 = \frac{((\theta-\mu_U)/\xi)^2}{n\nu\hat\varepsilon} - \mu_w^2 .

    Defaults: :math:`\mu_U = 0`, ξ = 1 (σ_U = θ) and ν = Q(ξ), the rate such a membrane
    itself produces at its first step, so that the choice is self-consistent over depth.
    At β = 0 with ξ = θ this is exactly the proposed scale.
    """
    n = integer("fan_in", fan_in, low=1)
    th = real_scalar("threshold", threshold, low=0.0)
    mu = real_scalar("mean", mean)
    if mu >= th:
        raise ValueError(f"mean must be below the threshold {th} (fluctuation-driven regime), got {mean!r}")
    x = real_scalar("xi", xi, low=0.0, low_open=True)
    if rate is None:
        nu = float(theory.spike_probability(x))
    else:
        nu = real_scalar("rate", rate, low=0.0, high=1.0, low_open=True)
    eps_bar, eps_hat = psp_integrals(beta)
    mean_w = mu / (n * nu * eps_bar)
    variance = ((th - mu) / x) ** 2 / (n * nu * eps_hat) - mean_w**2
    if variance < 0:
        raise ValueError("mean is too large for these parameters: the weight variance would be negative")
    return mean_w, variance


@torch.no_grad()
def uniform_with_variance_(
    tensor: torch.Tensor, variance: float, *, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Fill with the zero-mean uniform law of this variance: on :math:`\pm b`,
    :math:`b = \sqrt{3\,\mathrm{variance}}`."""
    bound = math.sqrt(3.0 * real_scalar("variance", variance, low=0.0))
    return tensor.uniform_(-bound, bound, generator=generator)


@torch.no_grad()
def normal_with_variance_(
    tensor: torch.Tensor, variance: float, *, mean: float = 0.0, generator: torch.Generator | None = None
) -> torch.Tensor:
    r"""Fill with :math:`\mathcal N(\mathrm{mean}, \mathrm{variance})`."""
    var = real_scalar("variance", variance, low=0.0)
    return tensor.normal_(real_scalar("mean", mean), math.sqrt(var), generator=generator)


def gain_normal_(tensor: torch.Tensor, gain: float, *, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Normal weights with :math:`\mathrm{Var}[w] = c/n_{in}` for a given gain c = n·Var[w]."""
    c = real_scalar("gain", gain, low=0.0, low_open=True)
    return normal_with_variance_(tensor, c / fans(tensor)[0], generator=generator)


def margin_target(
    threshold: float, slope: float, target_variance: float = 1.0, beta: float | None = None,
    steps: int | float | None = None, *, name: Callable[[str], str] = str,
) -> float:
    r"""The target variance of the margin-aware first-step scale for a slope bound ``slope`` in (0, 1],
    :math:`V = \max(1, (\theta/x_\lambda)^2)` (:func:`snnmath.theory.margin_variance`). It replaces
    ``target_variance``, ``beta`` and ``steps``, which must be left at their defaults; ``name`` spells a
    parameter in the errors (the command line's flags, say)."""
    if beta is not None or steps is not None or target_variance != 1.0:
        raise ValueError(f"{name('slope')} chooses the target variance of the first-step scale: give it without "
                         f"{name('target_variance')}, {name('beta')} and {name('steps')}")
    return float(theory.margin_variance(threshold, real_scalar(name("slope"), slope, low=0.0, high=1.0,
                                                               low_open=True)))


def snn_variance(
    fan_in: int, threshold: float = 1.0, target_variance: float = 1.0, *,
    beta: float | None = None, steps: int | float | None = None, slope: float | None = None,
) -> float:
    r"""The proposed weight variance of a layer with this fan-in n.

    Without ``beta`` and ``steps``: the first-step scale :math:`V/(n\,Q(\theta/\sqrt V))`
    (:func:`snnmath.theory.weight_variance`). With both: the leak-aware scale ``c/n``, c the gain
    at which the kernel map over a window of ``steps`` steps from rest holds the first-step rate
    :math:`Q(\theta)` as a stable fixed point over depth for leak ``beta``
    (:func:`snnmath.theory.leak_aware_scale`; where no gain holds :math:`Q(\theta)`, the rate at
    1.1 times the fold gain). ``steps=math.inf`` is the stationary limit, a network driven long
    after rest.

    With ``slope`` (in (0, 1]): the margin-aware first-step scale, whose target variance is the
    smallest V ≥ 1 at which the variance map's slope at its fixed point is at most ``slope``
    (:func:`margin_target`).
    """
    n = integer("fan_in", fan_in, low=1)
    th = real_scalar("threshold", threshold, low=0.0)
    if slope is not None:
        target_variance = margin_target(th, slope, target_variance, beta, steps)
    if beta is None and steps is None:
        return float(theory.weight_variance(n, th, target_variance))
    if beta is None or steps is None:
        raise ValueError("beta and steps go together: give both for the leak-aware scale, or neither")
    if target_variance != 1.0:
        raise ValueError("target_variance sets the first-step scale only; the leak-aware scale (beta, steps) "
                         "targets a firing rate")
    return theory.leak_aware_scale(beta, th, steps).gain / n


def snn_normal_(
    tensor: torch.Tensor,
    threshold: float = 1.0,
    target_variance: float = 1.0,
    *,
    beta: float | None = None,
    steps: int | float | None = None,
    slope: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The proposed scale, normal: :math:`\mathrm{Var}[w] = V/(n\,Q(\theta/\sqrt V))`, or with
    ``beta`` and ``steps`` the leak-aware scale, or with ``slope`` the margin-aware one (:func:`snn_variance`)."""
    variance = snn_variance(fans(tensor)[0], threshold, target_variance, beta=beta, steps=steps, slope=slope)
    return normal_with_variance_(tensor, variance, generator=generator)


def snn_uniform_(
    tensor: torch.Tensor,
    threshold: float = 1.0,
    target_variance: float = 1.0,
    *,
    beta: float | None = None,
    steps: int | float | None = None,
    slope: float | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The proposed scale, uniform: on :math:`\pm\sqrt{3\,\mathrm{Var}[w]}` with the variance of
    :func:`snn_normal_` (:func:`snn_variance`)."""
    variance = snn_variance(fans(tensor)[0], threshold, target_variance, beta=beta, steps=steps, slope=slope)
    return uniform_with_variance_(tensor, variance, generator=generator)


def leak_aware_normal_(
    tensor: torch.Tensor,
    threshold: float,
    beta: float,
    steps: int | float,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    r"""The leak-aware scale, normal: :math:`\mathrm{Var}[w] = c/n_{in}` with c the gain of
    :func:`snnmath.theory.leak_aware_scale` for leak ``beta`` over a window of ``steps`` steps
    from rest, or ``math.inf`` for the stationary limit (:func:`snn_normal_` with ``beta`` and ``steps``)."""
    return snn_normal_(tensor, threshold, beta=beta, steps=steps, generator=generator)


def kaiming_normal_(tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""He et al. (2015), :math:`\mathrm{Var}[w] = 2/n_{in}`: ``torch.nn.init.kaiming_normal_`` (ReLU gain, fan-in)."""
    fans(tensor)
    return nn.init.kaiming_normal_(tensor, mode="fan_in", nonlinearity="relu", generator=generator)


def glorot_normal_(tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""Glorot & Bengio (2010), :math:`\mathrm{Var}[w] = 2/(n_{in}+n_{out})`: ``torch.nn.init.xavier_normal_``."""
    fans(tensor)
    return nn.init.xavier_normal_(tensor, generator=generator)


def pytorch_default_(tensor: torch.Tensor, *, generator: torch.Generator | None = None) -> torch.Tensor:
    r"""PyTorch's own default for Linear/Conv, ``torch.nn.init.kaiming_uniform_(a=√5)``: uniform on
    :math:`\pm 1/\sqrt{n_{in}}`, variance 1/(3n)."""
    fans(tensor)
    return nn.init.kaiming_uniform_(tensor, a=math.sqrt(5.0), generator=generator)


def fluctuation_driven_(
    tensor: torch.Tensor,
    threshold: float = 1.0,
    beta: float = 0.5,
    mean: float = 0.0,
    xi: float = 1.0,
    rate: float | None = None,
    *,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Normal weights with the moments of :func:`fluctuation_moments`."""
    mean_w, variance = fluctuation_moments(fans(tensor)[0], threshold, beta, mean, xi, rate)
    return normal_with_variance_(tensor, variance, mean=mean_w, generator=generator)


@dataclass(frozen=True)
class Scheme:
    """One initialiser by name: how it fills a tensor, its weight variance, and how figures label it."""

    fill: Callable[..., torch.Tensor]
    """The in-place initialiser, ``fill(tensor, **params, generator=None)``."""
    params: tuple[str, ...]
    """The keyword parameters ``fill`` takes besides ``tensor`` and ``generator``."""
    variance: Callable[[int, int, float, float, int | float | None], float]
    """Its weight variance ``variance(fan_in, fan_out, threshold, beta, steps)``."""
    label: str
    """How tables and figures name it."""
    required: tuple[str, ...] = ()
    """The parameters that have no default and must be given."""


def _snn_variance(n_in: int, n_out: int, threshold: float, beta: float, steps: int | float | None) -> float:
    return snn_variance(n_in, threshold)


def _leak_aware_variance(n_in: int, n_out: int, threshold: float, beta: float, steps: int | float | None) -> float:
    if steps is None:
        raise ValueError("steps is required for the leak-aware scale (a window of that many steps from rest)")
    return snn_variance(n_in, threshold, beta=beta, steps=steps)


SCHEMES: dict[str, Scheme] = {
    "snn": Scheme(snn_normal_, ("threshold", "target_variance", "beta", "steps", "slope"), _snn_variance, "proposed"),
    "snn_uniform": Scheme(snn_uniform_, ("threshold", "target_variance", "beta", "steps", "slope"), _snn_variance,
                          "proposed (uniform)"),
    "kaiming": Scheme(kaiming_normal_, (), lambda n_in, n_out, th, b, t: 2.0 / n_in, "Kaiming"),
    "glorot": Scheme(glorot_normal_, (), lambda n_in, n_out, th, b, t: 2.0 / (n_in + n_out), "Glorot"),
    "pytorch": Scheme(pytorch_default_, (), lambda n_in, n_out, th, b, t: 1.0 / (3.0 * n_in), "PyTorch default"),
    "fluctuation": Scheme(fluctuation_driven_, ("threshold", "beta", "mean", "xi", "rate"),
                          lambda n_in, n_out, th, b, t: fluctuation_moments(n_in, th, b)[1], "fluctuation-driven"),
    "leak_aware": Scheme(leak_aware_normal_, ("threshold", "beta", "steps"), _leak_aware_variance, "leak-aware",
                         required=("threshold", "beta", "steps")),
}
"""The one registry of initialisers, with every name :func:`apply_`, :func:`for_threshold`,
:func:`variance_of`, the command lines and the book know."""
NAMES = tuple(SCHEMES)
"""The initialisers' names, in the registry's order."""
LABELS = {name: scheme.label for name, scheme in SCHEMES.items()}
"""Each initialiser's label in tables and figures."""


def _scheme(name: str, what: str = "name") -> Scheme:
    if not isinstance(name, str) or name not in SCHEMES:
        raise ValueError(f"{what} must be one of {', '.join(map(repr, NAMES))}; got {name!r}")
    return SCHEMES[name]


def variance_of(
    name: str, fan_in: int, fan_out: int, threshold: float = 1.0, beta: float = 0.5, steps: int | float | None = None
) -> float:
    """Weight variance of the initialiser ``name`` (one of :data:`NAMES`) for a layer (``steps``: the
    window of ``"leak_aware"``, which needs it; the others ignore it)."""
    n_in = integer("fan_in", fan_in, low=1)
    n_out = integer("fan_out", fan_out, low=1)
    return _scheme(name).variance(n_in, n_out, threshold, beta, steps)


def for_threshold(
    name: str, threshold: float = 1.0, beta: float = 0.5, steps: int | float | None = None
) -> Initialiser:
    """The initialiser ``name`` (one of :data:`NAMES`) as ``f(tensor, generator)``, for a
    network with this threshold and leak; with ``steps``, the proposed scale is the leak-aware
    one for that window (:func:`snn_variance`)."""
    scheme = _scheme(name)
    params: dict[str, float | int] = {"threshold": threshold} if "threshold" in scheme.params else {}
    if "steps" in scheme.required and steps is None:
        raise ValueError(f"steps is required for {name!r}: the window of steps from rest its scale is for")
    if "steps" in scheme.params:
        params |= {"beta": beta, "steps": steps} if steps is not None else {}
    elif "beta" in scheme.params:
        params["beta"] = beta

    def fill(tensor: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return scheme.fill(tensor, generator=generator, **params)

    return fill


LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
"""The layer types whose weights :func:`apply_` initialises (subclasses included)."""


@torch.no_grad()
def apply_(
    module: nn.Module,
    method: str = "snn",
    *,
    zero_bias: bool = True,
    generator: torch.Generator | None = None,
    **params: float | None,
) -> nn.Module:
    r"""Initialise every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` weight in ``module`` in place.

    Each weight is filled by the initialiser ``method`` (one of :data:`NAMES`) at its own
    fan-in n (``in_features``, or ``in_channels/groups · prod(kernel_size)``); for the
    default ``"snn"`` that is :math:`w \sim \mathcal N(0, V/(n\,Q(\theta/\sqrt V)))`.
    ``params`` go to that initialiser: ``threshold`` and ``target_variance`` (or ``slope`` for the
    margin-aware scale), or ``threshold``, ``beta`` and ``steps`` for the leak-aware scale, for
    ``"snn"``/``"snn_uniform"``;
    ``threshold``, ``beta``, ``mean``, ``xi``, ``rate`` for ``"fluctuation"``; none for ``"kaiming"``,
    ``"glorot"``, ``"pytorch"``. Biases are set
    to zero unless ``zero_bias=False``, which leaves them as they are. Every other module
    (snnTorch neurons, normalisation, ``ConvTranspose``…) is left untouched; a weight that
    several layers share is drawn once.

    The parameters are checked, and every weight drawn, before any is written: on a
    ``ValueError`` the module is unchanged. Returns ``module``.
    """
    if not isinstance(module, nn.Module):
        raise ValueError(f"module must be a torch.nn.Module, got {type(module).__name__}")
    scheme = _scheme(method, "method")
    function, takes = scheme.fill, scheme.params
    if not isinstance(zero_bias, bool):
        raise ValueError(f"zero_bias must be True or False, got {zero_bias!r}")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    for key in params:
        if key not in takes:
            accepted = ", ".join(takes) if takes else "none"
            raise ValueError(f"{key} is not a parameter of method {method!r} (it takes: {accepted})")
    missing = [key for key in scheme.required if key not in params]
    if missing:
        raise ValueError(f"method {method!r} needs {', '.join(missing)} (it takes: {', '.join(takes)})")
    layers = [layer for layer in module.modules() if isinstance(layer, LAYERS)]
    if not layers:
        raise ValueError(f"module has no nn.Linear or nn.Conv1d/2d/3d layer to initialise ({type(module).__name__})")
    weights: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
    for layer in layers:
        if isinstance(layer.weight, nn.parameter.UninitializedParameter):
            raise ValueError(f"module has a lazy layer not yet materialised ({layer}): run one forward pass first")
        if id(layer.weight) not in weights:
            drawn = function(torch.empty_like(layer.weight), generator=generator, **params)
            weights[id(layer.weight)] = layer.weight, drawn
    for weight, drawn in weights.values():
        weight.copy_(drawn)
    if zero_bias:
        for layer in layers:
            if layer.bias is not None:
                layer.bias.zero_()
    return module
