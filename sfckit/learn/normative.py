"""Normative models of regional features fitted on healthy controls, and deviation scores.

Per region, a Bayesian linear regression (scikit-learn's ``BayesianRidge``) of the feature
on a natural cubic-spline basis of age, sex and site (a fixed batch offset per site) is
fitted on controls. A participant's deviation is ``z = (y - mean) / (sd * site_scale)``,
where ``mean`` and ``sd`` are the model's predictive mean and standard deviation (noise plus
parameter uncertainty) and ``site_scale`` the site's residual spread relative to all
controls, so site differences in location and scale are both absorbed.

A new site is *transferred* from a few of its own controls: its offset and scale are
estimated from their residuals under the model (offset shrunk towards 0 by n / (n + 5)),
as normative-modelling tools adapt to unseen scanners. Fewer than ``min_site_controls``
controls at a site is an error: the site's deviations would be dominated by its offset.

Written with scikit-learn because PCNtoolkit (the reference toolbox) requires PyMC,
PyTensor, numba and nutpie; see docs/DECISIONS.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sfckit.errors import UserError

EXTREME_Z = 2.6  # |z| beyond this is an extreme deviation (p < 0.01, two-sided)
_SHRINK = 5.0  # controls worth of prior weight on a transferred site's offset


def _spline_basis(age: np.ndarray, knots: np.ndarray) -> np.ndarray:
    """Natural cubic spline basis (linear beyond the boundary knots) of age."""
    from patsy import cr

    return np.asarray(cr(age, knots=knots[1:-1], lower_bound=knots[0], upper_bound=knots[-1]))


@dataclass
class NormativeModel:
    """A normative model of several regions (fit on controls, then score anyone).

    Parameters
    ----------
    n_knots : int
        Spline knots over the controls' age range (quantiles).
    min_site_controls : int
        Controls a site needs, in fitting and in transfer.
    """

    n_knots: int = 4
    min_site_controls: int = 5
    knots: np.ndarray | None = None
    sites: list[str] = field(default_factory=list)
    models: list = field(default_factory=list)
    site_offset: dict[str, np.ndarray] = field(default_factory=dict)
    site_scale: dict[str, np.ndarray] = field(default_factory=dict)

    def _design(self, age: np.ndarray, sex: np.ndarray, site: np.ndarray) -> np.ndarray:
        clipped = np.clip(np.asarray(age, float), self.knots[0], self.knots[-1])
        columns = [_spline_basis(clipped, self.knots)[:, 1:], (np.asarray(sex) == "M")[:, None]]
        site = np.asarray(site, dtype=str)
        columns.append((site[:, None] == np.array(self.sites[1:])[None, :]).astype(float))
        return np.column_stack(columns).astype(float)

    def fit(self, Y: np.ndarray, age: np.ndarray, sex: np.ndarray, site: np.ndarray):
        """Fit every region on controls (rows of ``Y``; NaN rows are skipped per region)."""
        from sklearn.linear_model import BayesianRidge

        Y, site = np.asarray(Y, float), np.asarray(site, dtype=str)
        names, counts = np.unique(site, return_counts=True)
        if (counts < self.min_site_controls).any():
            lonely = names[counts < self.min_site_controls][0]
            raise UserError(
                f"site '{lonely}' has {counts[names == lonely][0]} control(s) for the normative "
                "model",
                expected=f"at least {self.min_site_controls} controls per site",
                fix="merge small sites, or leave them out of the fit and transfer them later",
            )
        self.sites = list(names)
        self.knots = np.quantile(np.asarray(age, float), np.linspace(0, 1, self.n_knots))
        design = self._design(age, sex, site)
        self.models, residuals = [], np.full(Y.shape, np.nan)
        for region in range(Y.shape[1]):
            rows = np.isfinite(Y[:, region])
            model = BayesianRidge().fit(design[rows], Y[rows, region])
            self.models.append(model)
            mean, sd = model.predict(design[rows], return_std=True)
            residuals[rows, region] = (Y[rows, region] - mean) / sd
        for name in self.sites:
            at_site = site == name
            self.site_offset[name] = np.zeros(Y.shape[1])
            self.site_scale[name] = np.nanstd(residuals[at_site], axis=0) / np.nanstd(
                residuals, axis=0
            )
        return self

    def z_scores(
        self, Y: np.ndarray, age: np.ndarray, sex: np.ndarray, site: np.ndarray
    ) -> np.ndarray:
        """Deviation z of every row and region (NaN where the feature is missing).

        Raises
        ------
        UserError
            A site the model neither was fitted on nor transferred to.
        """
        Y, site = np.asarray(Y, float), np.asarray(site, dtype=str)
        unknown = sorted(set(site) - set(self.site_scale))
        if unknown:
            raise UserError(
                f"site '{unknown[0]}' is unknown to the normative model",
                expected=f"one of {', '.join(self.site_scale)}",
                fix="transfer the model to the site from some of its controls",
            )
        design = self._design(age, sex, np.where(np.isin(site, self.sites), site, self.sites[0]))
        new = ~np.isin(site, self.sites)
        if new.any():  # a transferred site: the mean site effect, its own offset and scale
            design[new, -(len(self.sites) - 1) :] = 1.0 / len(self.sites)
        z = np.full(Y.shape, np.nan)
        offsets = np.array([self.site_offset[s] for s in site])
        scales = np.array([self.site_scale[s] for s in site])
        for region, model in enumerate(self.models):
            mean, sd = model.predict(design, return_std=True)
            z[:, region] = (Y[:, region] - mean - offsets[:, region] * sd) / (
                sd * scales[:, region]
            )
        return z

    def transfer(
        self, name: str, Y: np.ndarray, age: np.ndarray, sex: np.ndarray
    ) -> NormativeModel:
        """Adapt the model to a new site from its controls (offset and scale per region)."""
        Y = np.asarray(Y, float)
        if len(Y) < self.min_site_controls:
            raise UserError(
                f"site '{name}' has {len(Y)} control(s) to transfer the normative model",
                expected=f"at least {self.min_site_controls}",
                fix="add controls from that site, or leave it out",
            )
        self.site_offset[name] = np.zeros(Y.shape[1])
        self.site_scale[name] = np.ones(Y.shape[1])
        raw = self.z_scores(Y, age, sex, np.full(len(Y), name))
        n = np.sum(np.isfinite(raw), axis=0)
        self.site_offset[name] = np.nanmean(raw, axis=0) * n / (n + _SHRINK)
        self.site_scale[name] = np.nanstd(raw - self.site_offset[name], axis=0, ddof=1)
        return self


def held_out_control_z(
    Y: np.ndarray,
    age: np.ndarray,
    sex: np.ndarray,
    site: np.ndarray,
    *,
    n_folds: int = 5,
    seed: int = 0,
    **options,
) -> np.ndarray:
    """Controls' own deviations, each from a model fitted without them (K-fold by site)."""
    from sklearn.model_selection import StratifiedKFold

    site = np.asarray(site, dtype=str)
    z = np.full(np.shape(Y), np.nan)
    folds = StratifiedKFold(n_folds, shuffle=True, random_state=seed)
    for train, test in folds.split(np.zeros(len(site)), site):
        model = NormativeModel(**options).fit(Y[train], age[train], sex[train], site[train])
        z[test] = model.z_scores(Y[test], age[test], sex[test], site[test])
    return z
