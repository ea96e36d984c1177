"""ComBat site harmonisation as a pipeline step, fitted on training folds only.

Written here rather than imported: neuroHarmonize (the maintained wrapper) pins numpy<2 and
pandas<3, so it cannot be installed next to sfckit's stack, and neuroCombat (its engine,
last released 2021) prints to stdout, fails with ``ref_batch`` on numpy>=1.24 and, when
applied to new data, ignores the new participants' covariates. The algorithm below is
Johnson et al. 2007 / Fortin et al. 2018 (location/scale model, parametric empirical
Bayes); the tests check it against neuroCombat to 1e-8 on data neuroCombat handles.

Input layout (so that it fits in a scikit-learn Pipeline, which passes one matrix):
``[features to harmonise | passthrough columns | site code | covariates]``. The passthrough
columns (clinical variables, confounds) are returned unchanged after the harmonised
features; site code and covariates are dropped. The covariates (e.g. age, sex) are kept
in the data: their effects are estimated with the site effects and added back. The label
being predicted is never an input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from sfckit.errors import UserError

UNSEEN_SITE_POLICIES = ("error", "reference")
CONVERGENCE = 1e-4


def check_unseen_site(policy: str) -> str:
    """The policy for sites absent from training, or a UserError listing the choices."""
    if policy not in UNSEEN_SITE_POLICIES:
        raise UserError(
            f"invalid --unseen-site '{policy}'",
            expected=" or ".join(UNSEEN_SITE_POLICIES),
            fix="use --unseen-site error or --unseen-site reference",
        )
    return policy


@dataclass(frozen=True)
class Harmonization:
    """How a pipeline harmonises: the ComBat parameters that do not depend on the data.

    ``n_passthrough`` columns before the site code are left alone (clinical variables,
    confounds); ``n_covariates`` columns after it are covariates to preserve.
    """

    n_covariates: int = 0
    n_passthrough: int = 0
    unseen_site: str = "error"
    site_names: tuple[str, ...] = ()

    @property
    def n_side_columns(self) -> int:
        """Columns the harmoniser consumes (site code and covariates)."""
        return 1 + self.n_covariates

    def step(self) -> ComBat:
        """A fresh ComBat step for a Pipeline."""
        return ComBat(
            n_covariates=self.n_covariates,
            n_passthrough=self.n_passthrough,
            unseen_site=self.unseen_site,
            site_names=self.site_names,
        )


class ComBat(TransformerMixin, BaseEstimator):
    """Remove additive and multiplicative site effects from every feature.

    Parameters
    ----------
    n_covariates : int
        Number of trailing covariate columns (after the site code) whose effects are kept.
    n_passthrough : int
        Number of columns just before the site code that are passed through unchanged.
    unseen_site : {"error", "reference"}
        What ``transform`` does with a site that was not in the training data. ``"error"``
        stops with a message. ``"reference"`` treats the training sites as the reference:
        the new site's location and scale are estimated from its own rows in the data being
        transformed (features and covariates only, never labels) with the same empirical
        Bayes shrinkage, and mapped onto the training sites' pooled distribution.
    site_names : tuple of str
        Names of the site codes, for messages.
    """

    def __init__(
        self,
        n_covariates: int = 0,
        n_passthrough: int = 0,
        unseen_site: str = "error",
        site_names: tuple[str, ...] = (),
    ):
        self.n_covariates = n_covariates
        self.n_passthrough = n_passthrough
        self.unseen_site = unseen_site
        self.site_names = site_names

    def _split(self, X) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=float)
        n_side = 1 + self.n_covariates
        features_end = X.shape[1] - n_side - self.n_passthrough
        return (
            X[:, :features_end],
            X[:, features_end : X.shape[1] - n_side],
            X[:, X.shape[1] - n_side],
            X[:, X.shape[1] - self.n_covariates :],
        )

    def _site_name(self, code: float) -> str:
        index = int(code)
        return self.site_names[index] if 0 <= index < len(self.site_names) else str(index)

    def fit(self, X, y=None):
        """Estimate covariate effects, pooled variance and per-site L/S parameters.

        ``y`` is ignored: the diagnosis is never part of the ComBat model.
        """
        check_unseen_site(self.unseen_site)
        features, _, sites, covariates = self._split(X)
        self.sites_ = np.unique(sites)
        onehot = (sites[:, None] == self.sites_[None, :]).astype(float)
        design = np.column_stack([onehot, covariates])
        coef = _least_squares_with_gaps(design, features)
        n_sites = len(self.sites_)
        counts = onehot.sum(axis=0)
        self.grand_mean_ = (counts / counts.sum()) @ coef[:n_sites]
        self.covariate_coef_ = coef[n_sites:]
        residual = features - design @ coef
        pooled = np.nanmean(residual**2, axis=0)
        self.var_pooled_ = np.where(pooled > 0, pooled, 1.0)
        standardized = self._standardize(features, self._expected(covariates))
        self.gamma_star_ = np.zeros((n_sites, features.shape[1]))
        self.delta_star_ = np.ones((n_sites, features.shape[1]))
        for index in range(n_sites):
            rows = standardized[sites == self.sites_[index]]
            self.gamma_star_[index], self.delta_star_[index] = _site_parameters(rows)
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def _expected(self, covariates: np.ndarray) -> np.ndarray:
        """Site-free expected features: grand mean plus the covariates' effects."""
        return self.grand_mean_ + covariates @ self.covariate_coef_

    def _standardize(self, features: np.ndarray, expected: np.ndarray) -> np.ndarray:
        return (features - expected) / np.sqrt(self.var_pooled_)

    def transform(self, X):
        """Harmonise the features; return them followed by the passthrough columns."""
        features, passthrough, sites, covariates = self._split(X)
        expected = self._expected(covariates)
        standardized = self._standardize(features, expected)
        adjusted = np.empty_like(standardized)
        for code in np.unique(sites):
            rows = sites == code
            known = np.flatnonzero(self.sites_ == code)
            if known.size:
                gamma, delta = self.gamma_star_[known[0]], self.delta_star_[known[0]]
            elif self.unseen_site == "reference":
                gamma, delta = _site_parameters(standardized[rows])
            else:
                raise UserError(
                    f"site '{self._site_name(code)}' was not in the data ComBat was fitted on",
                    expected="only sites seen in training (--unseen-site error)",
                    fix="add --unseen-site reference to map a new site onto the training "
                    "sites from its own images, or use --validation cv",
                )
            adjusted[rows] = (standardized[rows] - gamma) / np.sqrt(delta)
        harmonized = adjusted * np.sqrt(self.var_pooled_) + expected
        return np.hstack([harmonized, passthrough])


def _least_squares_with_gaps(design: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Per-feature least squares, each on the rows where that feature is present."""
    coef = np.zeros((design.shape[1], features.shape[1]))
    complete = np.isfinite(features).all(axis=0)
    if complete.any():
        coef[:, complete] = np.linalg.lstsq(design, features[:, complete], rcond=None)[0]
    for column in np.flatnonzero(~complete):
        present = np.isfinite(features[:, column])
        if present.sum() > design.shape[1]:
            coef[:, column] = np.linalg.lstsq(
                design[present], features[present, column], rcond=None
            )[0]
    return coef


def _site_parameters(standardized: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Empirical-Bayes location and scale of one site (Johnson et al. 2007, parametric).

    ``standardized`` holds the site's rows of the standardised data. The prior of the
    location is normal across features, that of the scale inverse-gamma (method of
    moments); the posterior means are found by the fixed-point iteration of ComBat.
    A site with a single row gets a location-only adjustment (scale 1).
    """
    n_present = np.isfinite(standardized).sum(axis=0)
    gamma_hat = np.nanmean(standardized, axis=0) if len(standardized) else np.zeros(0)
    gamma_bar = np.nanmean(gamma_hat)
    tau2 = np.nanvar(gamma_hat, ddof=1)
    if len(standardized) < 2:
        return (tau2 * gamma_hat + gamma_bar) / (tau2 + 1.0), np.ones_like(gamma_hat)
    delta_hat = np.nanvar(standardized, axis=0, ddof=1)
    delta_hat = np.where((delta_hat == 0) | ~np.isfinite(delta_hat), 1.0, delta_hat)
    mean, variance = delta_hat.mean(), delta_hat.var(ddof=1)
    a_prior = (2 * variance + mean**2) / variance
    b_prior = (mean * variance + mean**3) / variance
    gamma, delta = gamma_hat.copy(), delta_hat.copy()
    filled = np.nan_to_num(standardized)
    present = np.isfinite(standardized)
    for _ in range(1000):
        gamma_new = (tau2 * n_present * gamma_hat + delta * gamma_bar) / (tau2 * n_present + delta)
        squares = (((filled - gamma_new) ** 2) * present).sum(axis=0)
        delta_new = (0.5 * squares + b_prior) / (n_present / 2.0 + a_prior - 1.0)
        # ComBat's stopping rule as in R's sva and neuroCombat (relative change divided by
        # the signed previous location), kept so results match the reference exactly.
        with np.errstate(divide="ignore", invalid="ignore"):
            change = max(
                np.nanmax(np.abs(gamma_new - gamma) / gamma),
                np.nanmax(np.abs(delta_new - delta) / delta),
            )
        gamma, delta = gamma_new, delta_new
        if change <= CONVERGENCE:
            break
    return gamma, delta
