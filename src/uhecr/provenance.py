"""What produced a result: code version, configuration, software, hardware."""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

KEY_PACKAGES = (
    "numpy",
    "pandas",
    "pyarrow",
    "uproot",
    "awkward",
    "scikit-learn",
    "xgboost-cpu",
    "tensorflow-cpu",
    "optuna",
    "mlflow",
    "statsmodels",
    "scipy",
    "snakemake",
    "matplotlib",
)
SECRET_MARKERS = ("TOKEN", "SECRET", "PASSWORD", "KEY")


def git_commit(path: str | Path = ".") -> str:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=path, capture_output=True, text=True, timeout=10
        )
        commit = out.stdout.strip() if out.returncode == 0 else "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
        return commit + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def package_versions(names=KEY_PACKAGES) -> dict[str, str]:
    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _gpus() -> list[str]:
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
        return [line.strip() for line in out.stdout.splitlines() if line.strip()]
    except (OSError, subprocess.SubprocessError):
        return []


def hardware() -> dict:
    mem_gib = None
    try:
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        mem_gib = round(pages / 2**30, 1)
    except (ValueError, OSError):
        pass
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": mem_gib,
        "gpus": _gpus(),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
    }


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()


def environment_info(repo: str | Path = ".") -> dict:
    return {"git_commit": git_commit(repo), "packages": package_versions(), "hardware": hardware()}


def redact(value):
    """Mask credentials in URLs (user:password@host), in strings, lists and dicts alike."""
    import re

    if isinstance(value, str):
        return re.sub(r"(://[^:/@]+):[^@]+@", r"\1:***@", value)
    if isinstance(value, dict):
        return {k: redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    return value


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(chunk), b""):
            h.update(block)
    return h.hexdigest()


def all_package_versions() -> dict[str, str]:
    return {d.metadata["Name"]: d.version for d in metadata.distributions() if d.metadata["Name"]}


def rule_timings(benchmark_files: list[str | Path]) -> list[dict]:
    """Wall time and peak memory of the run's benchmarked jobs (Snakemake benchmark TSVs);
    jobs are named by their path below the benchmark folder (``search_worker/svm_00``)."""
    if not benchmark_files:
        return []
    benchmark_dir = Path(os.path.commonpath([os.path.abspath(f) for f in benchmark_files]))
    rows = []
    for tsv in sorted(Path(os.path.abspath(f)) for f in benchmark_files):
        lines = tsv.read_text().splitlines()
        if len(lines) < 2:
            continue
        header, values = lines[0].split("\t"), lines[-1].split("\t")
        rec = dict(zip(header, values, strict=False))
        rows.append(
            {
                "job": str(tsv.relative_to(benchmark_dir).with_suffix("")),
                "seconds": float(rec["s"]),
                "max_rss_mb": float(rec["max_rss"]) if rec.get("max_rss", "NA") != "NA" else None,
            }
        )
    return rows


def run_provenance(
    config: dict,
    input_checksums: dict[str, str],
    result_files: list[str],
    best_params: dict[str, dict],
    timings: list[dict],
    repo: str | Path = ".",
) -> dict:
    """One provenance record for a whole run: code, config, inputs, software, hardware, seeds,
    timings. ``input_checksums`` (path -> SHA-256) come from the extraction, which already read
    every input file; ``best_params`` maps model -> its best_params.json content."""
    import datetime

    seeds = {"master_seed": config.get("seed")}
    for model, best in best_params.items():
        seeds[f"{model}_best_trial_seed"] = best.get("seed")
    return {
        "created_utc": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
        "git_commit": git_commit(repo),
        "config_sha256": config_hash(config),
        # A password typed into e.g. search.storage never reaches the record or the bundle.
        "config": redact(config),
        "input_files": dict(input_checksums),
        "result_files": {str(p): sha256_file(p) for p in result_files},
        "seeds": seeds,
        "packages": all_package_versions(),
        "hardware": hardware(),
        "timings": timings,
        "environment_variables_redacted": sorted(
            k for k in os.environ if any(m in k.upper() for m in SECRET_MARKERS)
        ),
    }


def provenance_markdown(record: dict) -> str:
    lines = [
        "# Provenance of this run",
        "",
        f"* created (UTC): {record['created_utc']}",
        f"* git commit: `{record['git_commit']}`",
        f"* config SHA-256: `{record['config_sha256']}`",
        f"* master seed: {record['seeds'].get('master_seed')}",
        f"* hardware: {record['hardware']['cpu']}, {record['hardware']['cores']} cores, "
        f"{record['hardware']['memory_gib']} GiB, GPUs: {record['hardware']['gpus'] or 'none'}",
        f"* Python {record['hardware']['python']} on {record['hardware']['platform']}",
        "",
        "## Input files (SHA-256)",
        "",
    ]
    lines += [f"* `{p}`: `{h}`" for p, h in record["input_files"].items()]
    lines += ["", "## Key packages", ""]
    lines += [
        f"* {k} {record['packages'].get(k, record['packages'].get(k.replace('-', '_'), '?'))}"
        for k in KEY_PACKAGES
    ]
    lines += ["", "## Job timings", "", "| job | seconds | peak RSS (MB) |", "|---|---|---|"]
    lines += [f"| {t['job']} | {t['seconds']:.1f} | {t['max_rss_mb']} |" for t in record["timings"]]
    return "\n".join(lines) + "\n"
