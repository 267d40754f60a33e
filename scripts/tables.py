"""Rule tables: results, hyper-parameters and paired comparisons (Markdown and LaTeX)."""

import sys

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import read_json_per_model, rule_job

with rule_job(snakemake):
    best = read_json_per_model(snakemake.params.models, snakemake.input.best)
    reporting.render_tables(
        pd.read_csv(snakemake.input.reference),
        best,
        pd.read_csv(snakemake.input.comparisons),
        {
            "results": (snakemake.output.results, snakemake.output.results_tex),
            "parameters": (snakemake.output.parameters, snakemake.output.parameters_tex),
            "comparisons": (snakemake.output.comparisons, snakemake.output.comparisons_tex),
        },
    )
