"""Rule model_figures: optimisation history, parameters vs accuracy, confusion matrix."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    out = snakemake.output
    reporting.render_model_figures(
        snakemake.wildcards.model,
        snakemake.input.metrics,
        snakemake.input.trials,
        {"history": [out.history], "params": [out.params], "confusion": [out.confusion]},
        reporting.FigureStyle.from_config(snakemake.params.figures),
    )
