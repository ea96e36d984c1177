"""Subtypes (biotypes) with the checks that decide whether they exist.

Depression "biotypes" from connectivity (Drysdale et al. 2017) did not survive re-analysis
(Dinga et al. 2019): the canonical correlations were not significant out of sample and the
data held no evidence of distinct clusters. So every clustering here is judged against

- a **null of no subtypes**: data drawn from one multivariate Gaussian with the same mean
  and covariance, clustered by the same pipeline; the p-value compares the best validity
  index over all methods and numbers of clusters with the same maximum in the null data,
  so choosing the best k is part of the test;
- **stability**: the adjusted Rand index between the clustering of the whole sample and of
  bootstrap resamples (each resample's clusters assigned to every participant by nearest
  centroid);
- optionally **replication across sites**: the clusters of one site transferred to another
  by nearest centroid against that site's own clustering (ARI).

The verdict is "no evidence of subtypes" unless the null is rejected and the clusters are
stable. Clustering runs on the leading principal components of the standardised features
(as in both papers); the CCA of features with symptom scores has a permutation p-value and
a cross-validated canonical correlation.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.cluster.hierarchy import fcluster, linkage
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.metrics import adjusted_rand_score, calinski_harabasz_score, silhouette_score
from sklearn.model_selection import KFold
from sklearn.preprocessing import StandardScaler

from sfckit.declarations.settings import SubtypesSettings

METHOD_NAMES = {"kmeans": "k-means", "ward": "Ward"}  # the clustering methods as printed


def principal_components(features: np.ndarray, components: int) -> np.ndarray:
    """Scores on the leading principal components of the standardised features."""
    standard = StandardScaler().fit_transform(features)
    components = min(components, standard.shape[1], standard.shape[0] - 1)
    return PCA(n_components=components, random_state=0).fit_transform(standard)


def cluster(data: np.ndarray, method: str, k: int, seed: int) -> np.ndarray:
    """Cluster labels (0..k-1) by k-means (4 starts) or Ward's hierarchical clustering."""
    if method == "kmeans":
        return KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(data)
    return fcluster(linkage(data, method="ward"), t=k, criterion="maxclust") - 1


def _all_labels(data: np.ndarray, settings: SubtypesSettings, seed: int) -> dict:
    labels = {}
    for method in settings.methods:
        tree = linkage(data, method="ward") if method == "ward" else None
        for k in settings.k_range:
            if tree is not None:
                labels[method, k] = fcluster(tree, t=k, criterion="maxclust") - 1
            else:
                labels[method, k] = cluster(data, method, k, seed)
    return labels


def _silhouette(data: np.ndarray, labels: np.ndarray) -> float:
    return float(silhouette_score(data, labels)) if len(np.unique(labels)) > 1 else -1.0


def validity_table(
    data: np.ndarray, clusterings: dict[tuple[str, int], np.ndarray]
) -> pd.DataFrame:
    """Silhouette and Calinski-Harabasz index of every (method, k) clustering."""
    rows = []
    for (method, k), labels in clusterings.items():
        rows.append(
            {
                "method": method,
                "k": k,
                "silhouette": _silhouette(data, labels),
                "calinski_harabasz": float(calinski_harabasz_score(data, labels))
                if len(np.unique(labels)) > 1
                else np.nan,
                "smallest_cluster": int(np.bincount(labels).min()),
            }
        )
    return pd.DataFrame(rows)


def gaussian_null(data: np.ndarray, settings: SubtypesSettings) -> tuple[np.ndarray, pd.DataFrame]:
    """Best silhouette (over methods and k) in ``n_null`` datasets drawn from one Gaussian
    with the data's mean and covariance, and the per-(method, k) null means."""
    rng = np.random.default_rng([settings.seed, 17])
    mean, covariance = data.mean(axis=0), np.cov(data, rowvar=False)
    best = np.empty(settings.n_null)
    per_k: dict[tuple[str, int], list[float]] = {}
    for draw in range(settings.n_null):
        simulated = rng.multivariate_normal(mean, covariance, size=len(data))
        scores = {
            key: _silhouette(simulated, labels)
            for key, labels in _all_labels(simulated, settings, settings.seed + draw).items()
        }
        best[draw] = max(scores.values())
        for key, value in scores.items():
            per_k.setdefault(key, []).append(value)
    summary = pd.DataFrame(
        [
            {
                "method": m,
                "k": k,
                "null_silhouette_mean": np.mean(v),
                "null_silhouette_p95": np.quantile(v, 0.95),
            }
            for (m, k), v in per_k.items()
        ]
    )
    return best, summary


def _centroids(data: np.ndarray, labels: np.ndarray) -> np.ndarray:
    return np.vstack([data[labels == c].mean(axis=0) for c in np.unique(labels)])


def nearest_centroid(data: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Label of the nearest centroid for every row."""
    distances = ((data[:, None, :] - centroids[None, :, :]) ** 2).sum(axis=2)
    return distances.argmin(axis=1)


def bootstrap_stability(
    data: np.ndarray, reference: np.ndarray, method: str, k: int, settings: SubtypesSettings
) -> np.ndarray:
    """ARI between the full-sample clusters ``reference`` (``method``, ``k``) and those of
    each bootstrap resample."""
    rng = np.random.default_rng([settings.seed, 23])
    values = np.empty(settings.n_bootstrap)
    for draw in range(settings.n_bootstrap):
        sample = rng.integers(0, len(data), len(data))
        labels = cluster(data[sample], method, k, settings.seed + draw)
        values[draw] = adjusted_rand_score(
            reference, nearest_centroid(data, _centroids(data[sample], labels))
        )
    return values


def site_replication(
    data: np.ndarray, sites: np.ndarray, method: str, k: int, seed: int
) -> pd.DataFrame:
    """For every ordered pair of sites: clusters of the first transferred to the second by
    nearest centroid, against the second site's own clustering (ARI)."""
    rows = []
    names = [s for s in pd.unique(sites) if (sites == s).sum() > 2 * k]
    for source in names:
        own = cluster(data[sites == source], method, k, seed)
        centroids = _centroids(data[sites == source], own)
        for target in names:
            if target == source:
                continue
            transferred = nearest_centroid(data[sites == target], centroids)
            native = cluster(data[sites == target], method, k, seed)
            rows.append(
                {
                    "from_site": source,
                    "to_site": target,
                    "k": k,
                    "method": method,
                    "ari": float(adjusted_rand_score(native, transferred)),
                }
            )
    return pd.DataFrame(rows, columns=["from_site", "to_site", "k", "method", "ari"])


def atlas_replication(
    features: np.ndarray, other: np.ndarray, method: str, k: int, settings: SubtypesSettings
) -> float:
    """ARI between the clusters of the same participants on two atlases (each clustered on
    its own principal components with the same method and k)."""
    first = cluster(principal_components(features, settings.components), method, k, settings.seed)
    second = cluster(principal_components(other, settings.components), method, k, settings.seed)
    return float(adjusted_rand_score(first, second))


@dataclass
class SubtypeResult:
    """Everything :func:`find_subtypes` measured."""

    validity: pd.DataFrame
    null: pd.DataFrame
    method: str
    k: int
    silhouette: float
    null_p: float
    null_p_at_floor: bool
    stability: np.ndarray
    labels: np.ndarray
    replication: pd.DataFrame | None
    verdict: str
    subtypes_found: bool


def find_subtypes(
    features: np.ndarray,
    settings: SubtypesSettings,
    *,
    sites: np.ndarray | None = None,
) -> SubtypeResult:
    """Cluster, test against one Gaussian, measure stability, and give the verdict.

    Parameters
    ----------
    features : ndarray, shape (n, p)
        Regional features (SFC or normative deviations), one row per participant.
    settings : SubtypesSettings
        Range of k, methods, principal components, null and bootstrap sizes, thresholds.
    sites : ndarray, optional
        Site of every participant (replication across sites).

    Returns
    -------
    SubtypeResult
    """
    data = principal_components(features, settings.components)
    clusterings = _all_labels(data, settings, settings.seed)
    validity = validity_table(data, clusterings)
    best = validity.loc[validity["silhouette"].idxmax()]
    method, k = str(best["method"]), int(best["k"])
    null_best, null_summary = gaussian_null(data, settings)
    exceed = int((null_best >= best["silhouette"]).sum())
    null_p = (1 + exceed) / (1 + settings.n_null)
    stability = bootstrap_stability(data, clusterings[method, k], method, k, settings)
    replication = (
        site_replication(data, np.asarray(sites), method, k, settings.seed)
        if sites is not None and len(pd.unique(sites)) > 1
        else None
    )
    if replication is not None and replication.empty:  # no two sites with enough people
        replication = None
    stable = float(np.median(stability)) >= settings.min_stability
    found = null_p < settings.alpha and stable
    shown_p = f"{null_p:.3f}".removeprefix("0")  # APA: p = .910
    shown_method = METHOD_NAMES.get(method, method)
    if found:
        verdict = (
            f"evidence of {k} subtypes ({shown_method}): silhouette {best['silhouette']:.2f} beats "
            f"one Gaussian (p = {shown_p}) and the clusters are stable (median bootstrap "
            f"ARI {np.median(stability):.2f})"
        )
    else:
        reasons = []
        if null_p >= settings.alpha:
            reasons.append(
                f"the best clustering ({shown_method}, k = {k}, silhouette "
                f"{best['silhouette']:.2f}) is no better than clustering one Gaussian "
                f"(p = {shown_p})"
            )
        if not stable:
            reasons.append(
                f"the clusters are unstable (median bootstrap ARI {np.median(stability):.2f} "
                f"< {settings.min_stability})"
            )
        verdict = "no evidence of subtypes: " + "; ".join(reasons)
    return SubtypeResult(
        validity=validity.merge(null_summary, on=["method", "k"]),
        null=null_summary,
        method=method,
        k=k,
        silhouette=float(best["silhouette"]),
        null_p=null_p,
        null_p_at_floor=exceed == 0,
        stability=stability,
        labels=clusterings[method, k],
        replication=replication,
        verdict=verdict,
        subtypes_found=found,
    )


def canonical_correlations(
    x: np.ndarray, y: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Closed-form CCA: canonical correlations and the weights of x and y.

    Written by hand (whitening + SVD) because the permutation test refits it thousands of
    times; ``sklearn.cross_decomposition.CCA`` (iterative) is the test's reference.
    """
    x, y = x - x.mean(axis=0), y - y.mean(axis=0)

    def whitener(a: np.ndarray) -> np.ndarray:
        values, vectors = np.linalg.eigh(a.T @ a / (len(a) - 1))
        keep = values > values.max() * 1e-10
        return vectors[:, keep] / np.sqrt(values[keep])

    wx, wy = whitener(x), whitener(y)
    u, singular, vt = np.linalg.svd((x @ wx).T @ (y @ wy) / (len(x) - 1), full_matrices=False)
    return np.clip(singular, 0, 1), wx @ u, wy @ vt.T


def cca_test(
    features: np.ndarray,
    scores: np.ndarray,
    *,
    components: int,
    n_permutations: int,
    folds: int,
    seed: int,
) -> dict[str, float]:
    """First canonical correlation of features (principal components) with symptom scores:
    in sample, its permutation p-value (rows of the scores permuted), and out of sample
    (weights fitted on training folds, the held-out projections correlated, pooled)."""
    rng = np.random.default_rng([seed, 29])
    data = principal_components(features, components)
    scores = StandardScaler().fit_transform(scores)
    observed = canonical_correlations(data, scores)[0][0]
    permuted = np.array(
        [
            canonical_correlations(data, scores[rng.permutation(len(scores))])[0][0]
            for _ in range(n_permutations)
        ]
    )
    exceed = int((permuted >= observed).sum())
    projections = np.empty((len(data), 2))
    for train, test in KFold(folds, shuffle=True, random_state=seed).split(data):
        _, a, b = canonical_correlations(data[train], scores[train])
        projections[test, 0] = (data[test] - data[train].mean(axis=0)) @ a[:, 0]
        projections[test, 1] = (scores[test] - scores[train].mean(axis=0)) @ b[:, 0]
    return {
        "canonical_correlation": float(observed),
        "permutation_p": (1 + exceed) / (1 + n_permutations),
        "permutation_p_at_floor": exceed == 0,
        "cross_validated_correlation": float(np.corrcoef(projections.T)[0, 1]),
        "n": len(data),
        "components": data.shape[1],
    }
