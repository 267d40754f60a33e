# Same pattern as propertyNames of data.input_files in config/schema.yaml (a test checks).
wildcard_constraints:
    sample="[A-Za-z0-9_-]+",
    ext="png|pdf",


rule simulate:
    output:
        f"{RESULTS}/raw/{{sample}}.root",
    log:
        f"{LOGS}/simulate/{{sample}}.log",
    benchmark:
        f"{BENCH}/simulate/{{sample}}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        simulation=subset(
            config["data"]["simulation"],
            "stations_per_primary",
            "files_per_primary",
            "format",
            "settings",
        ),
        primary=lambda wc: SIMULATED_SAMPLES[wc.sample][0],
        file_index=lambda wc: SIMULATED_SAMPLES[wc.sample][1],
        seed=config["seed"],
    script:
        "../scripts/simulate.py"


rule extract_stations:
    input:
        raw_file,
    output:
        # One chunked pass: read, calibrate, trace features. The per-file VEM trace tables are
        # large and used by no rule: written only with extraction.keep_trace_tables.
        **trace_table_output(f"{RESULTS}/stations/{{sample}}.parquet"),
        features=f"{RESULTS}/features/per_file/{{sample}}.parquet",
        quarantine=f"{RESULTS}/features/per_file/{{sample}}.quarantine.parquet",
        summary=f"{RESULTS}/stations/{{sample}}.summary.json",
    log:
        f"{LOGS}/extract_stations/{{sample}}.log",
    benchmark:
        f"{BENCH}/extract_stations/{{sample}}.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        runtime=30,
        mem_mb=3000,
    params:
        extraction=subset(
            config["extraction"],
            "tree",
            "step_size",
            "n_pmts",
            "n_bins",
            "entry",
            "on_bad_station",
            "branches",
            "zlib_library",
            # Turning it on reruns the extraction, so the trace tables appear.
            "keep_trace_tables",
        ),
        features=config["features"],
        config_key=input_config_key,
    script:
        "../scripts/extract_stations.py"


rule merge_features:
    input:
        features=expand(
            f"{RESULTS}/features/per_file/{{sample}}.parquet", sample=sample_names()
        ),
        quarantine=expand(
            f"{RESULTS}/features/per_file/{{sample}}.quarantine.parquet",
            sample=sample_names(),
        ),
        summaries=expand(
            f"{RESULTS}/stations/{{sample}}.summary.json", sample=sample_names()
        ),
    output:
        table=f"{RESULTS}/features/stations.parquet",
        quarantine=f"{RESULTS}/features/quarantine.parquet",
        summary=f"{RESULTS}/features/summary.json",
    log:
        f"{LOGS}/merge_features.log",
    benchmark:
        f"{BENCH}/merge_features.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        selection=config["selection"],
    script:
        "../scripts/merge_features.py"


rule validate_simulation:
    input:
        raw=expand(f"{RESULTS}/raw/{{sample}}.root", sample=sample_names()),
        # Before the station selection: saturation and near-core stations are checked too.
        tables=expand(
            f"{RESULTS}/features/per_file/{{sample}}.parquet", sample=sample_names()
        ),
    output:
        f"{RESULTS}/validation/simulation_checks.json",
    log:
        f"{LOGS}/validate_simulation.log",
    benchmark:
        f"{BENCH}/validate_simulation.tsv"
    conda:
        "../envs/data.yaml"
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        simulation=config["data"]["simulation"],
        seed=config["seed"],
    script:
        "../scripts/validate_simulation.py"


rule validation_table:
    input:
        f"{RESULTS}/validation/simulation_checks.json",
    output:
        markdown=report(
            f"{RESULTS}/tables/simulation_validation.md",
            category=CATEGORY["data"],
            subcategory="Simulation validation",
            caption="../reports/captions/simulation_validation.rst",
        ),
        latex=f"{RESULTS}/tables/simulation_validation.tex",
    log:
        f"{LOGS}/validation_table.log",
    conda:
        "../envs/report.yaml"
    script:
        "../scripts/validation_table.py"


rule validation_figures:
    input:
        checks=f"{RESULTS}/validation/simulation_checks.json",
        tables=expand(
            f"{RESULTS}/features/per_file/{{sample}}.parquet", sample=sample_names()
        ),
    output:
        xmax=report(
            f"{RESULTS}/validation/xmax_moments.{{ext}}",
            category=CATEGORY["data"],
            subcategory="Simulation validation",
            caption="../reports/captions/xmax_moments.rst",
        ),
        multiplicity=report(
            f"{RESULTS}/validation/multiplicity.{{ext}}",
            category=CATEGORY["data"],
            subcategory="Simulation validation",
            caption="../reports/captions/multiplicity.rst",
        ),
        risetime=report(
            f"{RESULTS}/validation/risetime_1000m.{{ext}}",
            category=CATEGORY["data"],
            subcategory="Simulation validation",
            caption="../reports/captions/risetime.rst",
        ),
        fluctuations=report(
            f"{RESULTS}/validation/signal_fluctuations.{{ext}}",
            category=CATEGORY["data"],
            subcategory="Simulation validation",
            caption="../reports/captions/signal_fluctuations.rst",
        ),
    log:
        f"{LOGS}/validation_figures_{{ext}}.log",
    benchmark:
        f"{BENCH}/validation_figures_{{ext}}.tsv"
    conda:
        "../envs/report.yaml"
    resources:
        runtime=30,
        mem_mb=4000,
    params:
        figures=config["figures"],
    script:
        "../scripts/validation_figures.py"
