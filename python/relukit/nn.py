"""relukit.nn: modules with a forward and a backward pass, enough to train an MLP.

```python
from relukit import nn
model = nn.Sequential(nn.Linear(64, 128, seed=0), nn.ReLU(), nn.Linear(128, 10, seed=1))
opt = nn.SGD(model.parameters(), lr=0.05, momentum=0.9)
logits = model(x)                                    # x: (batch, 64) float32
loss, dlogits = nn.softmax_cross_entropy(logits, y)  # y: (batch,) int labels
opt.zero_grad(); model.backward(dlogits); opt.step()
```

The hot loops run on a relukit backend: ``Linear`` calls the backend's ``linear_forward`` and
``dense_backward`` kernels, the activation modules call the facade's ``<op>`` and
``<op>_grad``. Every module takes ``backend=`` (a backend name, checked at construction);
without it a call runs on whatever backend is current at call time (``use_backend``,
``set_backend``, ``RELUKIT_BACKEND``). The loss and the optimizer are small NumPy code shared
by every backend.

Conventions: ``Linear`` weights have shape (in_features, out_features) as ``relukit.Dense``
(``x @ W + b``; PyTorch stores the transpose). ``parameters()`` returns
:class:`Parameter` objects, each with a ``.value`` array and a ``.grad`` array of the same
shape and dtype; ``backward`` *adds* into ``.grad`` (as PyTorch does), so call
``zero_grad()`` once per step. A module keeps what its last ``forward`` needs for
``backward`` (one forward, then one backward).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np

from relukit._api import prelu_weight_grad
from relukit._backend import resolve
from relukit._validate import check_dtype, to_array
from relukit.dense import INITS, _init_weights, _size, c_strides, layer_array
from relukit.ops import BY_NAME, FUNCTIONS, MODULES, REQUIRED, Op

relu, relu_grad = FUNCTIONS["relu"], FUNCTIONS["relu_grad"]

__all__ = [
    "SGD",
    "Linear",
    "Module",
    "Parameter",
    "Sequential",
    "dead_fraction",
    "linear",
    "linear_backward",
    "softmax_cross_entropy",
]
__all__ += list(MODULES)  # the activation modules: ReLU, LeakyReLU, ... (ops.OPS)


# ---- parameters and the module protocol ----------------------------------------------------


class Parameter:
    """A learnable array: ``value`` and its gradient ``grad`` (same shape and dtype).

    The shape and dtype are fixed at construction. An array assigned to ``value`` is checked
    and stored as :func:`relukit.dense.layer_array` says (numbers of exactly that shape, kept
    when C-contiguous, aligned, writeable and of that dtype, else a converted copy: a
    transposed or F-ordered view, another float dtype), and the layers check it again before
    every backend call (:meth:`current`), so in-place changes cannot mislead a backend.
    """

    __slots__ = ("_dtype", "_shape", "_strides", "_value", "grad", "name")

    def __init__(self, value: np.ndarray, name: str = "") -> None:
        a = np.ascontiguousarray(value)  # shape and dtype from it
        check_dtype(a, f"parameter {name}".strip())
        if not (a.flags.aligned and a.flags.writeable):
            a = a.copy()
        self._shape, self._dtype, self._strides = a.shape, a.dtype, c_strides(a.shape, a.dtype)
        self._value = a
        self.grad = np.zeros_like(a)
        self.name = name

    @property
    def value(self) -> np.ndarray:
        return self._value

    @value.setter
    def value(self, new: Any) -> None:
        self._value = layer_array(new, self._shape, self._dtype, self._what())

    def current(self) -> np.ndarray:
        """``value`` as a backend must read it, checked again (as ``Dense._params``)."""
        v = self._value
        if v.shape == self._shape and v.strides == self._strides and v.dtype is self._dtype:
            return v
        v = self._value = layer_array(v, self._shape, self._dtype, self._what())
        return v

    def _what(self) -> str:
        return f"parameter {self.name!r}" if self.name else "parameter"

    @property
    def shape(self) -> tuple[int, ...]:
        return self._shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    def zero_grad(self) -> None:
        """Set ``grad`` to zero, in place."""
        self.grad.fill(0)

    def __repr__(self) -> str:
        return f"Parameter({self.name!r}, shape={self._shape}, dtype={self._dtype})"


class Module:
    """Base class: ``forward(x)`` (also ``module(x)``), ``backward(grad) -> grad_in``,
    ``parameters()``, ``zero_grad()``."""

    backend: str | None = None

    def forward(self, x: Any) -> Any:
        raise NotImplementedError

    def backward(self, grad: Any, *, input_grad: bool = True) -> Any:
        """Given dL/d(output) of the last ``forward``, add dL/d(parameter) into each
        parameter's ``.grad`` and return dL/d(input) (``None`` if ``input_grad`` is false and
        the module can skip it)."""
        raise NotImplementedError

    def parameters(self) -> list[Parameter]:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def __call__(self, x: Any) -> Any:
        return self.forward(x)


def _check_backend(backend: str | None) -> str | None:
    if backend is not None:
        resolve(backend)  # an unknown or unbuilt backend fails here, not at the first call
    return backend


def _dtype(dtype: Any, what: str) -> np.dtype:
    try:
        dt = np.dtype(dtype)
    except TypeError as exc:
        raise TypeError(f"relukit: dtype={dtype!r} is not a dtype") from exc
    return check_dtype(np.empty(0, dt), what).dtype


# ---- the affine layer: functional form and module ------------------------------------------


def _matrix(a: Any, what: str, dtype: np.dtype | None = None) -> np.ndarray:
    """A C-contiguous float32/float64 array (cast to ``dtype`` if given)."""
    arr = to_array(a, what)
    if arr.dtype.kind not in "fiu":
        raise TypeError(f"relukit: {what} must be numbers, got dtype {arr.dtype}")
    if dtype is None:
        dtype = arr.dtype if arr.dtype.kind == "f" else np.dtype(np.float64)
        check_dtype(np.empty(0, dtype), what)
    return np.ascontiguousarray(arr, dtype=dtype)


def _shape(a: np.ndarray, want: tuple[int, ...], what: str) -> None:
    if a.shape != want:
        raise ValueError(f"relukit: {what} must have shape {want}, got {a.shape}")


def linear(x: Any, w: Any, b: Any, *, backend: str | None = None) -> np.ndarray:
    """``x @ w + b`` on a backend: x (batch, in) or (in,), w (in, out), b (out,); the result
    has w's dtype (float32 or float64; the other arguments are cast to it)."""
    wa = _matrix(w, "weight")
    xa = _matrix(x, "input", wa.dtype)
    ba = _matrix(b, "bias", wa.dtype)
    if wa.ndim != 2:
        raise ValueError(f"relukit: weight must be 2-D (in, out), got shape {wa.shape}")
    n_in, n_out = wa.shape
    _shape(ba, (n_out,), "bias")
    if xa.ndim not in (1, 2) or xa.shape[-1] != n_in:
        raise ValueError(
            f"relukit: input must have shape ({n_in},) or (batch, {n_in}), got {xa.shape}"
        )
    x2 = xa.reshape(1, -1) if xa.ndim == 1 else xa
    out = np.empty((x2.shape[0], n_out), dtype=wa.dtype)
    resolve(backend).linear_forward(x2, wa, ba, out)
    return out[0] if xa.ndim == 1 else out


def linear_backward(
    x: Any, w: Any, dy: Any, *, input_grad: bool = True, backend: str | None = None
) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """Gradients of ``y = x @ w + b`` given ``dy = dL/dy``: ``(dx, dw, db)`` with
    ``dx = dy @ w.T`` (``None`` if ``input_grad`` is false), ``dw = x.T @ dy``,
    ``db = dy.sum(0)``. x (batch, in), w (in, out), dy (batch, out); 1-D x and dy are one
    sample. Results have w's dtype."""
    wa = _matrix(w, "weight")
    if wa.ndim != 2:
        raise ValueError(f"relukit: weight must be 2-D (in, out), got shape {wa.shape}")
    n_in, n_out = wa.shape
    xa = _matrix(x, "input", wa.dtype)
    ga = _matrix(dy, "grad", wa.dtype)
    if xa.ndim not in (1, 2) or xa.shape[-1] != n_in:
        raise ValueError(
            f"relukit: input must have shape ({n_in},) or (batch, {n_in}), got {xa.shape}"
        )
    _shape(ga, (*xa.shape[:-1], n_out), "grad")
    x2 = xa.reshape(1, -1) if xa.ndim == 1 else xa
    g2 = ga.reshape(1, -1) if ga.ndim == 1 else ga
    dx = np.empty_like(x2) if input_grad else None
    dw = np.empty_like(wa)
    db = np.empty(n_out, dtype=wa.dtype)
    resolve(backend).dense_backward(x2, wa, g2, dx, dw, db)
    if dx is not None and xa.ndim == 1:
        dx = dx[0]
    return dx, dw, db


class Linear(Module):
    """Affine layer ``y = x @ weight + bias`` (no activation; follow it with one).

    ``weight`` is a :class:`Parameter` of shape (in_features, out_features), initialised by
    ``init`` (``he_normal`` default; see ``relukit.Dense``) from ``seed``; ``bias`` is
    (out_features,), zero (``bias=False``: none). Inputs are cast to ``dtype``; x is (in,) or
    (batch, in).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        seed: int | None = None,
        init: str = "he_normal",
        dtype: Any = "float32",
        backend: str | None = None,
    ) -> None:
        self.in_features = _size(in_features, "in_features")
        self.out_features = _size(out_features, "out_features")
        if init not in INITS:
            raise ValueError(f"relukit: init={init!r} is unknown; valid: {', '.join(INITS)}")
        self.dtype = _dtype(dtype, "Linear dtype")
        self.backend = _check_backend(backend)
        rng = np.random.default_rng(seed)
        w = _init_weights(init, (self.in_features, self.out_features), rng)
        self.weight = Parameter(w.astype(self.dtype), "weight")
        self.bias = Parameter(np.zeros(self.out_features, self.dtype), "bias") if bias else None
        self._zero_bias = None if bias else np.zeros(self.out_features, self.dtype)
        self._x: np.ndarray | None = None
        self._x_ndim = 2

    def parameters(self) -> list[Parameter]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def _b(self) -> np.ndarray:
        return self._zero_bias if self.bias is None else self.bias.current()

    def forward(self, x: Any) -> np.ndarray:
        """``x @ weight + bias`` on the backend."""
        a = _matrix(x, "Linear input", self.dtype)
        if a.ndim not in (1, 2) or a.shape[-1] != self.in_features:
            raise ValueError(
                f"relukit: Linear({self.in_features}, {self.out_features}) takes input of "
                f"shape ({self.in_features},) or (batch, {self.in_features}), got {a.shape}"
            )
        x2 = a.reshape(1, -1) if a.ndim == 1 else a
        out = np.empty((x2.shape[0], self.out_features), dtype=self.dtype)
        resolve(self.backend).linear_forward(x2, self.weight.current(), self._b(), out)
        self._x, self._x_ndim = x2, a.ndim
        return out[0] if a.ndim == 1 else out

    def backward(self, grad: Any, *, input_grad: bool = True) -> np.ndarray | None:
        """Add dL/dweight and dL/dbias into the parameters' ``.grad``; return dL/dx."""
        if self._x is None:
            raise RuntimeError("relukit: Linear.backward() called before forward()")
        x2 = self._x
        g = _matrix(grad, "Linear grad", self.dtype)
        want = (x2.shape[0], self.out_features)
        if g.shape != want and not (self._x_ndim == 1 and g.shape == want[1:]):
            raise ValueError(f"relukit: Linear grad must have the output's shape, got {g.shape}")
        g2 = g.reshape(want)
        w = self.weight.current()
        dx = np.empty_like(x2) if input_grad else None
        dw = np.empty_like(w)
        db = None if self.bias is None else np.empty_like(self.bias.current())
        resolve(self.backend).dense_backward(x2, w, g2, dx, dw, db)
        self.weight.grad += dw
        if self.bias is not None:
            self.bias.grad += db
        if dx is None:
            return None
        return dx[0] if self._x_ndim == 1 else dx

    def __repr__(self) -> str:
        return (
            f"Linear({self.in_features}, {self.out_features}, bias={self.bias is not None}, "
            f"dtype={self.dtype.name!r}, backend={self.backend!r})"
        )


# ---- containers ------------------------------------------------------------------------------


class Sequential(Module):
    """Modules applied in order; ``backward`` runs them in reverse."""

    def __init__(self, *modules: Module) -> None:
        for m in modules:
            if not isinstance(m, Module):
                raise TypeError(f"relukit: Sequential takes nn modules, got {type(m).__name__}")
        self.modules = list(modules)

    def forward(self, x: Any) -> Any:
        for m in self.modules:
            x = m.forward(x)
        return x

    def backward(self, grad: Any, *, input_grad: bool = True) -> Any:
        """Back through every module; ``input_grad=False`` lets the first one skip dL/dx
        (a training loop never needs the gradient of the data) and returns ``None``."""
        n = len(self.modules)
        for i in range(n - 1, -1, -1):
            grad = self.modules[i].backward(grad, input_grad=input_grad or i > 0)
        return grad if input_grad else None

    def parameters(self) -> list[Parameter]:
        return [p for m in self.modules for p in m.parameters()]

    def __getitem__(self, i: int | slice) -> Any:
        """One module, or a list of them for a slice."""
        return self.modules[i]

    def __len__(self) -> int:
        return len(self.modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self.modules)

    def __repr__(self) -> str:
        inner = "".join(f"\n  ({i}): {m!r}" for i, m in enumerate(self.modules))
        return f"Sequential({inner}\n)"


# ---- activations -----------------------------------------------------------------------------


def _number(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"relukit: {name} must be a number, got {type(value).__name__}")
    return float(value)


class _Activation(Module):
    """An elementwise activation ``f = relukit.<op>`` with derivative ``relukit.<op>_grad``.

    ``backward(grad) = grad * f'(x)`` with ``x`` the input of the last ``forward``. The
    subclasses are made from :data:`relukit.ops.OPS` (one per row with a ``module``): ``op``
    names the row, ``_params`` the op's parameters after ``x``, stored as attributes.
    """

    op = ""
    _params: tuple[str, ...] = ()

    def __init__(self, *, backend: str | None = None) -> None:
        self.backend = _check_backend(backend)
        self._saved: Any = None

    def _args(self) -> tuple:
        return tuple(getattr(self, name) for name in self._params)

    def forward(self, x: Any) -> Any:
        self._saved = x
        return FUNCTIONS[self.op](x, *self._args(), backend=self.backend)

    def derivative(self, x: Any) -> Any:
        """``f'(x)`` (the op's ``<op>_grad``) on this module's backend."""
        return FUNCTIONS[BY_NAME[self.op].grad](x, *self._args(), backend=self.backend)

    def backward(self, grad: Any, *, input_grad: bool = True) -> Any:
        """``grad * f'(x)`` for the input ``x`` of the last ``forward``."""
        if self._saved is None:
            raise RuntimeError(f"relukit: {type(self).__name__}.backward() before forward()")
        d = self.derivative(self._saved)
        if isinstance(d, np.ndarray):
            return np.multiply(d, grad, out=d)
        return d * grad

    def __repr__(self) -> str:
        params = ", ".join(f"{k}={v!r}" for k, v in self._repr_params().items())
        return f"{type(self).__name__}({params})"

    def _repr_params(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._params}


class ReLU(_Activation):
    """Callable ReLU module (as ``torch.nn.ReLU``); ``inplace=True`` overwrites its
    (writeable ndarray) input. ``backward`` uses the output: relu'(relu(x)) == relu'(x)."""

    op = "relu"

    def __init__(self, inplace: bool = False, *, backend: str | None = None) -> None:
        super().__init__(backend=backend)
        self.inplace = bool(inplace)

    def forward(self, x: Any) -> Any:
        if self.inplace:
            if not isinstance(x, np.ndarray):
                raise TypeError("relukit: ReLU(inplace=True) needs a writeable NumPy array input")
            y = relu(x, out=x, backend=self.backend)
        else:
            y = relu(x, backend=self.backend)
        self._saved = y  # positive exactly where x is, NaN where x is: the same derivative
        return y

    def derivative(self, x: Any) -> Any:
        return relu_grad(x, backend=self.backend)

    def __repr__(self) -> str:
        return f"ReLU(inplace={self.inplace})"


def _make_module(op: Op) -> type[_Activation]:
    """The nn module of one op row: ``__init__`` takes the op's parameters (same defaults, same
    checks as the function) and ``backend=``; made from source text for a real signature."""
    if op.grad is None:
        raise ValueError(f"op {op.name}: a module needs the op's derivative (Op.grad)")
    ns: dict[str, Any] = {"_Activation": _Activation}
    sig, lines = ["self"], []
    for i, p in enumerate(op.params):
        if p.default is REQUIRED:
            sig.append(p.name)
        else:
            ns[f"_d{i}"] = p.default
            sig.append(f"{p.name}=_d{i}")
        ns[f"_c{i}"] = p.check
        lines.append(f"    self.{p.name} = _c{i}({p.name}, {p.name!r})")
    if op.constraint is not None:
        ns["_constraint"] = op.constraint
        lines.append(f"    _constraint({', '.join(f'self.{p.name}' for p in op.params)})")
    src = "\n".join(
        [
            f"def __init__({', '.join(sig)}, *, backend=None):",
            "    _Activation.__init__(self, backend=backend)",
            *lines,
        ]
    )
    exec(src, ns)  # source built from the table's names only
    init = ns["__init__"]
    init.__annotations__ = {
        **{p.name: p.annotation for p in op.params},
        "backend": str | None,
        "return": None,
    }
    doc = (
        f"``relukit.{op.name}`` as a module; ``backward(grad)`` is ``grad`` times "
        f"``relukit.{op.grad}`` of the last input.\n\n    {op.doc.strip()}"
    )
    cls = type(
        op.module,
        (_Activation,),
        {
            "__doc__": doc,
            "__init__": init,
            "__module__": __name__,
            "op": op.name,
            "_params": tuple(p.name for p in op.params),
        },
    )
    init.__qualname__ = f"{op.module}.__init__"
    return cls


class PReLU(_Activation):
    """``prelu(x, weight)`` with a learnable ``weight`` (a :class:`Parameter`): one slope
    shared by every channel (``num_parameters=1``) or one per channel (axis 1 of x, as
    PyTorch), initialised to ``init``."""

    op = "prelu"

    def __init__(
        self,
        num_parameters: int = 1,
        init: float = 0.25,
        *,
        dtype: Any = "float32",
        backend: str | None = None,
    ) -> None:
        super().__init__(backend=backend)
        n = _size(num_parameters, "num_parameters")
        if n < 1:
            raise ValueError("relukit: num_parameters must be >= 1")
        self.dtype = _dtype(dtype, "PReLU dtype")
        self.weight = Parameter(np.full(n, _number(init, "init"), dtype=self.dtype), "weight")

    def _args(self) -> tuple:
        return (self.weight.current(),)

    def parameters(self) -> list[Parameter]:
        return [self.weight]

    def backward(self, grad: Any, *, input_grad: bool = True) -> Any:
        """Add dL/dweight into ``weight.grad``; return ``grad * prelu_grad(x, weight)``."""
        if self._saved is None:
            raise RuntimeError("relukit: PReLU.backward() before forward()")
        wgrad = prelu_weight_grad(self._saved, grad, self.weight.current())
        self.weight.grad += np.asarray(wgrad, dtype=self.dtype).reshape(self.weight.shape)
        return super().backward(grad, input_grad=input_grad) if input_grad else None

    def _repr_params(self) -> dict[str, Any]:
        return {"num_parameters": self.weight.shape[0]}


#: The modules written by hand (ReLU's inplace, PReLU's learnable weight); the table's other
#: rows with a module get one made by :func:`_make_module`.
_HAND_WRITTEN: dict[str, type[_Activation]] = {"ReLU": ReLU, "PReLU": PReLU}
for _name, _op in MODULES.items():
    if _name not in _HAND_WRITTEN:
        globals()[_name] = _make_module(BY_NAME[_op])
    elif _HAND_WRITTEN[_name].op != _op:
        raise AssertionError(f"nn.{_name} runs {_HAND_WRITTEN[_name].op}, the table says {_op}")


# ---- loss, optimizer, diagnostics ------------------------------------------------------------


def softmax_cross_entropy(logits: Any, labels: Any) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of ``softmax(logits)`` against integer ``labels``, and its gradient.

    ``logits`` is (batch, classes) float32/float64, ``labels`` (batch,) ints in
    [0, classes). Returns ``(loss, dlogits)`` with ``loss`` a Python float and ``dlogits`` =
    ``(softmax(logits) - onehot(labels)) / batch`` in the logits' dtype. Computed in float64
    with the max subtracted first (log-sum-exp), so large logits do not overflow.
    """
    z = to_array(logits, "logits")
    if z.dtype.kind != "f":
        raise TypeError(f"relukit: logits must be a float array, got dtype {z.dtype}")
    check_dtype(z, "logits")
    if z.ndim != 2 or z.shape[0] == 0 or z.shape[1] == 0:
        raise ValueError(f"relukit: logits must have shape (batch, classes) >= 1, got {z.shape}")
    y = to_array(labels, "labels")
    if y.dtype.kind not in "iu":
        raise TypeError(f"relukit: labels must be integers, got dtype {y.dtype}")
    if y.shape != (z.shape[0],):
        raise ValueError(f"relukit: labels must have shape ({z.shape[0]},), got {y.shape}")
    n, classes = z.shape
    if y.min() < 0 or y.max() >= classes:
        raise ValueError(f"relukit: labels must lie in [0, {classes}), got {y.min()}..{y.max()}")
    rows = np.arange(n)
    shifted = z.astype(np.float64)
    shifted -= shifted.max(axis=1, keepdims=True)
    exp = np.exp(shifted)
    total = exp.sum(axis=1)
    loss = float(np.mean(np.log(total) - shifted[rows, y]))
    exp /= total[:, None]
    exp[rows, y] -= 1.0
    exp /= n
    return loss, exp.astype(z.dtype)


class SGD:
    """Stochastic gradient descent with momentum and weight decay, as ``torch.optim.SGD``:

    ``g = grad + weight_decay * value``; with momentum, ``buf = momentum * buf + g`` (the
    first step sets ``buf = g``) and ``g = buf``; then ``value -= lr * g``, in place.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        self.params = list(params)
        for p in self.params:
            if not isinstance(p, Parameter):
                raise TypeError(f"relukit: SGD takes Parameters, got {type(p).__name__}")
        self.lr = _number(lr, "lr")
        self.momentum = _number(momentum, "momentum")
        self.weight_decay = _number(weight_decay, "weight_decay")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"relukit: lr must be a positive number, got {lr}")
        if not 0.0 <= self.momentum < 1.0:
            raise ValueError(f"relukit: momentum must lie in [0, 1), got {momentum}")
        if not (math.isfinite(self.weight_decay) and self.weight_decay >= 0):
            raise ValueError(f"relukit: weight_decay must be >= 0, got {weight_decay}")
        self._buf: list[np.ndarray | None] = [None] * len(self.params)

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        for i, p in enumerate(self.params):
            g = p.grad
            if self.weight_decay:
                g = g + self.weight_decay * p.value
            if self.momentum:
                buf = self._buf[i]
                if buf is None:
                    buf = self._buf[i] = np.array(g, copy=True)
                else:
                    buf *= self.momentum
                    buf += g
                g = buf
            p.value -= self.lr * g


def dead_fraction(activations: Any) -> float:
    """Fraction of units that are zero for every sample: the dying-ReLU diagnostic.

    ``activations`` is (batch, units...) (axis 0 the samples; every other position is a
    unit). A unit counts as dead when its value is ±0.0 on every sample; NaN is not zero.
    Pass a ReLU layer's outputs for the classic count (a dead ReLU unit gets no gradient from
    any of these samples), or an activation's derivative (``module.derivative(z)``) to count
    units through which no gradient flows for any activation (ReLU6 and hardtanh saturate too).
    """
    a = to_array(activations, "activations")
    if a.dtype.kind not in "fiu":
        raise TypeError(f"relukit: activations must be numbers, got dtype {a.dtype}")
    if a.ndim < 1 or a.shape[0] == 0:
        raise ValueError(f"relukit: activations must be (batch, units...), got {a.shape}")
    if a.size == 0:
        return 0.0
    dead = np.all(a == 0, axis=0)
    return float(np.count_nonzero(dead)) / dead.size
