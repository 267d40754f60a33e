"""Start-up checks of data.input_files (names, existence) and the default feature list.

The Snakemake tests are dry runs that fail while parsing the workflow: a few seconds each.
"""

import copy
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from uhecr import configuration

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = ROOT / "config" / "schema.yaml"
SHIPPED = [p for p in sorted((ROOT / "config").glob("*.yaml")) if p.name != "schema.yaml"]


def _dry_run(tmp_path, input_files: dict | None = None, **overlay):
    """``snakemake -n`` on the quick config plus a temporary config with our input files (and
    any other top-level sections given)."""
    extra = tmp_path / "extra.yaml"
    if input_files is not None:
        overlay["data"] = {"source": "files", "input_files": input_files}
    extra.write_text(
        yaml.safe_dump({"results_dir": str(tmp_path / "results"), **overlay}, allow_unicode=True),
        encoding="utf-8",
    )
    cmd = [sys.executable, "-m", "snakemake", "-n", "--cores", "1"]
    cmd += ["--configfile", "config/quick.yaml", str(extra)]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return out.returncode, out.stdout + out.stderr


def test_sample_pattern_is_the_wildcard_constraint():
    """The schema's propertyNames pattern and the rules' {sample} constraint must agree, or a
    name accepted at start-up fails later with an unrelated MissingInputException."""
    schema = yaml.safe_load(SCHEMA.read_text())
    pattern = schema["properties"]["data"]["properties"]["input_files"]["propertyNames"]["pattern"]
    smk = (ROOT / "rules" / "data.smk").read_text()
    constraint = re.search(r'wildcard_constraints:\s*\n\s*sample="([^"]+)"', smk).group(1)
    assert pattern == f"^{constraint}$"


@pytest.mark.parametrize(
    "name", ["run A", "runé", "run/A", "run:A", "", "x.quarantine", "run.summary", "run.A"]
)
def test_schema_rejects_bad_sample_names(name):
    """Dots too: a sample "x.quarantine" would collide with sample x's quarantine outputs."""
    cfg = configuration.load(ROOT / "config" / "quick.yaml")
    cfg = copy.deepcopy(cfg)
    cfg["data"]["input_files"] = {name: "x.root"}
    with pytest.raises(WorkflowError, match=re.escape(repr(name))):
        validate(cfg, str(SCHEMA))


@pytest.mark.parametrize("name", ["run A", "runé", "x.quarantine"])
def test_bad_sample_name_stops_the_dry_run_naming_it(tmp_path, small_root, name):
    rc, out = _dry_run(tmp_path, {name: str(small_root[0])})
    assert rc != 0
    assert f"{name!r} does not match" in out and "input_files" in out, out[-2000:]
    assert "MissingInputException" not in out


def test_missing_input_file_stops_the_dry_run_naming_the_key(tmp_path, small_root):
    missing = tmp_path / "nowhere" / "run.root"
    rc, out = _dry_run(tmp_path, {"good": str(small_root[0]), "runB": str(missing)})
    assert rc != 0
    assert f"config key data.input_files.runB: {missing} does not exist" in out, out[-2000:]
    assert "MissingInputException" not in out


def test_directory_as_input_file_stops_the_dry_run(tmp_path):
    rc, out = _dry_run(tmp_path, {"runA": str(tmp_path)})
    assert rc != 0
    assert f"config key data.input_files.runA: {tmp_path} is not a file" in out, out[-2000:]


def test_impossible_hyperband_resource_stops_the_dry_run_naming_the_key(tmp_path):
    """Schema-valid, but Optuna would build no bracket and every sweep would fail at its first
    report: the run stops at start-up instead."""
    pruner = {"name": "hyperband", "min_resource": 3, "max_resource": 2}
    rc, out = _dry_run(tmp_path, search={"pruner": pruner})
    assert rc != 0
    assert "config key search.pruner.max_resource: 2 is below min_resource 3" in out, out[-2000:]


def test_impossible_model_pruner_stops_the_dry_run_naming_the_model_key(tmp_path):
    """A model's own pruner keys are checked at start-up too, and the error names them."""
    default = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    model = default["models"]["enabled"][-1]
    models = {model: {"pruner": {"name": "hyperband", "min_resource": 3, "max_resource": 2}}}
    rc, out = _dry_run(tmp_path, models=models)
    assert rc != 0
    expected = f"config key models.{model}.pruner.max_resource: 2 is below min_resource 3"
    assert expected in out, out[-2000:]


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.name)
def test_default_features_use_zeta_not_the_shower_azimuth(path):
    """The shower's phi is the same for every station of a shower (a shower identifier); the
    study's azimuth feature is the station's shower-plane azimuth zeta."""
    features = configuration.load(path)["models"]["features"]
    assert "zeta_rad" in features and "azimuth_rad" not in features


def test_input_paths_lists_globs_and_literal_brackets(tmp_path, monkeypatch):
    from uhecr.configuration import input_paths

    monkeypatch.chdir(tmp_path)
    for name in ("d/a.root", "d/b.root", "d/run[1].root"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_bytes(b"x")
    assert input_paths("s", "d/*.root") == ["d/a.root", "d/b.root", "d/run[1].root"]
    assert input_paths("s", ["./d/a.root", "d/*.root"]) == [
        "./d/a.root",
        "d/b.root",
        "d/run[1].root",
    ]
    assert input_paths("s", "d/run[1].root") == ["d/run[1].root"]  # a file, not a pattern
    with pytest.raises(
        ValueError, match=r"data.input_files.s: pattern 'e/\*.root' matches no file"
    ):
        input_paths("s", "e/*.root")
    with pytest.raises(ValueError, match=r"data.input_files.s: d/c.root does not exist"):
        input_paths("s", ["d/a.root", "d/c.root"])
