"""Run a small configuration from scratch and compare what must be identical with a second
run: split manifests (id hashes), best parameters and validation accuracy of every sweep, and
the test metrics of every model. Exit status 1 if anything differs.

The second run is ``--reference`` when it names a finished run of the same configuration (``make
repro`` passes the quick run's folder, results/quick, when ``make quick`` made it): one run from
scratch then proves what two would. Without one, the configuration runs twice from scratch.

Usage: python tools/reproducibility_check.py [--config config/quick.yaml] [--out results/repro]
                                             [--reference results/quick]
Each run uses the configuration's own number of search workers: the sweeps' batch schedule
(search.trials_per_batch) makes the results independent of it. The run's configuration is
written back with sorted keys (yaml.safe_dump): the results must not depend on key order either.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
from uhecr import configuration  # noqa: E402


def run(config: Path, results: Path) -> None:
    """The configuration from scratch into ``results``, with its own number of workers."""
    cfg = configuration.load(config)
    cfg["results_dir"] = str(results)
    cfg_path = results.parent / f"{results.name}.yaml"
    cfg_path.write_text(yaml.safe_dump(cfg))
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        "--configfile",
        str(cfg_path),
        "--",  # end of --configfile's values
        f"{results}/provenance/provenance.json",
    ]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if out.returncode:
        raise SystemExit(
            f"snakemake failed for {results}:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}"
        )


# Compared byte for byte. best_params.json names its Optuna study after a hash that includes
# the feature table's, whose source-file column names the results folder: that one key is
# left out when two runs lie in different folders. splits/summary.json names the table's path
# and hash, so only its split ids' hashes are compared (split_ids_sha256).
PER_MODEL = ("search/{m}/trials.csv", "search/{m}/best_params.json", "evaluation/{m}/metrics.json")
PER_RUN = (
    "tables/results.md",
    "evaluation/paired_comparisons.csv",
    "evaluation/replicates.json",
    "evaluation/replicate_comparisons.csv",
)


def _digest(path: Path) -> str:
    data = path.read_bytes()
    if path.name == "best_params.json":
        best = json.loads(data)
        best.pop("study_name", None)
        data = json.dumps(best, sort_keys=True).encode()
    return hashlib.sha256(data).hexdigest()


def fingerprint(results: Path, models: list[str]) -> dict:
    split = json.loads((results / "splits" / "summary.json").read_text())
    files = [f.format(m=m) for m in models for f in PER_MODEL] + list(PER_RUN)
    out = {"split_ids_sha256": split["ids_sha256"], "files": {}, "models": {}}
    for name in files:
        out["files"][name] = _digest(results / name)
    for m in models:
        best = json.loads((results / "search" / m / "best_params.json").read_text())
        metrics = json.loads((results / "evaluation" / m / "metrics.json").read_text())
        out["models"][m] = {
            "best_params": best["params"],
            "best_val_accuracy": best["best_val_accuracy"],
            "test_accuracy": metrics["accuracy"]["value"],
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "quick.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "repro")
    parser.add_argument(
        "--reference",
        type=Path,
        default=None,
        help="a finished run of the same configuration to compare with (else: run twice)",
    )
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    models = configuration.load(args.config)["models"]["enabled"]
    reference = args.reference
    if reference is not None and not (reference / "provenance" / "provenance.json").exists():
        print(f"no finished run in {reference}: running the configuration twice")
        reference = None
    prints = []
    if reference is not None:
        print(f"comparing one run from scratch with the finished run in {reference}")
        prints.append(fingerprint(reference, models))
    for name in ("run_a", "run_b")[len(prints) :]:
        run(args.config, args.out / name)
        prints.append(fingerprint(args.out / name, models))
    same = prints[0] == prints[1]
    diffs = [f for f, h in prints[0]["files"].items() if prints[1]["files"].get(f) != h]
    report = {
        "identical": same,
        "differences": diffs,
        "reference": str(reference) if reference is not None else None,
        "run_a": prints[0],
        "run_b": prints[1],
    }
    (args.out / "reproducibility.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({"identical": same, "differences": diffs}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
