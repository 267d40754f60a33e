"""Run a small configuration twice from scratch and compare what must be identical:
split manifests (id hashes), best parameters and validation accuracy of every sweep, and the
test metrics of every model. Exit status 1 if anything differs.

Usage: python tools/reproducibility_check.py [--config config/quick.yaml] [--out results/repro]
One search worker per sweep is used: with several, trial completion order (and so TPE's
proposals) depends on timing.
"""

from __future__ import annotations

import argparse
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
    cfg = configuration.load(config)
    cfg["results_dir"] = str(results)
    cfg["search"]["n_workers"] = 1
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


def fingerprint(results: Path, models: list[str]) -> dict:
    split = json.loads((results / "splits" / "summary.json").read_text())
    out = {"split_ids_sha256": split["ids_sha256"], "models": {}}
    for m in models:
        best = json.loads((results / "search" / m / "best_params.json").read_text())
        metrics = json.loads((results / "evaluation" / m / "metrics.json").read_text())
        out["models"][m] = {
            "best_params": best["params"],
            "best_val_accuracy": best["best_val_accuracy"],
            "test_accuracy": metrics["accuracy"],
            "confusion_matrix": metrics["confusion_matrix"],
        }
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--config", type=Path, default=ROOT / "config" / "quick.yaml")
    parser.add_argument("--out", type=Path, default=ROOT / "results" / "repro")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)
    args.out.mkdir(parents=True)
    models = configuration.load(args.config)["models"]["enabled"]
    prints = []
    for name in ("run_a", "run_b"):
        run(args.config, args.out / name)
        prints.append(fingerprint(args.out / name, models))
    same = prints[0] == prints[1]
    diffs = [m for m in models if prints[0]["models"][m] != prints[1]["models"][m]]
    if prints[0]["split_ids_sha256"] != prints[1]["split_ids_sha256"]:
        diffs.insert(0, "split manifest")
    report = {"identical": same, "differences": diffs, "run_a": prints[0], "run_b": prints[1]}
    (args.out / "reproducibility.json").write_text(json.dumps(report, indent=2, default=str))
    print(json.dumps({"identical": same, "differences": diffs}))
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
