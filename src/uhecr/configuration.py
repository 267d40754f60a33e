"""The configuration as Snakemake sees it: ``config/config.yaml`` with overlays merged on top.

``snakemake --configfile overlay.yaml`` merges the overlay recursively over the Snakefile's
``configfile:``; tools and tests that read a configuration use ``load`` to get the same result.
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

# The checkout this package lies in (an editable install): the last place to look for the
# workflow's own files (workflow_root).
ROOT = Path(__file__).resolve().parents[2]
DEFAULT = ROOT / "config" / "config.yaml"
SCHEMA = ROOT / "config" / "schema.yaml"


def workflow_root(*hints: str | Path) -> Path:
    """The workflow directory (holding ``Snakefile`` and ``config/schema.yaml``): the nearest
    one above any of ``hints`` (config files), else above the working directory, else the
    checkout this package lies in. So an installed package reads the defaults and schema of
    the workflow it is run for, not of the checkout it was installed from."""
    for start in [*hints, Path.cwd()]:
        start = Path(start).resolve()
        for directory in (start, *start.parents):
            if (directory / "Snakefile").is_file() and (
                directory / "config" / "schema.yaml"
            ).is_file():
                return directory
    return ROOT


def sort_keys(node: dict) -> dict:
    """Sorts every mapping's keys in place (and returns it), so that equal configurations give
    equal Snakemake job params whatever an overlay's key order, and no params trigger reruns
    a job for nothing. Search spaces too: parameters are drawn in name order
    (uhecr.spaces.parse_space), so their key order changes no trial."""
    items = sorted(node.items())
    node.clear()
    for key, value in items:
        node[key] = sort_keys(value) if isinstance(value, dict) else value
    return node


def merge(base: dict, overlay: dict) -> dict:
    """Recursive merge, as Snakemake's ``update_config``: overlay values win, dicts merge."""
    out = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def load(*overlays: str | Path, validate: bool = True) -> dict:
    """The workflow's default config (``workflow_root``) with ``overlays`` merged in order,
    validated against its schema."""
    root = workflow_root(*overlays)
    default = root / "config" / "config.yaml"
    config = yaml.safe_load(default.read_text())
    for path in overlays:
        if Path(path).resolve() != default.resolve():
            config = merge(config, yaml.safe_load(Path(path).read_text()) or {})
    if validate:
        from snakemake.utils import validate as validate_schema

        validate_schema(config, str(root / "config" / "schema.yaml"))
    return config


GLOB_CHARACTERS = set("*?[")


# The extraction keys a dataset to apply the models to may set for itself (the rest of
# section extraction concerns the training files only).
APPLY_EXTRACTION_KEYS = (
    "tree", "step_size", "n_pmts", "n_bins", "entry", "on_bad_station", "branches",
    "zlib_library",
)  # fmt: skip


def apply_dataset_files(name: str, spec) -> list[str]:
    """The files of dataset ``name`` of apply.datasets, given as its files or as a mapping with
    them under ``files`` (input_paths: checked, errors name the config key)."""
    if isinstance(spec, dict):
        return input_paths(f"{name}.files", spec["files"], "apply.datasets")
    return input_paths(name, spec, "apply.datasets")


def apply_extraction(training: dict, spec) -> dict:
    """A dataset's extraction settings: the training's (``training``: section extraction) with
    the dataset's own ``extraction`` block over them (its branches merged into the mapping)."""
    settings = {k: copy.deepcopy(training[k]) for k in APPLY_EXTRACTION_KEYS}
    own = spec.get("extraction", {}) if isinstance(spec, dict) else {}
    return merge(settings, own)


def input_paths(name: str, spec: str | list[str], section: str = "data.input_files") -> list[str]:
    """The files of sample ``name`` (config ``<section>.<name>``): one path, a list of paths,
    or glob patterns (sorted matches), each file once. Raises ValueError naming the key when a
    file is missing or a pattern matches nothing."""
    import glob
    import os

    key = f"{section}.{name}"
    files: list[str] = []
    seen: set[str] = set()
    for pattern in [spec] if isinstance(spec, str) else list(spec):
        if GLOB_CHARACTERS & set(pattern) and not Path(pattern).is_file():  # run[1].root exists
            matches = sorted(p for p in glob.glob(pattern, recursive=True) if Path(p).is_file())
            if not matches:
                raise ValueError(
                    f"config key {key}: pattern {pattern!r} matches no file "
                    f"(relative paths are relative to {Path.cwd()})"
                )
        else:
            if not Path(pattern).is_file():
                what = "is not a file" if Path(pattern).exists() else "does not exist"
                raise ValueError(
                    f"config key {key}: {pattern} {what} (relative paths are relative to "
                    f"{Path.cwd()})"
                )
            matches = [pattern]
        for match in matches:  # each file once, however it is spelled (./a.root, a*.root)
            real = os.path.realpath(match)
            if real not in seen:
                seen.add(real)
                files.append(match)
    return files
