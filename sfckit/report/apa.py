"""Numbers as a journal prints them (APA 7th edition): ``p < .001``, ``F(2, 304) = 5.12``,
``r = .33``, ``AUC = 0.93, 95% CI [0.90, 0.96]``; never scientific notation in prose."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

NOT_ESTIMABLE = "not estimable"  # a missing number in prose (e.g. an SD of one fold)
MODEL_NAMES = {
    "svm": "support-vector machine (SVM)",
    "logistic": "logistic regression",
    "xgboost": "gradient-boosted trees (XGBoost)",
}


PREDICTOR_NAMES = {  # a model's predictor set in prose
    "clinical": "the clinical variables",
    "imaging": "imaging",
    "imaging+clinical": "imaging with the clinical variables",
    "imaging_deconfounded": "deconfounded imaging",
    "confounds": "the confounds alone",
    "imaging_unharmonized": "imaging without harmonisation",
    "imaging_deviations": "the normative deviations",
}


def model_name(name: str) -> str:
    """A model's name in prose (``svm`` -> ``support-vector machine (SVM)``)."""
    return MODEL_NAMES.get(str(name), str(name))


def number(value: float, decimals: int = 2) -> str:
    """A fixed-point number with thousands separators (``-0.000861`` -> ``-0.00``, never
    ``-8.61e-04``; ``42842`` -> ``42,842``)."""
    if value is None or not math.isfinite(float(value)):
        return NOT_ESTIMABLE
    text = f"{float(value):,.{decimals}f}"
    return text[1:] if text.startswith("-") and float(text.replace(",", "")) == 0 else text


def integer(value: int | float) -> str:
    """A count with thousands separators (``42842`` -> ``42,842``)."""
    return f"{int(value):,}"


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


def p_cell(p: float) -> str:
    """A p value in a table cell (``< .001``, ``.012``, ``1.000`` never: ``> .999``)."""
    if p is None or not math.isfinite(float(p)):
        return "n/a"
    p = float(p)
    if p < 0.001:
        return "< .001"
    return "> .999" if p > 0.999 else bounded(p, 3)


def alpha(value: float, label: str = "p") -> str:
    """A significance threshold (``FDR < .05``; ``p < .001``)."""
    text = f"{float(value):g}"
    return f"{label} < {text[1:] if text.startswith('0.') else text}"


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
    """``a``, ``a and b``, ``a, b and c``, each item as a reader sees it (:func:`label`:
    ``duration_months`` -> ``duration months``)."""
    items = [label(i) for i in items]
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def count(n: int, singular: str, plural: str | None = None) -> str:
    """``1 region``, ``3 regions``, ``2,226 participants``; ``no regions`` for none."""
    word = singular if n == 1 else plural or singular + "s"
    return f"{'no' if n == 0 else integer(n)} {word}"


_SMALL = ("none", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def small(n: int) -> str:
    """A count as a word below ten (APA: ``one``, ``nine``), else as a numeral (``10``)."""
    return _SMALL[n] if 0 <= n < 10 else integer(n)


_TENS = ("", "", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_TEENS = ("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen",
          "seventeen", "eighteen", "nineteen")  # fmt: skip


def opening_count(n: int, singular: str, plural: str | None = None) -> str:
    """A count that begins a sentence (APA 7: spelled out): ``No regions``, ``One region``,
    ``Sixteen regions``, ``Forty-two regions``; from 100 on, ``A total of 310 participants``."""
    word = singular if n == 1 else plural or singular + "s"
    if n == 0:
        return f"No {word}"
    if n < 10:
        spelled = _SMALL[n]
    elif n < 20:
        spelled = _TEENS[n - 10]
    elif n < 100:
        spelled = _TENS[n // 10] + (f"-{_SMALL[n % 10]}" if n % 10 else "")
    else:
        return f"A total of {integer(n)} {word}"
    return f"{spelled.capitalize()} {word}"


def part(k: int, n: int) -> str:
    """How many of ``n`` (as the subject of a sentence that names the ``n``): ``all`` when
    every one, ``none`` for none, else ``k`` (never ``10 of 10``)."""
    if k == n:
        return "both" if n == 2 else "all"
    return small(k)


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

    text = np.format_float_positional(
        float(value), precision=digits, unique=True, fractional=False, trim="-"
    )
    whole, _, fraction = text.partition(".")
    sign = "-" if whole.startswith("-") else ""
    whole = f"{int(whole.lstrip('-') or 0):,}"
    return sign + whole + ("." + fraction if fraction else "")


# Display labels: the study file's ``labels`` (columns, groups, treatments), else a readable
# default (no underscores; known abbreviations in capitals).
_STUDY_LABELS: ContextVar[Mapping[str, str] | None] = ContextVar("study_labels", default=None)
_ABBREVIATIONS = {
    "fd": "FD",
    "ci": "CI",
    "auc": "AUC",
    "sfc": "SFC",
    "gmv": "GMV",
    "alff": "ALFF",
    "malff": "mALFF",
    "hc": "HC",
    "fdr": "FDR",
    "fwe": "FWE",
    "fwer": "FWER",
    "tms": "TMS",
    "ect": "ECT",
    "rtms": "rTMS",
    "itbs": "iTBS",
    "tdcs": "tDCS",
    "nri": "NRI",
    "idi": "IDI",
    "id": "ID",
    "sd": "SD",
    "se": "SE",
    "hamd": "HAMD",
    "hama": "HAMA",
    "bsi": "BSI",
    "madrs": "MADRS",
    "toc": "TOC",
    "pai": "PAI",
    "mm3": "mm³",
    "mni": "MNI",
    "qc": "QC",
    "ssri": "SSRI",
    "cv": "CV",
    "ari": "ARI",
    "ece": "ECE",
    "ici": "ICI",
    "delong": "DeLong",
    "eta2": "η²",
    "cca": "CCA",
    "svm": "SVM",
    "xgboost": "XGBoost",
    "kmeans": "k-means",
    "ward": "Ward",
    "holm": "Holm",
    "cohen": "Cohen's",
}


@contextmanager
def using_labels(labels: Mapping[str, str] | None) -> Iterator[None]:
    """Within the block, :func:`label` uses the study's ``labels`` first."""
    token = _STUDY_LABELS.set(dict(labels or {}))
    try:
        yield
    finally:
        _STUDY_LABELS.reset(token)


def label(name: object) -> str:
    """A column, group, treatment or value as a reader sees it: the study's label, else
    words without underscores (``duration_months`` -> ``duration months``, ``mean_fd`` ->
    ``mean FD``, ``p_fdr`` -> ``p_FDR``, ``Precentral_L`` -> ``Precentral L``). File names
    and paths are kept as they are."""
    text = str(name)
    labels = _STUDY_LABELS.get() or {}
    if text in labels:
        return str(labels[text])
    if "_" not in text and text.lower() not in _ABBREVIATIONS:
        return text
    if any(space in text for space in " \t\n"):  # a phrase: each name in it, files kept
        return prose_names(text)
    if "/" in text or re.search(r"\.[a-z]{2,4}$", text):
        return text
    words = text.split("_")
    if words[0] in ("p", "q") and len(words) > 1:
        return f"{words[0]}_" + " ".join(_word(w, True) for w in words[1:])
    return " ".join(_word(w, i > 0) for i, w in enumerate(words) if w)


def _word(word: str, later: bool) -> str:
    known = _ABBREVIATIONS.get(word.lower())
    if known and (word.islower() or word.isupper()):
        return known
    return word


def labels(names: Iterable[object]) -> list[str]:
    """:func:`label` of each name."""
    return [label(n) for n in names]


_NAME_IN_TEXT = re.compile(
    r"(?<![\w./\\-])([A-Za-z][A-Za-z0-9]*(?:_[A-Za-z0-9]+)+)(?![\w/\\]|\.\w)"
)


def prose_names(text: str) -> str:
    """Every snake_case name in a text quoted from a file (checklist evidence) as its
    display :func:`label`; file names and paths are left as they are."""
    return _NAME_IN_TEXT.sub(lambda m: label(m.group(1)), str(text))
