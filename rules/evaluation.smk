rule evaluate:
    input:
        best=f"{RESULTS}/search/{{model}}/best_params.json",
        table=f"{RESULTS}/features/stations.parquet",
        manifest=f"{RESULTS}/splits/manifest.parquet",
    output:
        predictions=f"{RESULTS}/evaluation/{{model}}/predictions.parquet",
        fit=f"{RESULTS}/evaluation/{{model}}/fit.json",
        # The refitted model in MLflow model format: what target apply loads.
        model=directory(f"{RESULTS}/models/{{model}}"),
    log:
        f"{LOGS}/evaluate/{{model}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{model}}.tsv"
    conda:
        "../envs/ml.yaml"
    # One thread: the refits use about one core (mean load 0.3-1.1 cores measured), and two
    # would keep every other job waiting while one runs.
    threads: 1
    resources:
        runtime=120,
        mem_mb=8000,
    params:
        features=config["models"]["features"],
        seed=config["seed"],
        # Recorded with the saved model (what it was trained on).
        training={
            "run_name": config["run_name"],
            "selection": config["selection"],
            "features_settings": config["features"],
            "splits": config["splits"],
        },
    script:
        "../scripts/evaluate.py"


rule test_metrics:
    input:
        predictions=f"{RESULTS}/evaluation/{{model}}/predictions.parquet",
        fit=f"{RESULTS}/evaluation/{{model}}/fit.json",
    output:
        f"{RESULTS}/evaluation/{{model}}/metrics.json",
    log:
        f"{LOGS}/test_metrics/{{model}}.log",
    benchmark:
        f"{BENCH}/test_metrics/{{model}}.tsv"
    conda:
        "../envs/ml.yaml"
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        evaluation=config["evaluation"],
        split_method=config["splits"]["method"],
        seed=config["seed"],
    script:
        "../scripts/score_test_set.py"


# A replicate sweep's best parameters, refitted and evaluated like the main sweep's (its own
# seed; no saved model: target apply uses the main one).
use rule evaluate as evaluate_replicate with:
    input:
        best=f"{RESULTS}/search/{{model}}/replicate_{{replicate}}/best_params.json",
        table=f"{RESULTS}/features/stations.parquet",
        manifest=f"{RESULTS}/splits/manifest.parquet",
    output:
        predictions=f"{RESULTS}/evaluation/{{model}}/replicate_{{replicate}}/predictions.parquet",
        fit=f"{RESULTS}/evaluation/{{model}}/replicate_{{replicate}}/fit.json",
    log:
        f"{LOGS}/evaluate/{{model}}/replicate_{{replicate}}.log",
    benchmark:
        f"{BENCH}/evaluate/{{model}}/replicate_{{replicate}}.tsv"
    params:
        features=config["models"]["features"],
        seed=lambda wc: sweep_seed(f"{wc.model}/replicate_{wc.replicate}"),
        training={},


use rule test_metrics as test_metrics_replicate with:
    input:
        predictions=f"{RESULTS}/evaluation/{{model}}/replicate_{{replicate}}/predictions.parquet",
        fit=f"{RESULTS}/evaluation/{{model}}/replicate_{{replicate}}/fit.json",
    output:
        f"{RESULTS}/evaluation/{{model}}/replicate_{{replicate}}/metrics.json",
    log:
        f"{LOGS}/test_metrics/{{model}}/replicate_{{replicate}}.log",
    benchmark:
        f"{BENCH}/test_metrics/{{model}}/replicate_{{replicate}}.tsv"


rule replicate_summary:
    input:
        metrics=[
            f
            for model in MODELS
            for f in replicate_files(
                f"{RESULTS}/evaluation/{{sweep}}/metrics.json", model
            )
        ],
    output:
        summary=f"{RESULTS}/evaluation/replicates.json",
        comparisons=f"{RESULTS}/evaluation/replicate_comparisons.csv",
        table=report(
            f"{RESULTS}/tables/replicates.md",
            category=CATEGORY["evaluation"],
            subcategory="All models",
            caption="../reports/captions/replicates.rst",
        ),
        table_tex=f"{RESULTS}/tables/replicates.tex",
        comparisons_table=report(
            f"{RESULTS}/tables/replicate_comparisons.md",
            category=CATEGORY["evaluation"],
            subcategory="All models",
            caption="../reports/captions/replicate_comparisons.rst",
        ),
        comparisons_tex=f"{RESULTS}/tables/replicate_comparisons.tex",
    log:
        f"{LOGS}/replicate_summary.log",
    conda:
        "../envs/report.yaml"
    params:
        models=MODELS,
        replicates=config["search"]["replicates"],
        confidence=config["evaluation"]["confidence"],
    script:
        "../scripts/replicate_summary.py"


rule compare_models:
    input:
        metrics=expand(f"{RESULTS}/evaluation/{{model}}/metrics.json", model=MODELS),
        predictions=expand(
            f"{RESULTS}/evaluation/{{model}}/predictions.parquet", model=MODELS
        ),
    output:
        comparisons=f"{RESULTS}/evaluation/paired_comparisons.csv",
        reference=f"{RESULTS}/evaluation/reference_comparison.csv",
    log:
        f"{LOGS}/compare_models.log",
    benchmark:
        f"{BENCH}/compare_models.tsv"
    conda:
        "../envs/ml.yaml"
    params:
        models=MODELS,
        evaluation=config["evaluation"],
        seed=config["seed"],
    script:
        "../scripts/compare_models.py"


rule model_figures:
    input:
        trials=f"{RESULTS}/search/{{model}}/trials.csv",
        metrics=f"{RESULTS}/evaluation/{{model}}/metrics.json",
    output:
        history=report(
            f"{RESULTS}/figures/{{model}}/optimisation_history.{{ext}}",
            category=CATEGORY["search"],
            subcategory="{model}",
            caption="../reports/captions/optimisation_history.rst",
        ),
        params=report(
            f"{RESULTS}/figures/{{model}}/params_vs_accuracy.{{ext}}",
            category=CATEGORY["search"],
            subcategory="{model}",
            caption="../reports/captions/params_vs_accuracy.rst",
        ),
        confusion=report(
            f"{RESULTS}/figures/{{model}}/confusion_matrix.{{ext}}",
            category=CATEGORY["evaluation"],
            subcategory="{model}",
            caption="../reports/captions/confusion_matrix.rst",
        ),
    log:
        f"{LOGS}/model_figures/{{model}}_{{ext}}.log",
    benchmark:
        f"{BENCH}/model_figures/{{model}}_{{ext}}.tsv"
    conda:
        "../envs/report.yaml"
    resources:
        runtime=15,
        mem_mb=2000,
    params:
        figures=config["figures"],
    script:
        "../scripts/model_figures.py"


rule summary_figures:
    input:
        metrics=expand(f"{RESULTS}/evaluation/{{model}}/metrics.json", model=MODELS),
        reference=f"{RESULTS}/evaluation/reference_comparison.csv",
        table=f"{RESULTS}/features/stations.parquet",
    output:
        accuracy=report(
            f"{RESULTS}/figures/accuracy_comparison.{{ext}}",
            category=CATEGORY["evaluation"],
            subcategory="All models",
            caption="../reports/captions/accuracy_comparison.rst",
        ),
        binned=report(
            f"{RESULTS}/figures/binned_accuracy.{{ext}}",
            category=CATEGORY["evaluation"],
            subcategory="All models",
            caption="../reports/captions/binned_accuracy.rst",
        ),
        showers=report(
            f"{RESULTS}/figures/shower_accuracy.{{ext}}",
            category=CATEGORY["evaluation"],
            subcategory="All models",
            caption="../reports/captions/shower_accuracy.rst",
        ),
        features=report(
            f"{RESULTS}/figures/feature_distributions.{{ext}}",
            category=CATEGORY["data"],
            subcategory="Features",
            caption="../reports/captions/feature_distributions.rst",
        ),
    log:
        f"{LOGS}/summary_figures_{{ext}}.log",
    benchmark:
        f"{BENCH}/summary_figures_{{ext}}.tsv"
    conda:
        "../envs/report.yaml"
    resources:
        runtime=15,
        mem_mb=4000,
    params:
        figures=config["figures"],
        models=MODELS,
        features=config["models"]["features"],
    script:
        "../scripts/summary_figures.py"


rule tables:
    input:
        best=expand(f"{RESULTS}/search/{{model}}/best_params.json", model=MODELS),
        reference=f"{RESULTS}/evaluation/reference_comparison.csv",
        comparisons=f"{RESULTS}/evaluation/paired_comparisons.csv",
    output:
        results=report(
            f"{RESULTS}/tables/results.md",
            category=CATEGORY["evaluation"],
            subcategory="All models",
            caption="../reports/captions/results_table.rst",
        ),
        comparisons=report(
            f"{RESULTS}/tables/paired_comparisons.md",
            category=CATEGORY["evaluation"],
            subcategory="All models",
            caption="../reports/captions/paired_comparisons.rst",
        ),
        parameters=report(
            f"{RESULTS}/tables/best_parameters.md",
            category=CATEGORY["evaluation"],
            subcategory="All models",
            caption="../reports/captions/best_parameters.rst",
        ),
        results_tex=f"{RESULTS}/tables/results.tex",
        comparisons_tex=f"{RESULTS}/tables/paired_comparisons.tex",
        parameters_tex=f"{RESULTS}/tables/best_parameters.tex",
    log:
        f"{LOGS}/tables.log",
    conda:
        "../envs/report.yaml"
    params:
        models=MODELS,
    script:
        "../scripts/tables.py"


rule paper:
    input:
        figures=list(figure_sources("pdf").values()),
        tables=list(table_sources("tex").values()),
    output:
        main=f"{REPORTS}/paper/main.tex",
        figures=expand(
            f"{REPORTS}/paper/figures/{{name}}.pdf", name=figure_sources("pdf")
        ),
        tables=expand(f"{REPORTS}/paper/tables/{{name}}.tex", name=table_sources("tex")),
    log:
        f"{LOGS}/paper.log",
    conda:
        "../envs/report.yaml"
    params:
        run_name=config["run_name"],
    script:
        "../scripts/paper.py"


rule leakage_table:
    input:
        f"{RESULTS}/splits/leakage.json",
    output:
        markdown=report(
            f"{RESULTS}/tables/leakage.md",
            category=CATEGORY["splits"],
            subcategory="Leakage",
            caption="../reports/captions/leakage.rst",
        ),
        latex=f"{RESULTS}/tables/leakage.tex",
    log:
        f"{LOGS}/leakage_table.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/leakage_table.py"
