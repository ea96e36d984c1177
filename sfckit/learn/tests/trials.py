"""Simulated treatment trials shared by the treatment-rule and what-if tests."""

import numpy as np

from sfckit.learn.treatment import learn_treatment_rule
from sfckit.simulate.treatment import TREATMENTS, simulate_treatments


def randomised_trial(seed: int, n: int, *, sfc_noise: float = 0.0):
    """A randomised trial of the four treatments with planted heterogeneity (2.0) in
    standard-normal SFC, severity and chronicity; returns the simulator's draw, the
    covariates (SFC measured with ``sfc_noise`` SD of noise, severity, chronicity) and the
    index of each patient's treatment."""
    rng = np.random.default_rng(seed)
    sfc, severity, chronicity = rng.normal(size=n), rng.normal(size=n), rng.normal(size=n)
    drawn = simulate_treatments(
        sfc=sfc,
        severity=severity,
        chronicity=chronicity,
        assignment="randomised",
        heterogeneity=2.0,
        rng=rng,
    )
    measured = sfc + sfc_noise * rng.normal(size=n) if sfc_noise else sfc
    x = np.column_stack([measured, severity, chronicity])
    received = np.array([TREATMENTS.index(t) for t in drawn["treatment"]])
    return drawn, x, received


def rule_on(x, received, drawn, settings):
    """``learn_treatment_rule`` with ``x`` as the rule's only feature set and as the
    nuisance models' covariates."""
    return learn_treatment_rule(
        {"x": x},
        covariates=x,
        received=received,
        outcome=drawn["remitted"],
        treatments=list(TREATMENTS),
        settings=settings,
    )
