"""Rule compare_models: paired comparisons of every model pair, and the Table 7.13 comparison."""

import sys

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import evaluation
from uhecr.jobs import read_json_per_model, rule_job

with rule_job(snakemake):
    p = snakemake.params
    intervals = evaluation.IntervalSettings.from_config(p.evaluation, p.seed)
    predictions = {
        m: pd.read_parquet(f) for m, f in zip(p.models, snakemake.input.predictions, strict=True)
    }
    metrics = read_json_per_model(p.models, snakemake.input.metrics)
    units = {m: metrics[m].get("unit", "station") for m in p.models}
    rows = evaluation.paired_comparisons(predictions, intervals, units)
    # With one model there is no pair: the table still has its header (a valid empty CSV).
    pd.DataFrame(rows, columns=evaluation.COMPARISON_COLUMNS).to_csv(
        snakemake.output.comparisons, index=False
    )
    reference = evaluation.reference_comparison(metrics, intervals.confidence)
    reference.to_csv(snakemake.output.reference, index=False)
