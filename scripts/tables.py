"""Rule tables: results, hyper-parameters and paired comparisons (Markdown and LaTeX)."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    best = {
        m: json.loads(Path(f).read_text())
        for m, f in zip(snakemake.params.models, snakemake.input.best, strict=True)
    }
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
