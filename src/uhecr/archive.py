"""Zenodo bundle: everything needed to check and regenerate a run's numbers, with a manifest.

Nothing secret goes in: only files from the run's own outputs and the repository, and a final
scan rejects the bundle if the value of any secret-looking environment variable appears in it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from uhecr import provenance
from uhecr.provenance import SECRET_MARKERS, sha256_file

MANIFEST = "MANIFEST.sha256"
# Snakemake drops this marker into directory outputs after the rule ran; it is not bundle content.
IGNORED = {MANIFEST, ".snakemake_timestamp"}


class SecretLeakError(RuntimeError):
    pass


def _copy(src, dst_dir: Path, name: str | None = None) -> Path:
    dst_dir.mkdir(parents=True, exist_ok=True)
    dst = dst_dir / (name or Path(src).name)
    shutil.copy2(src, dst)
    return dst


def build_bundle(
    out: Path,
    *,
    run_name: str,
    result_files: dict[str, str],
    config: dict,
    repo: Path,
    provenance_file: str,
    input_checksums: dict[str, str],
) -> dict:
    """Write the bundle folder ``out``; ``result_files`` maps path in the bundle -> source.

    Sources keep their place in the results tree (``results/evaluation/svm/metrics.json``), so
    files of the same name (every model's ``metrics.json``, both ``summary.json``) never collide.
    """
    import yaml

    out = Path(out)
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for name, source in result_files.items():
        target = out / name
        if target.exists():
            raise ValueError(f"two bundle files map to {name}")
        _copy(source, target.parent, target.name)
    (out / "config").mkdir()
    # A password typed into a URL of the config (e.g. search.storage) is masked here too.
    used = yaml.safe_dump(provenance.redact(config), sort_keys=False)
    (out / "config" / "config_used.yaml").write_text(used)
    _copy(repo / "config" / "schema.yaml", out / "config")
    for env in sorted((repo / "envs").glob("*.yaml")):
        _copy(env, out / "envs")
    _copy(repo / "requirements.lock", out / "envs")
    _copy(repo / "CITATION.cff", out)
    _copy(repo / ".zenodo.json", out)
    _copy(provenance_file, out, "provenance.json")
    (out / "input_checksums.sha256").write_text(
        "".join(f"{h}  {p}\n" for p, h in sorted(input_checksums.items()))
    )
    (out / "README.md").write_text(_readme(run_name, config))
    scan_for_secrets(out)
    manifest = write_manifest(out)
    return {
        "files": len(manifest),
        "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }


def _readme(run_name: str, config: dict) -> str:
    return f"""# Results bundle: run `{run_name}`

Classification of the primary cosmic-ray particle (proton, helium, oxygen, iron) from the signal
of one surface-detector water-Cherenkov station, by the Snakemake workflow `uhecr-workflow`.

* `results/`: the run's results tree: test metrics (`evaluation/<model>/metrics.json`: per-station
  accuracy with shower-bootstrap intervals and design effect, per-shower accuracy), tables
  (Markdown, LaTeX), paired comparisons, search results, split summary and leakage study,
  simulation checks, and every figure of the report (`figures/`, `validation/`).
* `config/config_used.yaml`: the exact configuration (master seed {config.get("seed")}); `schema.yaml` documents every key.
* `envs/`: pinned conda environments and `requirements.lock` (pip) of the run.
* `provenance.json`: git commit, configuration hash, input checksums, package versions,
  hardware, seeds and per-job timings.
* `input_checksums.sha256`: SHA-256 of the input ROOT files.
* `{MANIFEST}`: SHA-256 of every file of this bundle (`sha256sum -c {MANIFEST}`).

To regenerate: check out the recorded git commit, then
`make run CONFIG=config/config_used.yaml` (or `snakemake --sdm conda --configfile ...`).
"""


def write_manifest(out: Path) -> dict[str, str]:
    entries = {}
    for path in sorted(p for p in Path(out).rglob("*") if p.is_file() and p.name not in IGNORED):
        entries[str(path.relative_to(out))] = sha256_file(path)
    (Path(out) / MANIFEST).write_text("".join(f"{h}  {p}\n" for p, h in entries.items()))
    return entries


def verify_manifest(out: Path) -> list[str]:
    """Files whose checksum differs from the manifest, or that are missing/extra."""
    out = Path(out)
    listed = {}
    for line in (out / MANIFEST).read_text().splitlines():
        digest, name = line.split("  ", 1)
        listed[name] = digest
    problems = [
        name
        for name, digest in listed.items()
        if not (out / name).is_file() or sha256_file(out / name) != digest
    ]
    present = {
        str(p.relative_to(out)) for p in out.rglob("*") if p.is_file() and p.name not in IGNORED
    }
    problems += sorted(present - set(listed))
    return problems


def scan_for_secrets(out: Path) -> None:
    secrets = [
        v
        for k, v in os.environ.items()
        if any(m in k.upper() for m in SECRET_MARKERS) and len(v) >= 8
    ]
    for path in Path(out).rglob("*"):
        if not path.is_file():
            continue
        data = path.read_bytes()
        for value in secrets:
            if value.encode() in data:
                raise SecretLeakError(
                    f"{path}: contains the value of a secret environment variable"
                )
