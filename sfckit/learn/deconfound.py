"""Confound regression as a pipeline step, so it is fitted on training folds only."""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin


class ConfoundRegressor(TransformerMixin, BaseEstimator):
    """Remove the linear effect of confounds from every feature.

    The input carries the confounds as its last ``n_confounds`` columns. ``fit`` regresses
    each feature on an intercept and the confounds (rows where the feature is present);
    ``transform`` subtracts the confounds' predicted part and returns the features only
    (missing values stay missing). In a Pipeline inside cross-validation the regression is
    therefore learnt on the training fold and applied unchanged to the test fold.

    Parameters
    ----------
    n_confounds : int
        How many trailing columns are confounds.
    """

    def __init__(self, n_confounds: int = 0):
        self.n_confounds = n_confounds

    def _split(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        X = np.asarray(X, dtype=float)
        if self.n_confounds <= 0:
            return X, np.empty((len(X), 0))
        return X[:, : -self.n_confounds], X[:, -self.n_confounds :]

    def fit(self, X, y=None):
        """Learn one least-squares regression per feature on the confounds."""
        features, confounds = self._split(X)
        design = np.column_stack([np.ones(len(features)), confounds])
        self.coef_ = np.zeros((design.shape[1], features.shape[1]))
        for column in range(features.shape[1]):
            present = np.isfinite(features[:, column])
            if present.sum() > design.shape[1]:
                self.coef_[:, column] = np.linalg.lstsq(
                    design[present], features[present, column], rcond=None
                )[0]
        self.n_features_in_ = np.asarray(X).shape[1]
        return self

    def transform(self, X):
        """Subtract the confounds' fitted contribution (the intercept is kept)."""
        features, confounds = self._split(X)
        return features - confounds @ self.coef_[1:]
