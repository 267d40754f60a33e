"""Rule summary_figures: accuracy of every model, accuracy in bins, feature distributions."""

import sys

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import read_json_per_model, rule_job

with rule_job(snakemake):
    p, out = snakemake.params, snakemake.output
    metrics = read_json_per_model(p.models, snakemake.input.metrics)
    style = reporting.FigureStyle.from_config(p.figures)
    reference = pd.read_csv(snakemake.input.reference)
    reporting.plot_accuracy_comparison(reference, out.accuracy, style=style)
    reporting.plot_binned_accuracy(metrics, out.binned, style=style)
    reporting.plot_shower_accuracy(metrics, out.showers, style=style)
    table = pd.read_parquet(snakemake.input.table, columns=[*p.features, "primary"])
    reporting.plot_feature_distributions(table, p.features, out.features, style=style)
