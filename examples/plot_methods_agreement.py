"""
Do two coupling definitions agree?
==================================

The voxel correlation (default) and the KL similarity of the two value distributions
measure different things: whether GMV and ALFF rise together across a region's voxels,
and whether their distributions look alike. Per region, how well do participants' values
agree across the two definitions?
"""

import matplotlib.pyplot as plt

import sfckit

cohort = sfckit.simulate_cohort(n_trd=15, n_ntrd=15, n_hc=15, resolution=6.0, seed=3)
manifest = cohort.path("manifest.tsv")
correlation = sfckit.extract(manifest=manifest, method="voxel-correlation", min_voxels=5)["sfc"]
similarity = sfckit.extract(manifest=manifest, method="kl-similarity", min_voxels=5)["sfc"]

regions = [c for c in correlation.columns if c != "participant_id"]
agreement = correlation[regions].corrwith(similarity[regions], method="spearman").dropna()
print(agreement.describe().round(2).to_string())

# %%
# Spearman correlation across participants, one value per region.
figure, axes = plt.subplots(figsize=(6, 3.5), layout="constrained")
axes.hist(agreement, bins=20, color="steelblue")
axes.set_xlabel("Spearman r across participants (voxel correlation vs KL similarity)")
axes.set_ylabel("regions")
plt.show()
