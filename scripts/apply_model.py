"""Rule apply_model: one saved model on one dataset of new files -> predictions and fractions."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import application
from uhecr.jobs import rule_job

with rule_job(snakemake):
    p, i, o = snakemake.params, snakemake.input, snakemake.output
    application.apply_model(
        snakemake.wildcards.dataset,
        i.features,
        i.summary,
        i.model,
        i.test_predictions,
        i.training_summary,
        i.training_table,
        p.selection,
        p.composition,
        p.hadronic_model,
        o.stations,
        o.showers,
        o.fractions,
        o.provenance,
        settings=p.settings,
    )
