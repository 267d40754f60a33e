"""Rule apply_model: one saved model on one dataset of new files -> predictions and fractions."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import application
from uhecr.jobs import rule_job

with rule_job(snakemake):
    p, i, o = snakemake.params, snakemake.input, snakemake.output
    application.apply_model(
        snakemake.wildcards.dataset,
        snakemake.wildcards.model,
        application.ApplyInputs(
            **{f: str(getattr(i, f)) for f in application.ApplyInputs.__dataclass_fields__}
        ),
        application.ApplyOutputs(
            **{f: str(getattr(o, f)) for f in application.ApplyOutputs.__dataclass_fields__}
        ),
        p.selection,
        p.composition,
        p.hadronic_model,
        settings=p.settings,
    )
