import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

validate(config, schema="../config/schema.yaml")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from uhecr.spaces import validate_spaces

validate_spaces(config["models"])  # fail at start-up, naming the config key

RESULTS = config["results_dir"]
REPORTS = config["reports_dir"]
LOGS = f"{RESULTS}/logs"
BENCH = f"{RESULTS}/benchmarks"


def sample_names():
    """Names of the input ROOT files: simulated ones, or the user's from config."""
    data = config["data"]
    if data["source"] == "files":
        if not data["input_files"]:
            raise ValueError(
                "config key data.input_files is empty but data.source is 'files'"
            )
        return sorted(data["input_files"])
    sim = data["simulation"]
    return [
        f"{primary}_{i:02d}"
        for primary in sim["primaries"]
        for i in range(sim["files_per_primary"])
    ]


def check_input_files():
    """With data.source: files, every listed file must exist: fail at start-up naming the key
    (otherwise the DAG stops with a MissingInputException that names neither)."""
    data = config["data"]
    if data["source"] != "files":
        return
    for name, path in data["input_files"].items():
        if not Path(path).is_file():
            what = "is not a file" if Path(path).exists() else "does not exist"
            raise WorkflowError(
                f"config key data.input_files.{name}: {path} {what} "
                f"(relative paths are relative to {Path.cwd()})"
            )


check_input_files()


def input_config_key(wildcards):
    """Config key of a sample's input file, named in extraction errors ('' when simulated)."""
    if config["data"]["source"] == "files":
        return f"data.input_files.{wildcards.sample}"
    return ""


def raw_file(wildcards):
    data = config["data"]
    if data["source"] == "files":
        return data["input_files"][wildcards.sample]
    return f"{RESULTS}/raw/{wildcards.sample}.root"


def raw_files():
    data = config["data"]
    if data["source"] == "files":
        return [data["input_files"][s] for s in sample_names()]
    return [f"{RESULTS}/raw/{s}.root" for s in sample_names()]


def result_files():
    """The run's numbers: what the provenance record and the Zenodo bundle checksum."""
    models = config["models"]["enabled"]
    files = [
        f"{RESULTS}/features/summary.json",
        f"{RESULTS}/splits/summary.json",
        f"{RESULTS}/evaluation/paired_comparisons.csv",
        f"{RESULTS}/evaluation/reference_comparison.csv",
        f"{RESULTS}/tables/results.md",
        f"{RESULTS}/tables/paired_comparisons.md",
        f"{RESULTS}/tables/best_parameters.md",
    ]
    files += expand(f"{RESULTS}/evaluation/{{model}}/metrics.json", model=models)
    files += expand(f"{RESULTS}/search/{{model}}/best_params.json", model=models)
    files += expand(f"{RESULTS}/search/{{model}}/trials.csv", model=models)
    if config["splits"]["leakage_study"]:
        files += [f"{RESULTS}/splits/leakage.json", f"{RESULTS}/tables/leakage.md"]
    if config["data"]["source"] == "simulation":
        files.append(f"{RESULTS}/validation/simulation_checks.json")
    return files


def report_figures():
    models = config["models"]["enabled"]
    figures = [
        f"{RESULTS}/figures/accuracy_comparison.png",
        f"{RESULTS}/figures/binned_accuracy.png",
        f"{RESULTS}/figures/feature_distributions.png",
    ]
    for name in ("optimisation_history", "params_vs_accuracy", "confusion_matrix"):
        figures += expand(f"{RESULTS}/figures/{{model}}/{name}.png", model=models)
    if config["data"]["source"] == "simulation":
        figures += [
            f"{RESULTS}/validation/{n}.png"
            for n in (
                "xmax_moments",
                "multiplicity",
                "risetime_1000m",
                "signal_fluctuations",
            )
        ]
    return figures


def all_outputs():
    outputs = [
        f"{RESULTS}/features/stations.parquet",
        f"{RESULTS}/features/summary.json",
    ]
    if config["data"]["source"] == "simulation":
        outputs.append(f"{RESULTS}/validation/simulation_checks.json")
    outputs.append(f"{RESULTS}/splits/summary.json")
    if config["splits"]["leakage_study"]:
        outputs += [f"{RESULTS}/splits/leakage.json", f"{RESULTS}/tables/leakage.md"]
    models = config["models"]["enabled"]
    outputs += expand(f"{RESULTS}/search/{{model}}/best_params.json", model=models)
    outputs += expand(f"{RESULTS}/figures/{{model}}/confusion_matrix.png", model=models)
    outputs += [
        f"{RESULTS}/figures/accuracy_comparison.png",
        f"{RESULTS}/tables/results.md",
        f"{RESULTS}/provenance/provenance.json",
    ]
    return outputs
