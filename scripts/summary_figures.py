"""Rule summary_figures: accuracy of every model, accuracy in bins, feature distributions."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    p, out = snakemake.params, snakemake.output
    metrics = {
        m: json.loads(Path(f).read_text())
        for m, f in zip(p.models, snakemake.input.metrics, strict=True)
    }
    reporting.plot_accuracy_comparison(pd.read_csv(snakemake.input.reference), out.accuracy)
    reporting.plot_binned_accuracy(metrics, out.binned)
    table = pd.read_parquet(snakemake.input.table, columns=[*p.features, "primary"])
    reporting.plot_feature_distributions(table, p.features, out.features)
