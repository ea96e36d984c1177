"""Level of the treatment-rule heterogeneity tests under the null, by simulation.

Simulation studies too long for the test suite live here; the test suite runs the same
check on 30 simulations with loose bounds (``test_no_heterogeneity_no_invented_
personalisation``). Each simulation is the test's cohort (600 patients, four treatments
randomised, noisy imaging, constant treatment effects), learnt and evaluated by
``learn_treatment_rule``; the script prints, per treatment contrast, the share of RATE
(AUTOC, Qini) and calibration-test p-values below 0.01, 0.05 and 0.10, their median, and a
Kolmogorov-Smirnov test of uniformity.

    python validation/rate_null.py --simulations 400 --first-seed 5000 --jobs 2

It reuses the test's cohort builder, so it needs the test install (``pip install -e
".[test]"``, for pytest); 400 simulations take about 3 minutes on 2 cores.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from scipy import stats

from sfckit.learn.tests.test_treatment import RULE, _simulated
from sfckit.learn.treatment import heterogeneity_table


def one_null_simulation(seed: int) -> pd.DataFrame:
    """The heterogeneity table of the imaging rule on one null cohort."""
    _, result, _ = _simulated(seed, heterogeneity=0.0)
    table = heterogeneity_table(result)
    table = table[table["features"] == RULE.removeprefix("rule (").removesuffix(")")]
    return table.assign(seed=seed)


def summarise(tables: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (treatment, test), p in tables.melt(
        id_vars=["treatment"], value_vars=["autoc_p", "qini_p", "differential_p"]
    ).groupby(["treatment", "variable"])["value"]:
        p = p.dropna().to_numpy()
        rows.append(
            {
                "treatment": treatment,
                "test": test,
                "n": len(p),
                "below_0.01": np.mean(p < 0.01),
                "below_0.05": np.mean(p < 0.05),
                "below_0.10": np.mean(p < 0.10),
                "median": np.median(p),
                "ks_uniform_p": stats.kstest(p, "uniform").pvalue,
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--simulations", type=int, default=400)
    parser.add_argument("--first-seed", type=int, default=5000)
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    seeds = range(args.first_seed, args.first_seed + args.simulations)
    tables = Parallel(n_jobs=args.jobs)(delayed(one_null_simulation)(s) for s in seeds)
    summary = summarise(pd.concat(tables, ignore_index=True))
    print(summary.to_string(index=False, float_format=lambda v: f"{v:.3f}"))


if __name__ == "__main__":
    main()
