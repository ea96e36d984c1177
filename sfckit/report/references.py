"""The bibliography every Methods subsection cites from (by key), numbered on the page."""

from __future__ import annotations

REFERENCES = {
    "friston": "Friston KJ et al. (1996). Movement-related effects in fMRI time-series. Magn "
    "Reson Med 35:346-355.",
    "power": "Power JD et al. (2012). Spurious but systematic correlations in functional "
    "connectivity MRI networks arise from subject motion. NeuroImage 59:2142-2154.",
    "zang": "Zang YF et al. (2007). Altered baseline brain activity in children with ADHD "
    "revealed by resting-state functional MRI. Brain Dev 29:83-91.",
    "zou": "Zou QH et al. (2008). An improved approach to detection of amplitude of "
    "low-frequency fluctuation (ALFF) for resting-state fMRI: fractional ALFF. J Neurosci "
    "Methods 172:137-141.",
    "bh": "Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate. J R Stat Soc "
    "B 57:289-300.",
    "holm": "Holm S (1979). A simple sequentially rejective multiple test procedure. Scand J "
    "Stat 6:65-70.",
    "freedman": "Freedman D, Lane D (1983). A nonstochastic interpretation of reported "
    "significance levels. J Bus Econ Stat 1:292-298.",
    "fisher": "Fisher RA (1921). On the probable error of a coefficient of correlation "
    "deduced from a small sample. Metron 1:3-32.",
    "varoquaux": "Varoquaux G et al. (2017). Assessing and tuning brain decoders: "
    "cross-validation, caveats, and guidelines. NeuroImage 145:166-179.",
    "platt": "Platt J (1999). Probabilistic outputs for support vector machines. Advances in "
    "Large Margin Classifiers 10:61-74.",
    "goorbergh": "van den Goorbergh R et al. (2022). The harm of class imbalance corrections "
    "for risk prediction models. J Am Med Inform Assoc 29:1525-1534.",
    "delong": "DeLong ER, DeLong DM, Clarke-Pearson DL (1988). Comparing the areas under two "
    "or more correlated receiver operating characteristic curves. Biometrics 44:837-845.",
    "pencina": "Pencina MJ et al. (2008). Evaluating the added predictive ability of a new "
    "marker. Stat Med 27:157-172.",
    "vancalster": "Van Calster B et al. (2019). Calibration: the Achilles heel of predictive "
    "analytics. BMC Med 17:230.",
    "vickers": "Vickers AJ, Elkin EB (2006). Decision curve analysis. Med Decis Making 26:565-574.",
    "fortin": "Fortin JP et al. (2018). Harmonization of cortical thickness measurements "
    "across scanners and sites. NeuroImage 167:104-120.",
    "harrell": "Harrell FE et al. (1982). Evaluating the yield of medical tests. JAMA "
    "247:2543-2546.",
    "collins": "Collins GS et al. (2024). TRIPOD+AI statement. BMJ 385:e078378.",
    "breiman": "Breiman L (2001). Random forests. Mach Learn 45:5-32.",
    "riley": "Riley RD et al. (2020). Calculating the sample size required for developing a "
    "clinical prediction model. BMJ 368:m441.",
    "snoek": "Snoek L, Miletic S, Scholte HS (2019). How to control for confounds in decoding "
    "analyses of neuroimaging data. NeuroImage 184:741-760.",
    "spisak": "Spisak T (2022). Statistical quantification of confounding bias in machine "
    "learning models. GigaScience 11:giac082.",
    "marquand": "Marquand AF et al. (2016). Understanding heterogeneity in clinical cohorts "
    "using normative models: beyond case-control studies. Biol Psychiatry 80:552-561.",
    "fraza": "Fraza CJ et al. (2021). Warped Bayesian linear regression for normative "
    "modelling of big data. NeuroImage 245:118715.",
    "robins": "Robins JM, Rotnitzky A, Zhao LP (1994). Estimation of regression coefficients "
    "when some regressors are not always observed. J Am Stat Assoc 89:846-866.",
    "athey": "Athey S, Wager S (2021). Policy learning with observational data. "
    "Econometrica 89:133-161.",
    "yadlowsky": "Yadlowsky S et al. (2025). Evaluating treatment prioritization rules via "
    "rank-weighted average treatment effects. J Am Stat Assoc 120:38-51.",
    "chernozhukov": "Chernozhukov V et al. (2018). Double/debiased machine learning for "
    "treatment and structural parameters. Econom J 21:C1-C68.",
    "dinga": "Dinga R et al. (2019). Evaluating the evidence for biotypes of depression: "
    "methodological replication and extension of Drysdale et al. (2017). NeuroImage Clin "
    "22:101796.",
    "hennig": "Hennig C (2007). Cluster-wise assessment of cluster stability. Comput Stat "
    "Data Anal 52:258-271.",
    "fox": "Fox MD et al. (2012). Efficacy of transcranial magnetic stimulation targets for "
    "depression is related to intrinsic functional connectivity with the subgenual "
    "cingulate. Biol Psychiatry 72:595-603.",
    "cash": "Cash RFH et al. (2021). Personalized connectivity-guided DLPFC-TMS for "
    "depression: advancing computational feasibility, precision and reproducibility. Hum "
    "Brain Mapp 42:4155-4172.",
    "austin": "Austin PC, Steyerberg EW (2019). The Integrated Calibration Index (ICI) and "
    "related metrics for quantifying the calibration of logistic regression models. Stat "
    "Med 38:4051-4065.",
    "debray": "Debray TPA et al. (2015). A new framework to enhance the interpretation of "
    "external validation studies of clinical prediction models. J Clin Epidemiol 68:279-289.",
    "steyerberg": "Steyerberg EW et al. (2004). Validation and updating of predictive logistic "
    "regression models: a study on sample size and shrinkage. Stat Med 23:2567-2586.",
}
