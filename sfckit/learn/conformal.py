"""Class-conditional (Mondrian) conformal prediction sets for single-person scores.

Split conformal prediction: a calibration set held out of training gives, per class, the
distribution of the nonconformity score 1 - p(true class). A new person's p-value for a
class is the share of that class's calibration scores at least as nonconforming as theirs;
the prediction set at coverage 1 - e holds every class whose p-value exceeds e. With
class-conditional calibration the coverage holds within each true class, not only on
average (Vovk et al. 2005), provided new persons are exchangeable with the calibration set.
The p-values come from ``crepes`` (Bostroem 2022).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

MIN_PER_CLASS = 10


def nonconformity(probability: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``1 - p(true class)`` for binary labels (1: positive) and positive-class probabilities."""
    probability = np.asarray(probability, dtype=float)
    return np.where(np.asarray(labels) == 1, 1 - probability, probability)


def calibration_record(probability: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """What a model file keeps to form prediction sets later: each calibration score and class.

    Raises
    ------
    ValueError
        A class has fewer than :data:`MIN_PER_CLASS` calibration participants.
    """
    labels = np.asarray(labels, dtype=int)
    counts = np.bincount(labels, minlength=2)
    if counts.min() < MIN_PER_CLASS:
        raise ValueError(
            f"the calibration set has {counts[1]} positive and {counts[0]} negative "
            f"participants; at least {MIN_PER_CLASS} of each are needed"
        )
    return {
        "nonconformity": nonconformity(probability, labels).tolist(),
        "labels": labels.tolist(),
        "method": "split conformal, class-conditional (Mondrian by true class), crepes",
    }


def conformal_p_values(probability: np.ndarray, calibration: dict[str, Any]) -> np.ndarray:
    """Class-conditional p-values, columns (negative, positive), without random smoothing.

    Parameters
    ----------
    probability : numpy.ndarray
        Positive-class probabilities of new persons.
    calibration : dict
        :func:`calibration_record` of the model.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)``: ``(1 + #{calibration scores of class c >= score}) / (1 + n_c)``.
    """
    from crepes import ConformalClassifier

    probability = np.asarray(probability, dtype=float)
    conformal = ConformalClassifier().fit(
        np.asarray(calibration["nonconformity"], dtype=float),
        bins=np.asarray(calibration["labels"], dtype=int),
    )
    columns = []
    for label in (0, 1):
        scores = nonconformity(probability, np.full(probability.size, label))
        columns.append(
            conformal.predict_p(
                scores[:, None], bins=np.full(probability.size, label), smoothing=False
            ).ravel()
        )
    return np.column_stack(columns)


def prediction_sets(
    probability: np.ndarray,
    *,
    calibration: dict[str, Any],
    coverage: float,
    class_names: tuple[str, str],
) -> pd.DataFrame:
    """Each person's p-values and prediction set at ``coverage``.

    Parameters
    ----------
    probability : numpy.ndarray
        Positive-class probabilities.
    calibration : dict
        :func:`calibration_record` of the model.
    coverage : float
        Nominal coverage within each true class, e.g. 0.9.
    class_names : tuple of str
        (negative, positive) group names.

    Returns
    -------
    pandas.DataFrame
        ``p_value_<negative>``, ``p_value_<positive>`` and ``prediction_set`` (the classes
        joined by ``|``; ``none`` when neither class conforms).
    """
    p_values = conformal_p_values(probability, calibration)
    members = p_values > 1 - coverage
    names = np.array(class_names)
    sets = ["|".join(names[row][::-1]) or "none" for row in members]
    return pd.DataFrame(
        {
            f"p_value_{class_names[0]}": p_values[:, 0],
            f"p_value_{class_names[1]}": p_values[:, 1],
            "prediction_set": sets,
        }
    )
