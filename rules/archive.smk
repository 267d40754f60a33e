rule provenance:
    input:
        summaries=expand(
            f"{RESULTS}/stations/{{sample}}.summary.json", sample=sample_names()
        ),
        results=result_files(),
        best=model_results("best_params"),
        benchmarks=benchmark_files(),
    output:
        json=f"{RESULTS}/provenance/provenance.json",
        markdown=report(
            f"{RESULTS}/provenance/provenance.md",
            category=CATEGORY["provenance"],
            caption="../reports/captions/provenance.rst",
        ),
    log:
        f"{LOGS}/provenance.log",
    conda:
        "../envs/report.yaml"
    params:
        config=config,
        models=MODELS,
    script:
        "../scripts/provenance.py"


rule findings:
    input:
        unpack(findings_inputs),
    output:
        f"{RESULTS}/findings.md",
    log:
        f"{LOGS}/findings.log",
    conda:
        "../envs/report.yaml"
    params:
        run_name=config["run_name"],
        config=config,
        models=MODELS,
        tables=lambda wc: list(findings_tables()),
    script:
        "../scripts/findings.py"


rule report_landing:
    input:
        description="reports/captions/workflow.rst",
        reference=f"{RESULTS}/evaluation/reference_comparison.csv",
        findings=f"{RESULTS}/findings.md",
    output:
        LANDING_PAGE,
    log:
        f"{LOGS}/report_landing.log",
    conda:
        "../envs/report.yaml"
    params:
        run_name=config["run_name"],
        categories=REPORT_CATEGORIES,
    script:
        "../scripts/report_landing.py"


rule zenodo:
    input:
        provenance=f"{RESULTS}/provenance/provenance.json",
        results=result_files(),
        tables=list(table_sources("tex").values()),
        figures=list(figure_sources("png").values()),
        # The repository files the bundle copies: editing one rebuilds the bundle.
        repo=[
            f"{workflow.basedir}/{f}"
            for f in (
                ".zenodo.json",
                "CITATION.cff",
                "requirements.lock",
                "config/schema.yaml",
            )
        ]
        + sorted(str(p) for p in Path(workflow.basedir, "envs").glob("*.yaml")),
    output:
        directory(f"{REPORTS}/zenodo"),
    log:
        f"{LOGS}/zenodo.log",
    conda:
        "../envs/report.yaml"
    params:
        config=config,
        run_name=config["run_name"],
        code_url=config["archive"]["code_url"],
    script:
        "../scripts/zenodo.py"
