"""Rule evaluate: refit the best configuration on train + validation, predict the test set once,
and save the fitted model (MLflow model format) for target apply."""

import json
import sys
from pathlib import Path

import pandas as pd

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import domain, evaluation, model_store, splits
from uhecr.jobs import rule_job, write_json

with rule_job(snakemake) as log:
    p = snakemake.params
    best = json.loads(Path(snakemake.input.best).read_text())
    data = splits.load_split(snakemake.input.table, snakemake.input.manifest, p.features)
    predictions, fit, model = evaluation.predict_test(
        snakemake.wildcards.model,
        best,
        data,
        p.seed,
        threads=snakemake.threads,
        features=p.features,
    )
    predictions.to_parquet(snakemake.output.predictions, index=False)
    write_json(snakemake.output.fit, fit)
    if "model" in snakemake.output.keys():  # replicates save none: apply uses the main fit
        test_frame = data["test"][2]
        example = test_frame[list(p.features)].head(5).astype("float64")
        if model.level == "shower":  # its input names each station's shower
            example["shower_id"] = test_frame["shower_id"].head(5).astype(str).to_numpy()
        fitted_on = pd.concat([data["train"][2], data["validation"][2]])  # the refit's stations
        model_store.save(
            model,
            {
                "features": list(p.features),
                "fit": fit,
                "domain": domain.training_domain(fitted_on, list(p.features)),
                **p.training,
            },
            snakemake.output.model,
            example,
        )
    log.info("refit %s; outputs %s", json.dumps(fit, default=str), list(snakemake.output))
