"""The report's section on subtypes (from ``subtypes/``); it leads with the verdict."""

from __future__ import annotations

from sfckit.declarations import layout
from sfckit.io.tables import read_tsv
from sfckit.learn.subtypes import METHOD_NAMES
from sfckit.report import apa, blocks
from sfckit.report.apa import listing
from sfckit.report.context import Blocks, ReportContext
from sfckit.report.tables import display_table


def subtype_blocks(context: ReportContext) -> Blocks | None:
    """Verdict, validity against the Gaussian null, stability, replication and CCA, or None
    when the step did not run."""
    results = context.layout
    folder = results.subtypes
    verdict = blocks.read_json(folder / layout.SUBTYPE_VERDICT)
    if verdict is None:
        return None
    floor = " (the smallest p the null samples allow)" if verdict["null_p_at_floor"] else ""
    content = [
        blocks.text(f"Verdict: {verdict['verdict']}."),
        blocks.text(
            f"The {verdict['n']} participants ({listing(verdict['groups'])}) were clustered on "
            "the leading principal components of their regional coupling by k-means and "
            "Ward's method. The best silhouette over methods and numbers of clusters was "
            f"compared with the same maximum in data drawn from one multivariate Gaussian "
            f"with the same covariance ({apa.p_value(verdict['null_p'])}{floor}), and "
            "the clusters' stability measured over bootstrap resamples (median adjusted Rand "
            f"index {apa.bounded(verdict['stability_median_ari'])}). Subtypes are reported "
            "only when both checks pass (Dinga et al. 2019)."
        ),
        blocks.table(
            display_table(
                read_tsv(folder / layout.CLUSTER_VALIDITY),
                [
                    "method",
                    "k",
                    "silhouette",
                    "null_silhouette_p95",
                    "calinski_harabasz",
                    "smallest_cluster",
                ],
            ),
            "Cluster validity against the one-Gaussian null (95th percentile of the null)",
        ),
    ]
    if (folder / layout.SITE_REPLICATION).is_file():
        content.append(
            blocks.table(
                display_table(read_tsv(folder / layout.SITE_REPLICATION)),
                "Replication across sites: clusters transferred by nearest centroid (ARI)",
            )
        )
    if "atlas_replication_ari" in verdict:
        agreement = apa.bounded(verdict["atlas_replication_ari"])
        content.append(
            blocks.text(
                "On the second atlas the same participants fall into clusters that agree with "
                f"these by an adjusted Rand index of {agreement} (1 = identical, 0 = chance)."
            )
        )
    if "cca" in verdict:
        cca = verdict["cca"]
        content.append(
            blocks.text(
                "Canonical correlation of coupling with the symptom scores: "
                f"r = {apa.bounded(cca['canonical_correlation'])} in sample (permutation "
                f"{apa.p_value(cca['permutation_p'])}), "
                f"r = {apa.bounded(cca['cross_validated_correlation'])} out of sample "
                "(5-fold); an in-sample canonical correlation is inflated by fitting, the "
                "out-of-sample one is the estimate."
            )
        )
    return content


def subtype_methods(context: ReportContext) -> list[str] | None:
    """Clustering, the Gaussian null, stability and the CCA."""
    parameters = context.parameters(context.layout.subtypes)
    if not parameters or not (context.layout.subtypes / layout.SUBTYPE_VERDICT).is_file():
        return None
    sentences = [
        f"Patients of {listing(parameters['groups'])} were clustered "
        f"({listing(METHOD_NAMES.get(m, m) for m in parameters['methods'])}, "
        f"{parameters['k_min']} to {parameters['k_max']} clusters, on the first "
        f"{parameters['components']} principal components of the standardised SFC); "
        f"subtypes were claimed only when the best silhouette beat that of "
        f"{parameters['n_null']} datasets drawn from one multivariate Gaussian with the same "
        f"mean and covariance{context.cite('dinga')} and the clusters were stable over "
        f"{parameters['n_bootstrap']} bootstrap resamples (median adjusted Rand index ≥ "
        f"{parameters['min_stability']}){context.cite('hennig')}."
    ]
    if parameters.get("scores"):
        sentences.append(
            "A canonical correlation analysis related SFC to "
            f"{listing(parameters['scores'])} ({parameters['n_permutations']} permutations, "
            "and out of sample by cross-validation)."
        )
    return sentences


def subtype_results(context: ReportContext) -> list[str] | None:
    """The verdict, and the CCA when it ran."""
    from sfckit.report import apa

    verdict = blocks.read_json(context.layout.subtypes / layout.SUBTYPE_VERDICT)
    if verdict is None:
        return None
    sentences = [verdict["verdict"][0].upper() + verdict["verdict"][1:] + "."]
    cca = verdict.get("cca")
    if cca:
        sentences.append(
            f"The first canonical correlation of SFC with the symptom scores was "
            f"{apa.bounded(cca['canonical_correlation'])} "
            f"({apa.p_value(cca['permutation_p'], floor=bool(cca.get('permutation_p_at_floor')))}"
            f"; out of sample {apa.bounded(cca['cross_validated_correlation'])}, n = {cca['n']})."
        )
    return sentences
