import sys
from pathlib import Path

from snakemake.utils import validate

validate(config, schema="../config/schema.yaml")

sys.path.insert(0, str(Path(workflow.basedir) / "src"))
from uhecr.spaces import validate_spaces

validate_spaces(config["models"])  # fail at start-up, naming the config key

RESULTS = config["results_dir"]
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


def raw_file(wildcards):
    data = config["data"]
    if data["source"] == "files":
        return data["input_files"][wildcards.sample]
    return f"{RESULTS}/raw/{wildcards.sample}.root"


def all_outputs():
    outputs = [
        f"{RESULTS}/features/stations.parquet",
        f"{RESULTS}/features/summary.json",
    ]
    if config["data"]["source"] == "simulation":
        outputs.append(f"{RESULTS}/validation/simulation_checks.json")
    outputs.append(f"{RESULTS}/splits/summary.json")
    if config["splits"]["leakage_study"]:
        outputs.append(f"{RESULTS}/splits/leakage.json")
    models = config["models"]["enabled"]
    outputs += expand(f"{RESULTS}/search/{{model}}/best_params.json", model=models)
    outputs += expand(f"{RESULTS}/figures/{{model}}/confusion_matrix.png", model=models)
    outputs += [
        f"{RESULTS}/figures/accuracy_comparison.png",
        f"{RESULTS}/tables/results.md",
    ]
    return outputs
