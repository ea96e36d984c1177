"""
Regional SFC inside a scikit-learn pipeline
===========================================

:class:`sfckit.SFCExtractor` turns (gray-matter map, ALFF map) pairs into regional SFC,
so coupling can be one step of another pipeline. It learns nothing from the images, so
it is safe inside cross-validation; scaling and the classifier are fitted on training
folds only.
"""

import matplotlib.pyplot as plt
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import RocCurveDisplay
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sfckit

cohort = sfckit.simulate_cohort(n_trd=30, n_ntrd=30, n_hc=0, resolution=6.0, seed=2)
manifest = cohort["manifest"]
pairs = [
    (cohort.folder / gm, cohort.folder / alff)
    for gm, alff in zip(manifest["gmv"], manifest["alff"], strict=True)
]
is_trd = (manifest["group"] == "TRD").to_numpy().astype(int)

# %%
# Coupling once (the extractor is stateless), then a cross-validated classifier.
sfc = sfckit.SFCExtractor(min_voxels=5).fit_transform(pairs)
usable = ~np.isnan(sfc).any(axis=0)
model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1))
folds = StratifiedKFold(5, shuffle=True, random_state=0)
probability = cross_val_predict(model, sfc[:, usable], is_trd, cv=folds, method="predict_proba")

figure, axes = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
RocCurveDisplay.from_predictions(is_trd, probability[:, 1], ax=axes, name="SFC, 5-fold")
axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
axes.set_title("TRD vs nTRD from regional SFC")
plt.show()
