# Reference values for sfckit.learn.delong_test from R's pROC (paired DeLong test).
# Run from this folder:  Rscript delong_proc.R  (writes delong_proc_reference.tsv)
# Produced with R 4.2.2 and pROC 1.18.0 (Debian bookworm packages r-base-core, r-cran-proc).
suppressPackageStartupMessages(library(pROC))
cases <- read.delim("delong_cases.tsv")
rows <- lapply(split(cases, factor(cases$case, levels = unique(cases$case))), function(d) {
  roc_a <- roc(d$y, d$a, levels = c(0, 1), direction = "<", quiet = TRUE)
  roc_b <- roc(d$y, d$b, levels = c(0, 1), direction = "<", quiet = TRUE)
  test <- roc.test(roc_a, roc_b, method = "delong", paired = TRUE)
  data.frame(case = d$case[1], auc_a = as.numeric(auc(roc_a)), auc_b = as.numeric(auc(roc_b)),
             z = unname(test$statistic), p = test$p.value)
})
write.table(do.call(rbind, rows), "delong_proc_reference.tsv", sep = "\t", quote = FALSE,
            row.names = FALSE, col.names = TRUE)
