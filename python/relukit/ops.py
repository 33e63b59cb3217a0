"""relukit's op table (first cut: the kernel list every backend registers from).

``KERNELS`` maps each elementwise kernel name to the names of its float parameters, in the
order every backend's ``<kernel>_float(x, *params)`` and ``<kernel>_array(x, out, *params)``
take them. The full table (one row per op, from which the facade, ``__all__``, the bench, the
conformance rows and the nn modules are derived) replaces this module's body; ``KERNELS``
keeps its name and meaning.
"""

from __future__ import annotations

KERNELS: dict[str, tuple[str, ...]] = {
    "relu": (),
    "relu_grad": (),
    "leaky_relu": ("negative_slope",),
    "leaky_relu_grad": ("negative_slope",),
    "hardtanh": ("min_val", "max_val"),
    "hardtanh_grad": ("min_val", "max_val"),
    "threshold": ("threshold", "value"),
    "threshold_grad": ("threshold", "value"),
    "elu": ("alpha",),
    "elu_grad": ("alpha",),
    "gelu": (),
    "gelu_grad": (),
    "gelu_tanh": (),
    "gelu_tanh_grad": (),
    "sigmoid": (),
    "sigmoid_grad": (),
    "tanh": (),
    "tanh_grad": (),
}
