# Mass composition from each model's shower-level output (src/uhecr/composition.py).


rule composition:
    input:
        predictions=f"{RESULTS}/evaluation/{{model}}/predictions.parquet",
        table=f"{RESULTS}/features/stations.parquet",
    output:
        experiments=f"{RESULTS}/composition/{{model}}/pseudo_experiments.parquet",
        summary=f"{RESULTS}/composition/{{model}}/summary.csv",
    log:
        f"{LOGS}/composition/{{model}}.log",
    benchmark:
        f"{BENCH}/composition/{{model}}.tsv"
    conda:
        "../envs/ml.yaml"
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        composition=config["composition"],
        hadronic_model=config["data"]["simulation"]["settings"].get(
            "hadronic_model", "EPOS-LHC"
        ),
        seed=config["seed"],
        split_method=config["splits"]["method"],
    script:
        "../scripts/composition.py"


rule composition_figure:
    input:
        f"{RESULTS}/composition/{{model}}/summary.csv",
    output:
        report(
            f"{RESULTS}/composition/{{model}}/fractions_vs_energy.{{ext}}",
            category=CATEGORY["composition"],
            subcategory="{model}",
            caption="../reports/captions/composition_figure.rst",
        ),
    log:
        f"{LOGS}/composition_figure/{{model}}_{{ext}}.log",
    conda:
        "../envs/report.yaml"
    params:
        figures=config["figures"],
    script:
        "../scripts/composition_figure.py"


rule composition_table:
    input:
        expand(f"{RESULTS}/composition/{{model}}/summary.csv", model=MODELS),
    output:
        markdown=report(
            f"{RESULTS}/tables/composition.md",
            category=CATEGORY["composition"],
            subcategory="All models",
            caption="../reports/captions/composition_table.rst",
        ),
        latex=f"{RESULTS}/tables/composition.tex",
    log:
        f"{LOGS}/composition_table.log",
    conda:
        "../envs/report.yaml"
    params:
        models=MODELS,
        composition=config["composition"],
    script:
        "../scripts/composition_table.py"
