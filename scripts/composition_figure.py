"""Rule composition_figure: fitted fractions and <ln A> vs energy for one model."""

import sys

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job
from uhecr.models import LABELS

with rule_job(snakemake):
    model = snakemake.wildcards.model
    reporting.plot_composition(
        pd.read_csv(snakemake.input[0]),
        snakemake.output[0],
        f"{LABELS.get(model, model)}: composition of test mixtures",
        style=reporting.FigureStyle.from_config(snakemake.params.figures),
    )
