"""Numbers as a journal prints them (APA 7th edition): ``p < .001``, ``F(2, 304) = 5.12``,
``r = .33``, ``AUC = 0.93, 95% CI [0.90, 0.96]``; never scientific notation in prose."""

from __future__ import annotations

import math
from collections.abc import Iterable

NOT_ESTIMABLE = "not estimable"  # a missing number in prose (e.g. an SD of one fold)
MODEL_NAMES = {
    "svm": "support-vector machine (SVM)",
    "logistic": "logistic regression",
    "xgboost": "gradient-boosted trees (XGBoost)",
}


def model_name(name: str) -> str:
    """A model's name in prose (``svm`` -> ``support-vector machine (SVM)``)."""
    return MODEL_NAMES.get(str(name), str(name))


def number(value: float, decimals: int = 2) -> str:
    """A fixed-point number (``-0.000861`` -> ``-0.00``; never ``-8.61e-04``)."""
    if value is None or not math.isfinite(float(value)):
        return NOT_ESTIMABLE
    text = f"{float(value):.{decimals}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def bounded(value: float, decimals: int = 2) -> str:
    """A statistic bounded by 1 (r, p, η², proportions) without its leading zero (``.33``)."""
    text = number(value, decimals)
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def p_value(p: float, *, floor: bool = False, label: str = "p") -> str:
    """``p < .001``, ``p = .012`` (``p_FDR = .04`` with ``label``); ``floor``: the p is the
    smallest the number of permutations can give, said so."""
    p = float(p)
    if not 0 <= p <= 1:
        raise ValueError(f"p = {p} is not a probability")
    text = f"{label} < .001" if p < 0.001 else f"{label} = {bounded(p, 3)}"
    return text + " (the permutation floor)" if floor else text


def f_test(f: float, df1: float, df2: float) -> str:
    """``F(2, 304) = 5.12``."""
    return f"F({_df(df1)}, {_df(df2)}) = {number(f)}"


def t_test(t: float, df: float) -> str:
    """``t(304) = -2.41``."""
    return f"t({_df(df)}) = {number(t)}"


def interval(low: float, high: float, decimals: int = 2, *, bounded_by_one: bool = False) -> str:
    """``95% CI [0.90, 0.96]``."""
    show = bounded if bounded_by_one else number
    return f"95% CI [{show(low, decimals)}, {show(high, decimals)}]"


def estimate(
    name: str, value: float, low: float, high: float, *, decimals: int = 2, bounded_by_one=False
) -> str:
    """``AUC = 0.93, 95% CI [0.90, 0.96]``."""
    show = bounded if bounded_by_one else number
    return (
        f"{name} = {show(value, decimals)}, "
        f"{interval(low, high, decimals, bounded_by_one=bounded_by_one)}"
    )


def _df(value: float) -> str:
    value = float(value)
    return str(int(value)) if value.is_integer() else number(value, 1)


def listing(items: Iterable[object]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    items = [str(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 region``, ``3 regions``; ``no regions`` for none."""
    word = singular if n == 1 else plural or singular + "s"
    return f"{'no' if n == 0 else n} {word}"


def prose_number(value: float | int | None, digits: int = 3) -> str:
    """A number in prose to ``digits`` significant digits, never in scientific notation
    (``-0.000861``, ``0.935``, ``1.2e+03`` -> ``1200``); booleans as yes/no."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return str(value)
    if value is None or not math.isfinite(float(value)):
        return NOT_ESTIMABLE
    import numpy as np

    return np.format_float_positional(
        float(value), precision=digits, unique=True, fractional=False, trim="-"
    )
