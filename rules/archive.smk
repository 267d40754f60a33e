rule provenance:
    input:
        raw=raw_files(),
        results=result_files(),
    output:
        json=f"{RESULTS}/provenance/provenance.json",
        markdown=report(
            f"{RESULTS}/provenance/provenance.md",
            category="0. Provenance",
            caption="../reports/captions/provenance.rst",
        ),
    log:
        f"{LOGS}/provenance.log",
    conda:
        "../envs/report.yaml"
    params:
        config=config,
        benchmarks=BENCH,
    script:
        "../scripts/provenance.py"


rule zenodo:
    input:
        provenance=f"{RESULTS}/provenance/provenance.json",
        results=result_files(),
        figures=list(figure_sources("png").values()),
    output:
        directory(f"{REPORTS}/zenodo"),
    log:
        f"{LOGS}/zenodo.log",
    conda:
        "../envs/report.yaml"
    params:
        config=config,
        run_name=config["run_name"],
    script:
        "../scripts/zenodo.py"
