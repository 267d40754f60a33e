WORKERS = [f"{i:02d}" for i in range(config["search"]["n_workers"])]


wildcard_constraints:
    model="|".join(MODELS),
    # A sweep: a model's main one (its name) or a replicate (search.replicates).
    sweep=rf"({'|'.join(MODELS)})(/replicate_[1-9][0-9]*)?",
    replicate=r"[1-9][0-9]*",
    worker=r"\d+",


rule split:
    input:
        f"{RESULTS}/features/stations.parquet",
    output:
        manifest=f"{RESULTS}/splits/manifest.parquet",
        summary=f"{RESULTS}/splits/summary.json",
    log:
        f"{LOGS}/split.log",
    benchmark:
        f"{BENCH}/split.tsv"
    conda:
        "../envs/ml.yaml"
    resources:
        runtime=15,
        mem_mb=2000,
    params:
        splits=subset(
            config["splits"], "method", "test_fraction", "validation_fraction"
        ),
        seed=config["seed"],
    script:
        "../scripts/split.py"


rule leakage_study:
    input:
        table=f"{RESULTS}/features/stations.parquet",
    output:
        f"{RESULTS}/splits/leakage.json",
    log:
        f"{LOGS}/leakage_study.log",
    benchmark:
        f"{BENCH}/leakage_study.tsv"
    conda:
        "../envs/ml.yaml"
    threads: 2
    resources:
        runtime=60,
        mem_mb=6000,
    params:
        splits=subset(config["splits"], "test_fraction", "validation_fraction"),
        features=config["models"]["features"],
        evaluation=subset(
            config["evaluation"], "confidence", "bootstrap", "min_showers"
        ),
        seed=config["seed"],
    script:
        "../scripts/leakage_study.py"


rule init_tracking:
    output:
        f"{RESULTS}/mlflow/experiment.json",
    log:
        f"{LOGS}/init_tracking.log",
    conda:
        "../envs/ml.yaml"
    params:
        tracking_uri=config["search"]["tracking_uri"],
        run_name=config["run_name"],
        mlflow_db=f"{RESULTS}/mlflow/mlflow.db",
    script:
        "../scripts/init_tracking.py"


rule create_study:
    input:
        split_summary=f"{RESULTS}/splits/summary.json",
        # The MLflow store and experiment exist before parallel sweeps log to them (creating a
        # SQLite store from several jobs at once races in its schema migration). ancient():
        # re-creating the experiment record must not restart a sweep.
        tracking=ancient(f"{RESULTS}/mlflow/experiment.json"),
    output:
        study=f"{RESULTS}/search/{{sweep}}/study.json",
        # The Optuna journal (the sweep's state, appended to by the workers). It is recreated
        # whenever the study's inputs change; with an RDB storage the file stays empty and the
        # study name, a hash of every sweep input, keeps configurations apart.
        journal=f"{RESULTS}/search/{{sweep}}/optuna.journal",
    log:
        f"{LOGS}/create_study/{{sweep}}.log",
    conda:
        "../envs/ml.yaml"
    params:
        model=lambda wc: parse_sweep(wc.sweep)[0],
        model_config=lambda wc: sweep_model_config(parse_sweep(wc.sweep)[0]),
        features=config["models"]["features"],
        search=lambda wc: sweep_settings(parse_sweep(wc.sweep)[0]),
        seed=lambda wc: sweep_seed(wc.sweep),
        run_name=config["run_name"],
    script:
        "../scripts/create_study.py"


rule search_worker:
    input:
        study=f"{RESULTS}/search/{{sweep}}/study.json",
        # ancient(): the workers append to the journal; its new mtime must not rerun them.
        journal=ancient(f"{RESULTS}/search/{{sweep}}/optuna.journal"),
        tracking=ancient(f"{RESULTS}/mlflow/experiment.json"),
        table=f"{RESULTS}/features/stations.parquet",
        manifest=f"{RESULTS}/splits/manifest.parquet",
    output:
        f"{RESULTS}/search/{{sweep}}/worker_{{worker}}.json",
    log:
        f"{LOGS}/search_worker/{{sweep}}_{{worker}}.log",
    benchmark:
        f"{BENCH}/search_worker/{{sweep}}_{{worker}}.tsv"
    conda:
        "../envs/ml.yaml"
    threads: 1
    resources:
        runtime=240,
        mem_mb=6000,
    params:
        model=lambda wc: parse_sweep(wc.sweep)[0],
        model_config=lambda wc: sweep_model_config(parse_sweep(wc.sweep)[0]),
        features=config["models"]["features"],
        search=lambda wc: sweep_settings(parse_sweep(wc.sweep)[0]),
        seed=lambda wc: sweep_seed(wc.sweep),
    script:
        "../scripts/search_worker.py"


rule collect_search:
    input:
        study=f"{RESULTS}/search/{{sweep}}/study.json",
        journal=ancient(f"{RESULTS}/search/{{sweep}}/optuna.journal"),
        tracking=ancient(f"{RESULTS}/mlflow/experiment.json"),
        workers=expand(
            f"{RESULTS}/search/{{{{sweep}}}}/worker_{{worker}}.json", worker=WORKERS
        ),
    output:
        best=f"{RESULTS}/search/{{sweep}}/best_params.json",
        trials=f"{RESULTS}/search/{{sweep}}/trials.csv",
    log:
        f"{LOGS}/collect_search/{{sweep}}.log",
    conda:
        "../envs/ml.yaml"
    params:
        model=lambda wc: parse_sweep(wc.sweep)[0],
        model_config=lambda wc: sweep_model_config(parse_sweep(wc.sweep)[0]),
        search=lambda wc: sweep_settings(parse_sweep(wc.sweep)[0]),
    script:
        "../scripts/collect_search.py"
