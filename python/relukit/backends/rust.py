"""Rust backend: relukit-kernels through the pyo3 module ``relukit._native``.

Every function here is a native one (no Python wrapper in between). The elementwise kernels
are taken by name: for each kernel of :data:`relukit.ops.KERNELS`,
``_native.ElementwiseKernel(name, n_params)`` resolves it once (a name the crate does not
know is a ValueError naming it, at import), and its bound methods ``scalar`` and ``array`` are
``<kernel>_float`` and ``<kernel>_array``. The array functions read NumPy's fields directly
(any layout; in place, self-overlapping and partially overlapping views as NumPy's ufuncs;
matrix arguments not laid out as one aligned C-ordered run are copied) and release the GIL
for large calls. The fast paths (``relu_fast``, ``relu_grad_fast``, ``dense_fast``) return
``NotImplemented`` for anything they do not take (see ``relukit-py/src/fast.rs``). Large
calls are split over a persistent pool of ``set_num_threads(n)`` threads (the caller
included).
"""

from __future__ import annotations

from relukit import _native as _rs
from relukit.ops import KERNELS

NAME = "rust"

for _name, _params in KERNELS.items():
    _kernel = _rs.ElementwiseKernel(_name, len(_params))
    globals()[_name + "_float"] = _kernel.scalar
    globals()[_name + "_array"] = _kernel.array
del _name, _params, _kernel

relu_int = _rs.relu_int
relu_grad_int = _rs.relu_grad_int
prelu_array = _rs.prelu_array
prelu_grad_array = _rs.prelu_grad_array
dense_forward = _rs.dense_forward

relu_fast = _rs.relu_fast
relu_grad_fast = _rs.relu_grad_fast
dense_fast = _rs.dense_fast

#: Called by relukit's thread setting (``relukit.set_num_threads``) at import and on change.
set_num_threads = _rs.set_num_threads

# ---- nn: linear forward and dense backward (relukit.nn.Linear) ----------------------------

linear_forward = _rs.linear_forward
dense_backward = _rs.dense_backward

#: ``affine_forward(x, w, b, out, activation, params)``: ``out = act(x @ w + b)`` with the
#: activation (``None``, ``"relu"`` or a kernel name of :data:`relukit.ops.KERNELS`, its float
#: parameters in ``params``) applied to each tile of the product as it is finished.
affine_forward = _rs.affine_forward
