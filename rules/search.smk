MODELS = config["models"]["enabled"]
WORKERS = [f"{i:02d}" for i in range(config["search"]["n_workers"])]


wildcard_constraints:
    model="|".join(MODELS),
    worker=r"\d+",


rule split:
    input:
        f"{RESULTS}/features/stations.parquet",
    output:
        manifest=f"{RESULTS}/splits/manifest.parquet",
        summary=f"{RESULTS}/splits/summary.json",
    log:
        f"{LOGS}/split.log",
    conda:
        "../envs/ml.yaml"
    params:
        splits=config["splits"],
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
    params:
        splits=config["splits"],
        features=config["models"]["features"],
        evaluation=config["evaluation"],
        seed=config["seed"],
    script:
        "../scripts/leakage_study.py"


rule create_study:
    input:
        manifest=f"{RESULTS}/splits/manifest.parquet",
    output:
        f"{RESULTS}/search/{{model}}/study.json",
    log:
        f"{LOGS}/create_study/{{model}}.log",
    conda:
        "../envs/ml.yaml"
    params:
        model_config=lambda wc: config["models"][wc.model],
        search=config["search"],
        seed=config["seed"],
        run_name=config["run_name"],
        mlflow_db=f"{RESULTS}/mlflow/mlflow.db",
    script:
        "../scripts/create_study.py"


rule search_worker:
    input:
        study=f"{RESULTS}/search/{{model}}/study.json",
        table=f"{RESULTS}/features/stations.parquet",
        manifest=f"{RESULTS}/splits/manifest.parquet",
    output:
        f"{RESULTS}/search/{{model}}/worker_{{worker}}.json",
    log:
        f"{LOGS}/search_worker/{{model}}_{{worker}}.log",
    benchmark:
        f"{BENCH}/search_worker/{{model}}_{{worker}}.tsv"
    conda:
        "../envs/ml.yaml"
    threads: 1
    resources:
        runtime=120,
        mem_mb=4000,
    params:
        model_config=lambda wc: config["models"][wc.model],
        features=config["models"]["features"],
        search=config["search"],
        seed=config["seed"],
        mlflow_db=f"{RESULTS}/mlflow/mlflow.db",
    script:
        "../scripts/search_worker.py"


rule collect_search:
    input:
        study=f"{RESULTS}/search/{{model}}/study.json",
        workers=expand(
            f"{RESULTS}/search/{{{{model}}}}/worker_{{worker}}.json", worker=WORKERS
        ),
    output:
        best=f"{RESULTS}/search/{{model}}/best_params.json",
        trials=f"{RESULTS}/search/{{model}}/trials.csv",
    log:
        f"{LOGS}/collect_search/{{model}}.log",
    conda:
        "../envs/ml.yaml"
    params:
        model_config=lambda wc: config["models"][wc.model],
        search=config["search"],
        mlflow_db=f"{RESULTS}/mlflow/mlflow.db",
    script:
        "../scripts/collect_search.py"
