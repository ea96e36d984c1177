"""Minimum sample size for developing a binary-outcome prediction model (Riley et al. 2020).

Riley RD et al. Calculating the sample size required for developing a clinical prediction
model. BMJ 2020;368:m441. The three criteria for a binary outcome are closed forms:

1. expected uniform shrinkage of the predictor effects at least ``shrinkage`` (0.9);
2. a small optimism in the apparent Nagelkerke R^2 (at most ``nagelkerke_optimism``, 0.05);
3. the overall risk (intercept) estimated within ``intercept_margin`` (0.05) at 95%.

The anticipated Cox-Snell R^2 may be derived from an anticipated C-statistic (Riley et al.,
Diagn Progn Res 2022;6:9), which assumes a linear predictor that is normal with unit variance
in events and non-events.

Written here because the ``pmsampsize`` Python port has no wheel on the package index our
machines can reach (docs/DECISIONS.md); the tests check these functions against the worked
example the R package ``pmsampsize`` documents and against a simulated logistic fit.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from scipy import integrate, stats

Z_95 = stats.norm.ppf(0.975)


def max_cox_snell_r2(*, prevalence: float) -> float:
    """The largest Cox-Snell R^2 a binary outcome with this prevalence allows.

    Parameters
    ----------
    prevalence : float
        Proportion of events, in (0, 1).

    Returns
    -------
    float
        ``1 - (p^p (1-p)^(1-p))^2``.
    """
    _check_prevalence(prevalence)
    null_loglik = prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence)
    return 1 - math.exp(2 * null_loglik)


def cox_snell_r2_from_c(*, c_statistic: float, prevalence: float) -> float:
    """The Cox-Snell R^2 a model with this C-statistic has at this prevalence.

    The linear predictor is normal with unit variance in both classes and means that differ
    by ``sqrt(2) * Phi^-1(C)``; the log-odds are then exactly linear in it, so the expected
    log-likelihood per person is an integral, computed by quadrature instead of Riley's
    simulation of a million people.

    Parameters
    ----------
    c_statistic : float
        Anticipated C-statistic (AUC), in (0.5, 1).
    prevalence : float
        Proportion of events, in (0, 1).

    Returns
    -------
    float
        The anticipated Cox-Snell R^2 (0 for C = 0.5).
    """
    _check_prevalence(prevalence)
    if not 0.5 <= c_statistic < 1:
        raise ValueError(f"c_statistic must lie in [0.5, 1), got {c_statistic}")
    shift = math.sqrt(2) * stats.norm.ppf(c_statistic)
    log_prior_odds = math.log(prevalence / (1 - prevalence))

    def log_odds(score: float) -> float:
        return log_prior_odds + shift * score - shift**2 / 2

    def event_term(score: float) -> float:
        return -np.logaddexp(0.0, -log_odds(score)) * stats.norm.pdf(score - shift)

    def nonevent_term(score: float) -> float:
        return -np.logaddexp(0.0, log_odds(score)) * stats.norm.pdf(score)

    low, high = -12.0, 12.0 + shift
    events, _ = integrate.quad(event_term, low, high, limit=200)
    nonevents, _ = integrate.quad(nonevent_term, low, high, limit=200)
    model_loglik = prevalence * events + (1 - prevalence) * nonevents
    null_loglik = prevalence * math.log(prevalence) + (1 - prevalence) * math.log(1 - prevalence)
    return max(0.0, 1 - math.exp(-2 * (model_loglik - null_loglik)))


def riley_binary_sample_size(
    *,
    parameters: int,
    prevalence: float,
    cox_snell_r2: float,
    shrinkage: float = 0.9,
    nagelkerke_optimism: float = 0.05,
    intercept_margin: float = 0.05,
) -> pd.DataFrame:
    """Riley et al.'s three criteria and the minimum sample size they imply.

    Parameters
    ----------
    parameters : int
        Candidate predictor parameters (all the model may use, not only those it keeps).
    prevalence : float
        Anticipated proportion of events.
    cox_snell_r2 : float
        Anticipated Cox-Snell R^2 of the model, in (0, max R^2).
    shrinkage : float
        Smallest acceptable expected shrinkage (criterion 1).
    nagelkerke_optimism : float
        Largest acceptable optimism of the Nagelkerke R^2 (criterion 2).
    intercept_margin : float
        Margin of error of the overall risk at 95% (criterion 3).

    Returns
    -------
    pandas.DataFrame
        One row per criterion and a ``final`` row: ``criterion``, ``sample_size``,
        ``shrinkage``, ``events``, ``events_per_parameter``.

    Notes
    -----
    As in ``pmsampsize``, criterion 2 never asks for less shrinkage than ``shrinkage``, and
    the final row and criterion 3 carry the larger of the two shrinkage levels.
    """
    if parameters < 1:
        raise ValueError(f"parameters must be at least 1, got {parameters}")
    r2_max = max_cox_snell_r2(prevalence=prevalence)
    if not 0 < cox_snell_r2 < r2_max:
        raise ValueError(
            f"cox_snell_r2 must lie in (0, {r2_max:.3f}) at prevalence {prevalence}, "
            f"got {cox_snell_r2}"
        )

    def size_for(level: float) -> int:
        return math.ceil(parameters / ((level - 1) * math.log(1 - cox_snell_r2 / level)))

    shrinkage_2 = max(shrinkage, cox_snell_r2 / (cox_snell_r2 + nagelkerke_optimism * r2_max))
    sizes = {
        "1: shrinkage": (size_for(shrinkage), shrinkage),
        "2: optimism of Nagelkerke R2": (size_for(shrinkage_2), shrinkage_2),
        "3: overall risk": (
            math.ceil((Z_95 / intercept_margin) ** 2 * prevalence * (1 - prevalence)),
            shrinkage_2,
        ),
    }
    final = max(size for size, _ in sizes.values())
    sizes["final"] = (final, shrinkage_2)
    rows = [
        {
            "criterion": name,
            "sample_size": size,
            "shrinkage": level,
            "events": size * prevalence,
            "events_per_parameter": size * prevalence / parameters,
        }
        for name, (size, level) in sizes.items()
    ]
    table = pd.DataFrame(rows)
    table["parameters"] = parameters
    table["prevalence"] = prevalence
    table["cox_snell_r2"] = cox_snell_r2
    table["max_cox_snell_r2"] = r2_max
    return table


def sample_size_verdict(
    *, parameters: int, n_positive: int, n_negative: int, c_statistic: float
) -> tuple[pd.DataFrame | None, dict]:
    """Riley's minimum sample size for this cohort's prevalence and predictors, and a verdict.

    Parameters
    ----------
    parameters : int
        Candidate predictor parameters.
    n_positive, n_negative : int
        Participants with and without the outcome.
    c_statistic : float
        Anticipated C-statistic (for example this run's cross-validated AUC).

    Returns
    -------
    table : pandas.DataFrame or None
        :func:`riley_binary_sample_size`'s table (None when C <= 0.5, where no sample size
        suffices).
    summary : dict
        ``minimum_n``, ``actual_n``, ``adequate`` and a plain ``sentence``.
    """
    actual = n_positive + n_negative
    prevalence = n_positive / actual
    c_used = min(c_statistic, 0.99)
    summary = {
        "method": "Riley et al. BMJ 2020;368:m441 (binary outcome)",
        "parameters": parameters,
        "prevalence": prevalence,
        "anticipated_c": c_used,
        "actual_n": actual,
    }
    if c_used <= 0.5:
        summary.update(
            minimum_n=None,
            adequate=False,
            sentence=f"With an anticipated C of {c_used:.2f} no sample size gives a useful model.",
        )
        return None, summary
    r2 = cox_snell_r2_from_c(c_statistic=c_used, prevalence=prevalence)
    table = riley_binary_sample_size(parameters=parameters, prevalence=prevalence, cox_snell_r2=r2)
    minimum = int(table["sample_size"].iloc[-1])
    adequate = actual >= minimum
    shown_prevalence = f"{prevalence:.2f}".removeprefix("0")  # APA: a proportion as .32
    summary.update(
        minimum_n=minimum,
        adequate=adequate,
        cox_snell_r2=r2,
        sentence=(  # the sentence the report and the model card quote
            f"Developing a model with {parameters} candidate predictor parameters at prevalence "
            f"{shown_prevalence} and C {c_used:.2f} needs at least {minimum:,} participants "
            f"(Riley et al. 2020); this cohort has {actual:,}, "
            + (
                "which is enough."
                if adequate
                else f"{minimum - actual:,} too few: expect an over-fitted, optimistic model."
            )
        ),
    )
    return table, summary


def _check_prevalence(prevalence: float) -> None:
    if not 0 < prevalence < 1:
        raise ValueError(f"prevalence must lie in (0, 1), got {prevalence}")
