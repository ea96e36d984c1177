"""Class-conditional (Mondrian) conformal prediction sets for single-person scores.

Split conformal prediction: a calibration set held out of training gives, per class, the
distribution of the nonconformity score 1 - p(true class). A new person's p-value for a
class is the share of that class's calibration scores at least as nonconforming as theirs;
the prediction set at coverage 1 - e holds every class whose p-value exceeds e. With
class-conditional calibration the coverage holds within each true class, not only on
average (Vovk et al. 2005), provided new persons are exchangeable with the calibration set.
With sites recorded, a person from a site with at least :data:`MIN_PER_CLASS` calibration
participants per class is calibrated on that site alone (Mondrian by site and class), so the
coverage holds within the site even where the model is miscalibrated there; persons from
other sites fall back to the pooled calibration, whose coverage their site need not have.
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


def calibration_record(
    probability: np.ndarray, labels: np.ndarray, sites: np.ndarray | None = None
) -> dict[str, Any]:
    """What a model file keeps to form prediction sets later: each calibration score and class.

    Parameters
    ----------
    probability : numpy.ndarray
        Positive-class probabilities of the calibration participants.
    labels : numpy.ndarray
        Their classes (1: positive).
    sites : numpy.ndarray, optional
        Their sites, for site-conditional sets.

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
    record: dict[str, Any] = {
        "nonconformity": nonconformity(probability, labels).tolist(),
        "labels": labels.tolist(),
        "method": "split conformal, class-conditional (Mondrian by true class), crepes",
    }
    if sites is not None:
        record["sites"] = [str(site) for site in sites]
        record["method"] = (
            "split conformal, Mondrian by site and true class where the site has "
            f"{MIN_PER_CLASS}+ calibration participants per class, else by class; crepes"
        )
    return record


def calibrated_sites(calibration: dict[str, Any]) -> set[str]:
    """Sites with enough calibration participants of each class for their own sets."""
    if "sites" not in calibration:
        return set()
    table = pd.crosstab(pd.Series(calibration["sites"]), pd.Series(calibration["labels"]))
    table = table.reindex(columns=[0, 1], fill_value=0)
    return set(table.index[(table >= MIN_PER_CLASS).all(axis=1)])


def conformal_p_values(
    probability: np.ndarray, calibration: dict[str, Any], sites: np.ndarray | None = None
) -> np.ndarray:
    """Class- (and site-) conditional p-values, columns (negative, positive), unsmoothed.

    Parameters
    ----------
    probability : numpy.ndarray
        Positive-class probabilities of new persons.
    calibration : dict
        :func:`calibration_record` of the model.
    sites : numpy.ndarray, optional
        The new persons' sites; those of :func:`calibrated_sites` use their site's scores.

    Returns
    -------
    numpy.ndarray
        ``(n, 2)``: ``(1 + #{calibration scores of class c >= score}) / (1 + n_c)``, counted
        in the person's site where it is calibrated, else in all sites.
    """
    from crepes import ConformalClassifier

    probability = np.asarray(probability, dtype=float)
    labels = np.asarray(calibration["labels"], dtype=int)
    scores = np.asarray(calibration["nonconformity"], dtype=float)
    own_site = np.zeros(probability.size, dtype=bool)
    if sites is not None:
        own_site = np.isin(np.asarray(sites, dtype=str), sorted(calibrated_sites(calibration)))
    pooled = ConformalClassifier().fit(scores, bins=labels)
    by_site = None
    if own_site.any():
        calibration_bins = np.char.add(
            np.asarray(calibration["sites"], dtype=str), labels.astype(str)
        )
        by_site = ConformalClassifier().fit(scores, bins=calibration_bins)
    p_values = np.empty((probability.size, 2))
    for label in (0, 1):
        new_scores = nonconformity(probability, np.full(probability.size, label))[:, None]
        p_values[:, label] = pooled.predict_p(
            new_scores, bins=np.full(probability.size, label), smoothing=False
        ).ravel()
        if by_site is not None:
            site_bins = np.char.add(np.asarray(sites, dtype=str)[own_site], str(label))
            p_values[own_site, label] = by_site.predict_p(
                new_scores[own_site], bins=site_bins, smoothing=False
            ).ravel()
    return p_values


def prediction_sets(
    probability: np.ndarray,
    *,
    calibration: dict[str, Any],
    coverage: float,
    class_names: tuple[str, str],
    sites: np.ndarray | None = None,
) -> pd.DataFrame:
    """Each person's p-values and prediction set at ``coverage``.

    Parameters
    ----------
    probability : numpy.ndarray
        Positive-class probabilities.
    calibration : dict
        :func:`calibration_record` of the model.
    coverage : float
        Nominal coverage within each true class (and calibrated site), e.g. 0.9.
    class_names : tuple of str
        (negative, positive) group names.
    sites : numpy.ndarray, optional
        The persons' sites, for site-conditional sets.

    Returns
    -------
    pandas.DataFrame
        ``p_value_<negative>``, ``p_value_<positive>``, ``prediction_set`` (the classes
        joined by ``|``; ``none`` when neither class conforms) and ``calibrated_on`` (the
        person's site, or ``all sites``).
    """
    p_values = conformal_p_values(probability, calibration, sites)
    members = p_values > 1 - coverage
    names = np.array(class_names)
    sets = ["|".join(names[row][::-1]) or "none" for row in members]
    own = calibrated_sites(calibration)
    calibrated_on = (
        [f"site {site}" if str(site) in own else "all sites" for site in sites]
        if sites is not None
        else ["all sites"] * len(sets)
    )
    return pd.DataFrame(
        {
            f"p_value_{class_names[0]}": p_values[:, 0],
            f"p_value_{class_names[1]}": p_values[:, 1],
            "prediction_set": sets,
            "calibrated_on": calibrated_on,
        }
    )
