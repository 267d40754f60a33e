# Applying the trained models to new ROOT files (config apply, src/uhecr/application.py).


wildcard_constraints:
    dataset="[A-Za-z0-9_-]+",


rule apply_extract:
    input:
        lambda wc: APPLY_FILES[wc.dataset],
    output:
        features=f"{RESULTS}/apply/{{dataset}}/features.parquet",
        quarantine=f"{RESULTS}/apply/{{dataset}}/features.quarantine.parquet",
        summary=f"{RESULTS}/apply/{{dataset}}/stations.summary.json",
    log:
        f"{LOGS}/apply_extract/{{dataset}}.log",
    benchmark:
        f"{BENCH}/apply_extract/{{dataset}}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        runtime=30,
        mem_mb=3000,
    params:
        extraction=lambda wc: apply_extraction(wc.dataset),
        features=config["features"],
        config_key=lambda wc: f"apply.datasets.{wc.dataset}",
        sample=lambda wc: wc.dataset,
    script:
        "../scripts/extract_stations.py"


rule apply_model:
    input:
        features=f"{RESULTS}/apply/{{dataset}}/features.parquet",
        summary=f"{RESULTS}/apply/{{dataset}}/stations.summary.json",
        model=f"{RESULTS}/models/{{model}}",
        test_predictions=f"{RESULTS}/evaluation/{{model}}/predictions.parquet",
        test_fit=f"{RESULTS}/evaluation/{{model}}/fit.json",
        training_summary=f"{RESULTS}/features/summary.json",
        # the content check against every training station (same stations: an error)
        training_table=f"{RESULTS}/features/stations.parquet",
    output:
        stations=f"{RESULTS}/apply/{{dataset}}/{{model}}/stations.parquet",
        showers=f"{RESULTS}/apply/{{dataset}}/{{model}}/showers.parquet",
        fractions=f"{RESULTS}/apply/{{dataset}}/{{model}}/fractions.csv",
        provenance=f"{RESULTS}/apply/{{dataset}}/{{model}}/provenance.json",
    log:
        f"{LOGS}/apply_model/{{dataset}}_{{model}}.log",
    benchmark:
        f"{BENCH}/apply_model/{{dataset}}_{{model}}.tsv"
    conda:
        "../envs/ml.yaml"
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        selection=config["selection"],
        composition=config["composition"],
        hadronic_model=config["data"]["simulation"]["settings"].get(
            "hadronic_model", "EPOS-LHC"
        ),
        # Recorded in the provenance: the settings that shape these predictions.
        settings=lambda wc: {
            "extraction": apply_extraction(wc.dataset),
            "features": config["features"],
        },
    script:
        "../scripts/apply_model.py"


rule applied_fractions_table:
    input:
        expand(
            f"{RESULTS}/apply/{{dataset}}/{{model}}/fractions.csv",
            dataset=sorted(APPLY_FILES),
            model=APPLY_MODELS,
        ),
    output:
        markdown=report(
            f"{RESULTS}/tables/applied_fractions.md",
            category=CATEGORY["apply"],
            subcategory="Fractions",
            caption="../reports/captions/applied_fractions.rst",
        ),
        latex=f"{RESULTS}/tables/applied_fractions.tex",
    log:
        f"{LOGS}/applied_fractions_table.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/applied_fractions_table.py"
