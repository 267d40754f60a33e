"""Rule validation_figures: the four simulation-vs-sheet figures (png or pdf by wildcard)."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    out = snakemake.output
    reporting.render_validation_figures(
        json.loads(Path(snakemake.input.checks).read_text()),
        pd.concat([pd.read_parquet(p) for p in snakemake.input.tables], ignore_index=True),
        {
            "xmax": [out.xmax],
            "multiplicity": [out.multiplicity],
            "risetime": [out.risetime],
            "fluctuations": [out.fluctuations],
        },
        reporting.FigureStyle.from_config(snakemake.params.figures),
    )
