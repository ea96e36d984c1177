"""
Regional SFC inside a scikit-learn pipeline
===========================================

:class:`sfckit.SFCExtractor` turns (gray-matter map, ALFF map) pairs into regional SFC,
so coupling can be one step of another pipeline. The only thing it learns is the fill
value of each region too small for some participants (its mean over the training pairs,
with a warning naming the regions), so it is refitted on each training fold like the
scaler and the classifier.
"""

import matplotlib.pyplot as plt
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import RocCurveDisplay
from sklearn.model_selection import StratifiedKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

import sfckit

cohort = sfckit.simulate_cohort(n_trd=30, n_ntrd=30, n_hc=0, resolution=6.0, seed=2)
manifest = cohort["manifest"]
pairs = list(zip(manifest["gmv"], manifest["alff"], strict=True))  # absolute paths
is_trd = (manifest["group"] == "TRD").to_numpy().astype(int)

# %%
# The extractor is the pipeline's first step, refitted (its fill values) on each
# training fold; regions too small for some participants are filled and named.
model = make_pipeline(
    sfckit.SFCExtractor(min_voxels=5), StandardScaler(), LogisticRegression(C=0.1)
)
folds = StratifiedKFold(5, shuffle=True, random_state=0)
probability = cross_val_predict(model, pairs, is_trd, cv=folds, method="predict_proba")

figure, axes = plt.subplots(figsize=(4.5, 4.5), layout="constrained")
RocCurveDisplay.from_predictions(is_trd, probability[:, 1], ax=axes, name="SFC, 5-fold")
axes.plot([0, 1], [0, 1], linestyle=":", color="grey")
axes.set_title("TRD vs nTRD from regional SFC")
plt.show()
