import os
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

validate(config, schema="../config/schema.yaml")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from uhecr import configuration
from uhecr.composition import validate_settings as validate_composition
from uhecr.findings import code_files
from uhecr.replicates import parse_sweep, replicate_seed, sweep_name
from uhecr.search import model_pruner, pruner_config
from uhecr.spaces import validate_spaces

validate_spaces(config["models"])  # fail at start-up, naming the config key
validate_composition(config["composition"])
# Each sweep's pruner as its workers build it (Hyperband's resource from the model's space).
for _model in config["models"]["enabled"]:
    model_pruner(_model, config["models"][_model], config["search"])


# Equal configurations give equal job params whatever an overlay's key order.
configuration.sort_keys(config)


def subset(section, *keys):
    """Only the keys of a config section a job uses: changing the others reruns nothing."""
    return {k: section[k] for k in keys}


def sweep_model_config(model):
    """A model's config as its sweep jobs get it: its own pruner keys reach them merged into
    sweep_settings' pruner, so that settings equal to search.pruner's rerun nothing."""
    return {k: v for k, v in config["models"][model].items() if k != "pruner"}


def sweep_settings(model):
    """What a model's sweep depends on in config.search: its pruner only as far as it reads
    it, its own settings merged in (search.pruner_config); n_workers changes no trial, and
    the MLflow tracking URI reaches the sweep jobs through mlflow/experiment.json."""
    settings = subset(
        config["search"],
        "sampler",
        "pruner",
        "storage",
        "max_train_samples",
        "trials_per_batch",
    )
    settings["pruner"] = pruner_config(model, config["models"][model], config["search"])
    return settings


RESULTS = config["results_dir"]
REPORTS = config["reports_dir"]
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"


MODELS = config["models"]["enabled"]


def sweep_seed(sweep):
    """A sweep's seed: the config's for a model's main sweep, its own for a replicate."""
    return replicate_seed(config["seed"], parse_sweep(sweep)[1])


def replicate_files(pattern, model):
    """``pattern`` ({sweep} in it) for the main sweep and every replicate of ``model``."""
    return [
        pattern.format(sweep=sweep_name(model, r))
        for r in range(config["search"]["replicates"])
    ]


# Simulated sample name -> (primary, file index); names are the identities of the samples.
SIMULATED_SAMPLES = {
    f"{primary}_{i:02d}": (primary, i)
    for primary in config["data"]["simulation"]["primaries"]
    for i in range(config["data"]["simulation"]["files_per_primary"])
}


def sample_names():
    """Names of the input ROOT files: simulated ones, or the user's from config."""
    data = config["data"]
    if data["source"] == "files":
        if not data["input_files"]:
            raise WorkflowError(
                "config key data.input_files is empty but data.source is 'files'"
            )
        return sorted(data["input_files"])
    return sorted(SIMULATED_SAMPLES)


def trace_table_output(path):
    """The station table with the VEM traces, as a named output only when
    extraction.keep_trace_tables asks for it (no rule reads it)."""
    return {"traces": path} if config["extraction"]["keep_trace_tables"] else {}


def input_files():
    """Sample name -> its files (data.source: files): a path, a list or glob patterns each.
    A missing file or an empty pattern stops the run at start-up naming the config key.
    """
    data = config["data"]
    if data["source"] != "files":
        return {}
    try:
        return {
            name: configuration.input_paths(name, spec)
            for name, spec in data["input_files"].items()
        }
    except ValueError as error:
        raise WorkflowError(str(error))


INPUT_FILES = input_files()


def apply_files():
    """Dataset name -> its files (config apply.datasets), checked at start-up like inputs."""
    try:
        return {
            name: configuration.apply_dataset_files(name, spec)
            for name, spec in config["apply"]["datasets"].items()
        }
    except ValueError as error:
        raise WorkflowError(str(error))


def apply_extraction(dataset):
    """How a dataset's files are read: the training's extraction settings, with the dataset's
    own (apply.datasets.<name>.extraction) over them; the training rules never see these.
    """
    return configuration.apply_extraction(
        config["extraction"], config["apply"]["datasets"][dataset]
    )


APPLY_FILES = apply_files()
APPLY_MODELS = config["apply"]["models"] or MODELS
if set(APPLY_MODELS) - set(MODELS):
    raise WorkflowError(
        f"config key apply.models: {sorted(set(APPLY_MODELS) - set(MODELS))} not in "
        f"models.enabled {MODELS} (only trained models can be applied)"
    )


def require_apply_datasets(wildcards):
    """Target apply: its outputs, or an error naming the config key when none is set."""
    if not APPLY_FILES:
        raise WorkflowError(
            "target apply: config key apply.datasets is empty; name the ROOT files to apply "
            "the trained models to, e.g. apply: {datasets: {run42: data/run42/*.root}}"
        )
    return apply_outputs()


def apply_outputs():
    """Per dataset and applied model: predictions, fractions and provenance record."""
    names = ("stations.parquet", "showers.parquet", "fractions.csv", "provenance.json")
    return expand(
        f"{RESULTS}/apply/{{dataset}}/{{model}}/{{name}}",
        dataset=sorted(APPLY_FILES),
        model=APPLY_MODELS,
        name=names,
    )


def input_config_key(wildcards):
    """Config key of a sample's input file, named in extraction errors ('' when simulated)."""
    if config["data"]["source"] == "files":
        return f"data.input_files.{wildcards.sample}"
    return ""


def raw_file(wildcards):
    """The ROOT file(s) of one sample."""
    if config["data"]["source"] == "files":
        return INPUT_FILES[wildcards.sample]
    return [f"{RESULTS}/raw/{wildcards.sample}.root"]


def run_results():
    """Run-level result files (not per model)."""
    files = [
        f"{RESULTS}/features/summary.json",
        f"{RESULTS}/splits/summary.json",
        f"{RESULTS}/evaluation/paired_comparisons.csv",
        f"{RESULTS}/evaluation/reference_comparison.csv",
        f"{RESULTS}/findings.md",
        f"{RESULTS}/evaluation/replicates.json",
        f"{RESULTS}/evaluation/replicate_comparisons.csv",
    ]
    files += list(table_sources("md").values())
    if config["splits"]["leakage_study"]:
        files.append(f"{RESULTS}/splits/leakage.json")
    if config["data"]["source"] == "simulation":
        files.append(f"{RESULTS}/validation/simulation_checks.json")
    files += [f for f in apply_outputs() if not f.endswith(".parquet")]
    return files


def findings_tables():
    """Table name -> Markdown file that findings.md includes (the applied data are not the
    run's findings: they change with every dataset applied)."""
    return {n: f for n, f in table_sources("md").items() if n != "applied_fractions"}


def findings_inputs(wildcards):
    """The inputs of the findings job, the run's results and the code its hash covers (so that a
    code change rewrites the findings and their hash)."""
    inputs = {
        "reference": f"{RESULTS}/evaluation/reference_comparison.csv",
        "comparisons": f"{RESULTS}/evaluation/paired_comparisons.csv",
        "split": f"{RESULTS}/splits/summary.json",
        "replicates": f"{RESULTS}/evaluation/replicates.json",
        "replicate_comparisons": f"{RESULTS}/evaluation/replicate_comparisons.csv",
        "best": model_results("best_params"),
        "tables": list(findings_tables().values()),
        # Relative (to the working directory): a copy of the checkout is the same run.
        "code": [os.path.relpath(p) for p in code_files(workflow.basedir)],
    }
    if config["data"]["source"] == "simulation":
        inputs["checks"] = f"{RESULTS}/validation/simulation_checks.json"
    return inputs


def model_results(name):
    """One per-model result file for every enabled model, in MODELS order."""
    paths = {
        "metrics": f"{RESULTS}/evaluation/{{model}}/metrics.json",
        "best_params": f"{RESULTS}/search/{{model}}/best_params.json",
        "trials": f"{RESULTS}/search/{{model}}/trials.csv",
    }
    return expand(paths[name], model=MODELS)


def result_files():
    """The run's numbers: what the provenance record and the Zenodo bundle checksum."""
    return run_results() + [
        f for name in ("metrics", "best_params", "trials") for f in model_results(name)
    ]


def table_sources(ext):
    """Table name -> file (md for the report, tex for the paper)."""
    names = ["results", "best_parameters", "paired_comparisons"]
    names += ["replicates", "replicate_comparisons"]
    if config["splits"]["leakage_study"]:
        names.append("leakage")
    names.append("composition")
    if APPLY_FILES:
        names.append("applied_fractions")
    if config["data"]["source"] == "simulation":
        names.append("simulation_validation")
    return {n: f"{RESULTS}/tables/{n}.{ext}" for n in names}


def figure_sources(ext):
    """Figure name -> file, png for the report, pdf for the paper: one rendering path."""
    figures = {
        n: f"{RESULTS}/figures/{n}.{ext}"
        for n in (
            "accuracy_comparison",
            "binned_accuracy",
            "shower_accuracy",
            "feature_distributions",
        )
    }
    for model in MODELS:
        for n in ("optimisation_history", "params_vs_accuracy", "confusion_matrix"):
            figures[f"{model}_{n}"] = f"{RESULTS}/figures/{model}/{n}.{ext}"
        figures[f"{model}_composition"] = (
            f"{RESULTS}/composition/{model}/fractions_vs_energy.{ext}"
        )
    if config["data"]["source"] == "simulation":
        for n in (
            "xmax_moments",
            "multiplicity",
            "risetime_1000m",
            "signal_fluctuations",
        ):
            figures[f"validation_{n}"] = f"{RESULTS}/validation/{n}.{ext}"
    return figures


def benchmark_files():
    """The benchmark record of every benchmarked job of the run (for the provenance): each
    rule's own ``benchmark:`` path, expanded over the run's jobs (call after the rules).
    """
    samples = sample_names()
    files = expand(rules.extract_stations.benchmark, sample=samples)
    files += [rules.merge_features.benchmark, rules.split.benchmark]
    if config["data"]["source"] == "simulation":
        files += expand(rules.simulate.benchmark, sample=samples)
        files.append(rules.validate_simulation.benchmark)
        files += expand(rules.validation_figures.benchmark, ext="png")
    if config["splits"]["leakage_study"]:
        files.append(rules.leakage_study.benchmark)
    workers = [f"{i:02d}" for i in range(config["search"]["n_workers"])]
    replicates = range(1, config["search"]["replicates"])
    for model in MODELS:
        sweeps = replicate_files("{sweep}", model)
        files += expand(rules.search_worker.benchmark, sweep=sweeps, worker=workers)
        for main, replicate in (
            (rules.evaluate, rules.evaluate_replicate),
            (rules.test_metrics, rules.test_metrics_replicate),
        ):
            files += expand(main.benchmark, model=model)
            files += expand(replicate.benchmark, model=model, replicate=replicates)
    files += expand(rules.model_figures.benchmark, model=MODELS, ext="png")
    files += [rules.compare_models.benchmark]
    files += expand(rules.summary_figures.benchmark, ext="png")
    return [str(f) for f in files]


def all_outputs():
    """Everything of a run (the report collects the png figures and Markdown tables)."""
    outputs = [
        f"{RESULTS}/features/stations.parquet",
        f"{RESULTS}/provenance/provenance.json",
    ]
    outputs += result_files()
    outputs += apply_outputs()
    outputs.append(LANDING_PAGE)
    outputs += list(figure_sources("png").values())
    return outputs


LANDING_PAGE = f"{RESULTS}/report/landing.rst"
# Report categories, numbered in reading order without gaps (sections a config leaves out,
# e.g. the split study or applied datasets, take no number).
_SECTIONS = {
    "provenance": ("Provenance", True),
    "data": ("Data", True),
    "splits": ("Splits", config["splits"]["leakage_study"]),
    "search": ("Hyper-parameter search", True),
    "evaluation": ("Test evaluation", True),
    "composition": ("Composition", True),
    "apply": ("Applied to new data", bool(APPLY_FILES)),
}
_SHOWN = [key for key, (_, shown) in _SECTIONS.items() if shown]
CATEGORY = {
    key: f"{_SHOWN.index(key)}. {title}" if shown else title
    for key, (title, shown) in _SECTIONS.items()
}
REPORT_CATEGORIES = [CATEGORY[key] for key in _SHOWN]


def report_description():
    """The report's first page: with the run's results once they exist (rule
    report_landing), the plain workflow description before."""
    return (
        LANDING_PAGE
        if Path(LANDING_PAGE).is_file()
        else "reports/captions/workflow.rst"
    )


def notify_run(event, snakemake_log=None):
    """Start / success / failure notification through apprise (uhecr.notify)."""
    from uhecr import notify

    notify.send(
        event, config["notifications"], config["run_name"], RESULTS, snakemake_log
    )


def where_to_look():
    """Printed when a run ends: the report command, the results and the web UIs."""
    return (
        f"Results: {RESULTS}\n"
        f"HTML report: make report CONFIG=<this config> (writes {REPORTS}/report.html)\n"
        "MLflow UI and Optuna dashboard: make ui CONFIG=<this config>"
    )
