"""Torch simulators, all on the recurrence of :mod:`snnmath.lif`: deep dense networks
(:mod:`~snnmath.simulate.dense`), deep convolutional stacks (:mod:`~snnmath.simulate.conv`) and
independent single neurons (:mod:`~snnmath.simulate.neurons`). Every public name is also
available here, as ``snnmath.simulate.<name>``."""

from .conv import ConvRecord, border_gain, simulate_conv
from .dense import Record, backward_norms, gaussian_currents, simulate, simulate_independent_spikes
from .neurons import simulate_neurons

__all__ = [
    "ConvRecord", "Record", "backward_norms", "border_gain", "gaussian_currents", "simulate", "simulate_conv",
    "simulate_independent_spikes", "simulate_neurons",
]
