"""Building test data for the learning steps."""

import numpy as np
import pandas as pd

from sfckit.learn.data import ClassificationData


def classification_data(X: np.ndarray, y: np.ndarray, clinical: pd.DataFrame) -> ClassificationData:
    """TRD (1) vs nTRD (0) data with features ``f0, f1, ...`` and ``clinical`` by participant."""
    return ClassificationData(
        X=X,
        y=y,
        participant_ids=list(clinical.index),
        feature_names=[f"f{i}" for i in range(X.shape[1])],
        clinical=clinical,
        positive="TRD",
        negative="nTRD",
    )
