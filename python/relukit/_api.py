"""The elementwise facade: the functions :data:`relukit.ops.OPS` generates, and what they run.

Every op goes through :func:`_apply` (so scalars, dtypes, ``out=``, in place, layouts and bad
input behave alike for every op) after its parameters are checked, in one place
(:mod:`relukit._params`). Python ints are accepted (within int64) and computed as floats,
except by the ops with int kernels (relu, relu_grad), which give an int for an int.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numpy as np

from relukit._backend import resolve
from relukit._interop import dask_elementwise, dask_prelu, is_dask
from relukit._params import cast_params, check_weight
from relukit._validate import (
    F64,
    array_and_out,
    as_float_array,
    check_dtype,
    check_int,
    finish,
    to_array,
)

if TYPE_CHECKING:
    from relukit.ops import Op

_NDARRAY = np.ndarray  # one global look-up on the hot path of relu_array


def _apply(
    x: Any,
    out: Any,
    f_float: Callable[[float], float],
    f_int: Callable[[int], int],
    f_array: Callable[[np.ndarray, np.ndarray], None],
    lazy: tuple[str, str, tuple[float, ...], tuple[str, ...]] | None = None,
) -> Any:
    """Run one op on a number or an array with the result type the contract promises."""
    t = type(x)
    if t is np.ndarray:
        x, work = array_and_out(check_dtype(x), out)
        f_array(x, work)
        return work if work is out or out is None else finish(out, work)
    if out is None:
        if t is float:
            return f_float(x)
        if t is int:
            return f_int(check_int(x))
        if isinstance(x, np.generic):  # NumPy scalar in, NumPy scalar of the same type out
            a = check_dtype(np.asarray(x), "NumPy scalar")
            res = np.empty_like(a)
            f_array(a, res)
            return res[()]
        if isinstance(x, bool):
            raise TypeError("relukit: bool is not a number here; use int(x) or float(x)")
        if isinstance(x, float):
            return f_float(float(x))
        if isinstance(x, int):
            return f_int(check_int(int(x)))
    elif isinstance(x, (int, float, np.generic)):
        raise TypeError("relukit: out= needs an array input, not a scalar")
    if lazy is not None and is_dask(x):  # (backend, kernel, params, names): a lazy result
        return dask_elementwise(x, out, *lazy)
    x, work = array_and_out(as_float_array(x), out)
    f_array(x, work)
    return finish(out, work)


def relu_array(
    arr: Any, *, out: np.ndarray | None = None, backend: str | None = None
) -> np.ndarray:
    """ReLU of an array-like, always returning an ndarray (never a scalar back)."""
    b = resolve(backend)
    if type(arr) is not _NDARRAY:  # numbers and lists: an ndarray first (never a scalar back)
        return _apply(as_float_array(arr), out, b.relu_float, b.relu_int, b.relu_array)
    fast = b.relu_fast
    if fast is not None:
        r = fast(arr, out)
        if r is not NotImplemented:
            return r
    return _apply(arr, out, b.relu_float, b.relu_int, b.relu_array)


# ---- the parametrised ops ------------------------------------------------------------------


def _run(
    x: Any,
    out: Any,
    backend: str | None,
    kernel: str,
    params: tuple[float, ...] = (),
    names: tuple[str, ...] = (),
) -> Any:
    """One elementwise kernel, parameters rounded per dtype: an exact ndarray goes straight to
    the kernel after :func:`array_and_out` (the checks ``_apply`` makes for arrays); anything
    else through :func:`_apply`."""
    b = resolve(backend)
    f_array = getattr(b, kernel + "_array")
    if type(x) is np.ndarray:
        x, work = array_and_out(check_dtype(x), out)
        f_array(x, work, *cast_params(params, x.dtype, names))
        return work if work is out or out is None else finish(out, work)
    f_float = getattr(b, kernel + "_float")

    def on_array(a: np.ndarray, o: np.ndarray) -> None:
        f_array(a, o, *cast_params(params, a.dtype, names))

    return _apply(
        x,
        out,
        lambda v: f_float(v, *params),
        lambda i: f_float(float(i), *params),
        on_array,
        (b.NAME, kernel, params, names),
    )


def _prelu(x: Any, weight: Any, out: Any, backend: str | None, grad: bool) -> Any:
    """prelu / prelu_grad: a one-element weight (or an input without a channel axis) runs the
    leaky_relu kernel with that slope; per-channel weights the backend's ``prelu_array``."""
    kernel = "leaky_relu_grad" if grad else "leaky_relu"
    if type(x) is not np.ndarray and isinstance(x, (int, float, np.generic)):
        w = check_weight(weight, None)
        return _run(x, out, backend, kernel, (float(w[0]),), ("weight",))
    if is_dask(x):  # lazy: one weight runs leaky_relu's kernel, per-channel ones per block
        w = check_weight(weight, x.shape)
        if w.size == 1 or x.ndim < 2:
            return _run(x, out, backend, kernel, (float(w[0]),), ("weight",))
        return dask_prelu(x, w, out, resolve(backend).NAME, grad)
    a = x if type(x) is np.ndarray else as_float_array(x)
    w = check_weight(weight, a.shape)
    if w.size == 1 or a.ndim < 2:
        return _run(a, out, backend, kernel, (float(w[0]),), ("weight",))
    a, work = array_and_out(check_dtype(a), out)
    with np.errstate(over="ignore"):
        wt = w.astype(a.dtype)
    if not np.all(np.isfinite(wt)):
        raise ValueError(f"relukit: prelu weight overflows {a.dtype}")
    b = resolve(backend)
    (b.prelu_grad_array if grad else b.prelu_array)(a, work, wt)
    return finish(out, work)


def prelu_weight_grad(x: Any, grad_out: Any, weight: Any) -> np.ndarray:
    """d loss / d weight of prelu, given ``grad_out`` = d loss / d prelu(x).

    ``sum(grad_out * x where x <= 0, else 0)`` over every axis but the channel axis 1 (over
    all axes for a one-element weight), as PyTorch's ``_prelu_kernel_backward``. Returns an
    array of the weight's shape in x's dtype; the sum is accumulated in float64 with NumPy
    (the same on every backend). A NaN in x or grad_out at x <= 0 gives NaN.
    """
    a = as_float_array(x)
    g = as_float_array(grad_out)
    if g.shape != a.shape:
        raise ValueError(f"relukit: grad_out has shape {g.shape}, x has {a.shape}")
    shape = np.shape(to_array(weight, "weight"))
    w = check_weight(weight, a.shape)
    with np.errstate(invalid="ignore", over="ignore"):
        contrib = np.where(a > 0, 0.0, a.astype(F64) * g.astype(F64))
        if w.size == 1 or a.ndim < 2:
            total = np.array([contrib.sum()])
        else:
            axes = tuple(i for i in range(a.ndim) if i != 1)
            total = contrib.sum(axis=axes)
        return total.astype(a.dtype).reshape(shape)


#: The custom implementations an op row may name (``Op.run``).
RUNNERS: dict[str, Callable[..., Any]] = {
    "prelu": lambda x, weight, out, backend: _prelu(x, weight, out, backend, False),
    "prelu_grad": lambda x, weight, out, backend: _prelu(x, weight, out, backend, True),
}


# ---- generating the facade functions -------------------------------------------------------

_FAST_BODY = """\
    b = resolve(backend)
    fast = b.{name}_fast
    if fast is not None:
        r = fast(x, out)
        if r is not NotImplemented:
            return r
    return _apply(x, out, b.{name}_float, b.{name}_int, b.{name}_array, (b.NAME, {name!r}, (), ()))
"""


def make_function(op: Op) -> Callable[..., Any]:
    """The facade function of one op row: a real function (made from source text, as
    :mod:`dataclasses` makes ``__init__``) with the row's signature, defaults and docstring,
    so ``help(relukit.<op>)`` and :func:`inspect.signature` read as for hand-written code and
    a call costs no argument binding."""
    from relukit.ops import KERNELS, REQUIRED  # the table imports this module

    names = [p.name for p in op.params]
    ns: dict[str, Any] = {"resolve": resolve, "_apply": _apply, "_run": _run}
    sig = ["x"]
    for i, p in enumerate(op.params):
        if p.default is REQUIRED:
            sig.append(p.name)
        else:
            ns[f"_d{i}"] = p.default
            sig.append(f"{p.name}=_d{i}")
    lines = [f"def {op.name}({', '.join(sig)}, *, out=None, backend=None):"]
    if op.fast:
        if op.params or list(op.kernels) != [op.name]:
            raise ValueError(f"op {op.name}: a fast op has one kernel of its name, no params")
        lines.append(_FAST_BODY.format(name=op.name))
    else:
        for i, p in enumerate(op.params):
            ns[f"_c{i}"] = p.check
            lines.append(f"    {p.name} = _c{i}({p.name}, {p.name!r})")
        if op.constraint is not None:
            ns["_constraint"] = op.constraint
            lines.append(f"    _constraint({', '.join(names)})")
        args = "".join(f"{n}, " for n in names)
        if op.run is not None:
            ns["_custom"] = RUNNERS[op.run]
            lines.append(f"    return _custom(x, {args}out, backend)")
        elif op.select is not None:
            ns["_select"], ns["_names"] = op.select, KERNELS
            lines.append(f"    kernel, params = _select({', '.join(names)})")
            lines.append("    return _run(x, out, backend, kernel, params, _names[kernel])")
        else:
            (kernel,) = op.kernels
            if KERNELS[kernel] != tuple(names):
                raise ValueError(f"op {op.name}: kernel {kernel} takes {KERNELS[kernel]}")
            lines.append(
                f"    return _run(x, out, backend, {kernel!r}, ({args}), {tuple(names)!r})"
            )
    exec("\n".join(lines), ns)  # source built from the table's names only
    fn = ns[op.name]
    fn.__doc__ = op.doc
    fn.__module__ = "relukit"
    fn.__annotations__ = {
        "x": Any,
        **{p.name: p.annotation for p in op.params},
        "out": np.ndarray | None,
        "backend": str | None,
        "return": Any,
    }
    return fn
