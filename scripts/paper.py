"""Rule paper: the declared PDF figures and LaTeX tables, and a main.tex that uses them all."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import reporting
from uhecr.jobs import rule_job

with rule_job(snakemake):
    # Figures of a model no longer enabled (or a table no longer made) must not linger.
    declared = {Path(f).resolve() for f in [*snakemake.output.figures, *snakemake.output.tables]}
    for folder in {Path(f).parent for f in declared}:
        for stale in folder.glob("*"):
            if stale.is_file() and stale.resolve() not in declared:
                stale.unlink()
    pairs = [
        *zip(snakemake.input.figures, snakemake.output.figures, strict=True),
        *zip(snakemake.input.tables, snakemake.output.tables, strict=True),
    ]
    for source, target in pairs:
        Path(target).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
    reporting.write_paper_main(
        Path(snakemake.output.main),
        figures=list(snakemake.output.figures),
        tables=list(snakemake.output.tables),
        title=f"UHECR primary classification: run {snakemake.params.run_name}",
    )
