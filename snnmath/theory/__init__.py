r"""Numeric theory, generated from :mod:`snnmath.symbolic` with ``lambdify``: one module per topic.

No formula is typed here: each function evaluates an expression derived in ``symbolic`` (in
its tail-stable form, :func:`snnmath.symbolic.stable`, compiled once by one shared helper) and
adds only validation and solvers. The topics, in the order of the book:

======================================  ==============================================================
:mod:`~snnmath.theory.first_step`       the variance map at t = 0, fixed points, the proposed scale
:mod:`~snnmath.theory.correlation`      two inputs: the correlation map, its depth scale; the margin-aware scale
:mod:`~snnmath.theory.finite_width`     the exact active-count chain at finite width
:mod:`~snnmath.theory.gradients`        the backward gain of the surrogate derivatives
:mod:`~snnmath.theory.conv`             convolutions: the per-position map and the border
:mod:`~snnmath.theory.first_layer`      the pixel-driven input layer
:mod:`~snnmath.theory.stationary`       the stationary rate of one leaky, resetting neuron
:mod:`~snnmath.theory.quenched`         the quenched mean field over time
:mod:`~snnmath.theory.kernel`           the kernel map over time at infinite width; the leak-aware scale
======================================  ==============================================================

Every public function is also available here, as ``snnmath.theory.<name>``.
"""

from .conv import PADDINGS, conv_variance_map, conv_variance_maps, tap_counts
from .correlation import (
    PAIR_INPUTS,
    CorrelationFixedPoint,
    DepthScale,
    PairKernelMap,
    correlation_fixed_point,
    correlation_map,
    correlation_slope,
    depth_scale_over_time,
    iterate_correlation,
    margin_ratio,
    margin_variance,
    pair_input_covariance,
    pair_kernel_depth_map,
    target_slope,
)
from .finite_width import (
    active_count_distribution,
    expected_depth_to_silence,
    log_expected_depth_to_silence,
    mean_active_rate,
    mean_square_interval,
    required_width,
    silence_probability,
    transition_matrix,
)
from .first_layer import (
    current_kurtosis,
    first_layer_weight_variance,
    first_spike_intensity,
    input_active_counts,
    input_layer_rates,
    input_spike_trains,
    intensity_histogram,
    paper_scale_current_variance,
    silent_intensity,
)
from .first_step import (
    FixedPoint,
    critical_ratio,
    critical_threshold,
    fixed_points,
    gain_or_proposed,
    iterate_map,
    largest_threshold,
    map_slope,
    saddle_node_gain,
    slope_at_fixed_point,
    spike_probability,
    variance_map,
    weight_variance,
)
from .gradients import (
    backward_gain,
    backward_profile,
    slopes_for_gain,
    surrogate_square_limits,
    surrogate_square_moment,
    surrogate_square_moment_at_zero_threshold,
)
from .kernel import (
    INPUTS,
    KernelFixedPoint,
    KernelMap,
    LeakAwareScale,
    StationaryNoise,
    WindowNoise,
    circulant_spectrum,
    input_covariance,
    kernel_depth_map,
    kernel_fixed_point,
    leak_aware_gain,
    leak_aware_scale,
    stationary_currents,
    stationary_fixed_point,
    stationary_gain,
    stationary_kernel,
    stationary_noise,
    stationary_steps,
    window_currents,
    window_noise,
)
from .quenched import (
    CIRCULATING_SCALES,
    QuenchedFixedPoint,
    circulating_weight_variance,
    input_std_for_rate,
    multistep_gain,
    quenched_depth_map,
    quenched_fold,
    quenched_rate_map,
    quenched_rates,
)
from .stationary import stationary_rate

__all__ = [
    "PAIR_INPUTS", "CorrelationFixedPoint", "PairKernelMap", "correlation_fixed_point", "correlation_map",
    "correlation_slope", "depth_scale_over_time", "DepthScale", "required_width", "iterate_correlation",
    "margin_ratio", "margin_variance", "pair_input_covariance",
    "pair_kernel_depth_map", "target_slope",
    "INPUTS", "KernelFixedPoint", "KernelMap", "LeakAwareScale", "input_covariance", "kernel_depth_map",
    "kernel_fixed_point", "leak_aware_gain", "leak_aware_scale", "quenched_rates", "stationary_gain",
    "stationary_fixed_point", "stationary_kernel", "stationary_steps", "StationaryNoise", "circulant_spectrum",
    "stationary_currents", "stationary_noise", "WindowNoise", "window_currents", "window_noise",
    "CIRCULATING_SCALES", "PADDINGS", "FixedPoint", "QuenchedFixedPoint", "active_count_distribution",
    "backward_gain", "backward_profile", "circulating_weight_variance", "conv_variance_map", "conv_variance_maps",
    "critical_ratio", "critical_threshold",
    "current_kurtosis", "expected_depth_to_silence", "first_layer_weight_variance", "first_spike_intensity",
    "fixed_points", "gain_or_proposed", "input_active_counts", "input_layer_rates", "input_spike_trains",
    "input_std_for_rate", "intensity_histogram", "iterate_map", "map_slope", "mean_square_interval",
    "multistep_gain", "paper_scale_current_variance", "quenched_depth_map", "quenched_fold", "quenched_rate_map",
    "saddle_node_gain", "silence_probability", "silent_intensity", "slope_at_fixed_point", "slopes_for_gain",
    "spike_probability", "stationary_rate",
    "surrogate_square_limits", "surrogate_square_moment", "surrogate_square_moment_at_zero_threshold", "tap_counts",
    "transition_matrix", "variance_map", "weight_variance",
    "largest_threshold", "log_expected_depth_to_silence", "mean_active_rate",
]
