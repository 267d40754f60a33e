"""Zenodo bundle: everything needed to check and regenerate a run's numbers, with a manifest.

Nothing secret goes in: only files from the run's own outputs and the repository, and a final
scan rejects the bundle if the value of any secret-looking environment variable appears in it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

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
    code_url: str | None = None,
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
    record = json.loads(Path(provenance_file).read_text())
    metadata = zenodo_metadata(
        json.loads((repo / ".zenodo.json").read_text()), code_url, record.get("git_commit")
    )
    (out / ".zenodo.json").write_text(json.dumps(metadata, indent=2) + "\n")
    _copy(provenance_file, out, "provenance.json")
    (out / "input_checksums.sha256").write_text(
        "".join(f"{h}  {p}\n" for p, h in sorted(input_checksums.items()))
    )
    (out / "README.md").write_text(_readme(run_name, config, code_url, record.get("git_commit")))
    scan_for_secrets(out)
    manifest = write_manifest(out)
    return {
        "files": len(manifest),
        "bytes": sum(p.stat().st_size for p in out.rglob("*") if p.is_file()),
    }


def _readme(run_name: str, config: dict, code_url: str | None, commit: str | None) -> str:
    clone = code_url or "<the workflow's repository>"
    missing = (
        ""
        if code_url
        else "\n**No code URL was recorded** (config `archive.code_url` unset and no http(s) git "
        "remote 'origin'): set it and rebuild before uploading; `tools/zenodo_upload.py` refuses "
        "this bundle.\n"
    )
    return f"""# Results bundle: run `{run_name}`

Classification of the primary cosmic-ray particle (proton, helium, oxygen, iron) from the signal
of one surface-detector water-Cherenkov station, by the Snakemake workflow `uhecr-workflow`
(code: {clone}, commit `{commit or "unknown"}`).
{missing}
* `results/`: the run's results tree: test metrics (`evaluation/<model>/metrics.json`: per-station
  accuracy with shower-bootstrap intervals and design effect, per-shower accuracy), tables
  (Markdown, LaTeX), paired comparisons, search results, split summary and leakage study,
  simulation checks, and every figure of the report (`figures/`, `validation/`).
* `config/config_used.yaml`: the exact configuration (master seed {config.get("seed")});
  `schema.yaml` documents every key. Passwords in URLs are replaced by `***`.
* `envs/`: pinned conda environments and `requirements.lock` (pip) of the run.
* `provenance.json`: git commit, configuration hash, input checksums, package versions,
  hardware, seeds and per-job timings.
* `input_checksums.sha256`: SHA-256 of the input ROOT files.
* `{MANIFEST}`: SHA-256 of every file of this bundle (`sha256sum -c {MANIFEST}`).

## Rerun from this bundle

With Python 3.11 (and, for `data.source: files`, the input files at the paths of
`config/config_used.yaml`, checked with `sha256sum -c input_checksums.sha256` from the checkout):

```bash
git clone {clone} uhecr-workflow && cd uhecr-workflow
git checkout {commit or "<commit from provenance.json>"}
cp <this bundle>/config/config_used.yaml config/rerun.yaml
make run CONFIG=config/rerun.yaml
```

`make run` installs the pinned environment of `envs/requirements.lock` (or use the per-rule conda
environments: `snakemake --sdm conda --cores 2 --configfile config/rerun.yaml`). The data, split
and test metrics of each model are then regenerated from the seed; with `search.n_workers: 1` the
sweeps, and so every number, are identical (with several workers the order in which trials finish
steers the sampler). Compare e.g. `evaluation/<model>/metrics.json` with `results/` here.
"""


# Zenodo deposit metadata (developers.zenodo.org, "Deposit metadata"): the fields a deposit needs
# and the vocabularies this workflow uses.
ZENODO_UPLOAD_TYPES = {
    "publication", "poster", "presentation", "dataset", "image", "video", "software", "lesson",
    "physicalobject", "other",
}  # fmt: skip
ZENODO_RELATIONS = {
    "isCitedBy", "cites", "isSupplementTo", "isSupplementedBy", "isContinuedBy", "continues",
    "isDescribedBy", "describes", "hasMetadata", "isMetadataFor", "isNewVersionOf",
    "isPreviousVersionOf", "isPartOf", "hasPart", "isReferencedBy", "references",
    "isDocumentedBy", "documents", "isCompiledBy", "compiles", "isVariantFormOf",
    "isOriginalFormOf", "isIdenticalTo", "isAlternateIdentifier", "isReviewedBy", "reviews",
    "isDerivedFrom", "isSourceOf", "requires", "isRequiredBy", "isObsoletedBy", "obsoletes",
}  # fmt: skip
ZENODO_ACCESS = {"open", "embargoed", "restricted", "closed"}


def code_url_of(configured: str | None, repo: Path) -> str | None:
    """The code repository's URL: the configured one, else the http(s) URL of git remote
    'origin', else None. Credentials in either (``https://user:token@host/...``) are dropped:
    the URL goes into public metadata."""
    url = configured
    if not url:
        try:
            url = subprocess.run(
                ["git", "-C", str(repo), "remote", "get-url", "origin"],
                capture_output=True,
                text=True,
                check=True,
            ).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    host = parts.netloc.rsplit("@", 1)[-1]  # keeps [IPv6] brackets and the port as written
    return urlunsplit((parts.scheme, host, parts.path, "", ""))


def zenodo_metadata(base: dict, code_url: str | None, commit: str | None) -> dict:
    """The bundle's deposit metadata: the repository's ``.zenodo.json`` plus the code as a
    related identifier (this bundle supplements it) and the commit in the notes."""
    metadata = dict(base)
    related = [
        r for r in metadata.get("related_identifiers", []) if r.get("identifier") != code_url
    ]
    if code_url:
        related.append(
            {
                "identifier": code_url,
                "relation": "isSupplementTo",
                "resource_type": "software",
                "scheme": "url",
            }
        )
    metadata["related_identifiers"] = related
    if commit:
        metadata["notes"] = f"Produced by the workflow at git commit {commit}."
    return metadata


def zenodo_metadata_problems(metadata: dict) -> list[str]:
    """What Zenodo's deposit API (or this project) requires and ``metadata`` lacks."""
    problems = []
    if metadata.get("upload_type") not in ZENODO_UPLOAD_TYPES:
        problems.append(f"upload_type must be one of {sorted(ZENODO_UPLOAD_TYPES)}")
    for key in ("title", "description", "version"):
        if not isinstance(metadata.get(key), str) or not metadata[key].strip():
            problems.append(f"{key}: a non-empty string is required")
    creators = metadata.get("creators")
    if not isinstance(creators, list) or not creators:
        problems.append("creators: a non-empty list is required")
    else:
        for i, creator in enumerate(creators):
            if not isinstance(creator, dict) or not str(creator.get("name", "")).strip():
                problems.append(f"creators[{i}]: a name is required")
    access = metadata.get("access_right", "open")
    if access not in ZENODO_ACCESS:
        problems.append(f"access_right must be one of {sorted(ZENODO_ACCESS)}")
    if access in ("open", "embargoed") and not metadata.get("license"):
        problems.append(f"license: required for access_right {access!r}")
    related = metadata.get("related_identifiers") or []
    if not isinstance(related, list) or not all(isinstance(r, dict) for r in related):
        return [*problems, "related_identifiers: a list of objects is required"]
    for i, r in enumerate(related):
        if not r.get("identifier") or r.get("relation") not in ZENODO_RELATIONS:
            problems.append(f"related_identifiers[{i}]: identifier and a known relation needed")
    if not any(r.get("resource_type") == "software" for r in related):
        problems.append(
            "related_identifiers: none names the code (resource_type software); set config "
            "archive.code_url (or a git remote 'origin' with an http(s) URL) and rebuild"
        )
    return problems


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
