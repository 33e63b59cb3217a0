"""A vectorised float64 ``erfc`` for the NumPy backend (NumPy has no erf/erfc ufunc).

The method and its rational-approximation coefficients are those of fdlibm's ``s_erf.c``
(the same algorithm as glibc's and musl's erfc, and the Rust ``libm`` crate's), evaluated
here with NumPy on the elements of each range; error < 1 ulp over the whole range, as
fdlibm documents. The coefficients carry fdlibm's notice:

    Copyright (C) 1993 by Sun Microsystems, Inc. All rights reserved.
    Developed at SunPro, a Sun Microsystems, Inc. business.
    Permission to use, copy, modify, and distribute this software is freely granted,
    provided that this notice is preserved.

Ranges of ``a = |x|``:

1. ``a < 0.84375``: erfc = 1 - (x + x R(x^2)) for x < 1/4, else 0.5 - (x R + (x - 0.5)),
   R = P/Q rational.
2. ``0.84375 <= a < 1.25``: erfc = (1 - c) - P1(s)/Q1(s) (x > 0) or 1 + (c + P1/Q1), s = a - 1,
   c = 0.84506291151 rounded to float32.
3. ``1.25 <= a < 28``: erfc = exp(-z^2 - 0.5625) exp((z - a)(z + a) + R/S) / a (x > 0; 2 minus
   that for x < 0; 2 for x <= -6), with z = a with its low 32 bits cleared so that z^2 is
   exact, R/S rational in 1/a^2 (one pair below 1/0.35, another above).
4. ``a >= 28``: 0 for x > 0, 2 for x < 0. NaN gives NaN.
"""

from __future__ import annotations

import numpy as np

_ERX = 8.45062911510467529297e-01
_PP = (
    1.28379167095512558561e-01,
    -3.25042107247001499370e-01,
    -2.84817495755985104766e-02,
    -5.77027029648944159157e-03,
    -2.37630166566501626084e-05,
)
_QQ = (
    1.0,
    3.97917223959155352819e-01,
    6.50222499887672944485e-02,
    5.08130628187576562776e-03,
    1.32494738004321644526e-04,
    -3.96022827877536812320e-06,
)
_PA = (
    -2.36211856075265944077e-03,
    4.14856118683748331666e-01,
    -3.72207876035701323847e-01,
    3.18346619901161753674e-01,
    -1.10894694282396677476e-01,
    3.54783043256182359371e-02,
    -2.16637559486879084300e-03,
)
_QA = (
    1.0,
    1.06420880400844228286e-01,
    5.40397917702171048937e-01,
    7.18286544141962662868e-02,
    1.26171219808761642112e-01,
    1.36370839120290507362e-02,
    1.19844998467991074170e-02,
)
_RA = (
    -9.86494403484714822705e-03,
    -6.93858572707181764372e-01,
    -1.05586262253232909814e01,
    -6.23753324503260060396e01,
    -1.62396669462573470355e02,
    -1.84605092906711035994e02,
    -8.12874355063065934246e01,
    -9.81432934416914548592e00,
)
_SA = (
    1.0,
    1.96512716674392571292e01,
    1.37657754143519042600e02,
    4.34565877475229228821e02,
    6.45387271733267880336e02,
    4.29008140027567833386e02,
    1.08635005541779435134e02,
    6.57024977031928170135e00,
    -6.04244152148580987438e-02,
)
_RB = (
    -9.86494292470009928597e-03,
    -7.99283237680523006574e-01,
    -1.77579549177547519889e01,
    -1.60636384855821916062e02,
    -6.37566443368389627722e02,
    -1.02509513161107724954e03,
    -4.83519191608651397019e02,
)
_SB = (
    1.0,
    3.03380607434824582924e01,
    3.25792512996573918826e02,
    1.53672958608443695994e03,
    3.19985821950859553908e03,
    2.55305040643316442583e03,
    4.74528541206955367215e02,
    -2.24409524465858183362e01,
)
#: 1/0.35 as fdlibm tests it: the double whose high word is 0x4006DB6D (low word 0).
_SPLIT = float(np.array(0x4006DB6D00000000, dtype=np.uint64).view(np.float64))
_HIGH_WORD = np.uint64(0xFFFFFFFF00000000)


def _horner(z: np.ndarray, coeffs: tuple[float, ...]) -> np.ndarray:
    """c0 + z*(c1 + z*(c2 + ...)), in fdlibm's evaluation order."""
    acc = np.full_like(z, coeffs[-1])
    for c in coeffs[-2::-1]:
        acc = c + z * acc
    return acc


def erfc(x: np.ndarray) -> np.ndarray:
    """Complementary error function of a float64 array (any shape), elementwise."""
    x = np.asarray(x, dtype=np.float64)
    res = np.empty_like(x)
    a = np.abs(x)
    with np.errstate(all="ignore"):
        m = a < 0.84375
        if m.any():
            xs = x[m]
            z = xs * xs
            y = _horner(z, _PP) / _horner(z, _QQ)
            res[m] = np.where(xs < 0.25, 1.0 - (xs + xs * y), 0.5 - (xs * y + (xs - 0.5)))
        m = (a >= 0.84375) & (a < 1.25)
        if m.any():
            xs = x[m]
            s = a[m] - 1.0
            pq = _horner(s, _PA) / _horner(s, _QA)
            res[m] = np.where(xs >= 0, (1.0 - _ERX) - pq, 1.0 + (_ERX + pq))
        m = (a >= 1.25) & (a < 28.0)
        if m.any():
            xs = x[m]
            ax = a[m]
            s = 1.0 / (ax * ax)
            low = ax < _SPLIT
            ratio = np.where(
                low,
                _horner(s, _RA) / _horner(s, _SA),
                _horner(s, _RB) / _horner(s, _SB),
            )
            z = (ax.view(np.uint64) & _HIGH_WORD).view(np.float64)
            r = np.exp(-z * z - 0.5625) * np.exp((z - ax) * (z + ax) + ratio) / ax
            res[m] = np.where(xs > 0, r, np.where(xs <= -6.0, 2.0, 2.0 - r))
        m = a >= 28.0  # also +-inf
        res[m] = np.where(x[m] > 0, 0.0, 2.0)
        nan = np.isnan(x)
        res[nan] = x[nan]
    return res
