import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from uhecr import configuration

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "config" / "schema.yaml")
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


def _load(name):
    return configuration.load(ROOT / "config" / name)


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if p.name != "schema.yaml"], ids=lambda p: p.name
)
def test_shipped_configs_are_valid(path):
    validate(configuration.load(path), SCHEMA)


def test_default_config_is_complete_and_overlays_are_short():
    validate(yaml.safe_load((ROOT / "config" / "config.yaml").read_text()), SCHEMA)
    for overlay in ("quick.yaml", "thesis.yaml"):
        lines = (ROOT / "config" / overlay).read_text().splitlines()
        assert len(lines) < 60, overlay


def test_overlay_merges_like_snakemake():
    from snakemake.utils import update_config

    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    overlay = yaml.safe_load((ROOT / "config" / "quick.yaml").read_text())
    expected = copy.deepcopy(base)
    update_config(expected, overlay)
    assert configuration.load(ROOT / "config" / "quick.yaml") == expected
    assert expected["models"]["xgboost"]["space"]["max_depth"] == "range(2, 15)"
    assert expected["models"]["dae"]["fixed"] == {
        "epochs": 3,
        "batch_size": 256,
        "optimizer": "adam",
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["data"].__setitem__("source", "hdfs"), "hdfs"),
        (lambda c: c["extraction"].__setitem__("on_bad_station", "ignore"), "ignore"),
        (
            lambda c: c["data"]["simulation"]["settings"].__setitem__("hadronic_model", "SIBYLL"),
            "SIBYLL",
        ),
        (lambda c: c["features"].pop("threshold_ivem"), "threshold_ivem"),
        (lambda c: c.__setitem__("sed", 1), "sed"),
        (lambda c: c["data"]["simulation"].__setitem__("stations_per_primary", -5), "-5"),
    ],
)
def test_bad_config_names_the_key(edit, message):
    cfg = copy.deepcopy(_load("quick.yaml"))
    edit(cfg)
    with pytest.raises(WorkflowError, match=message):
        validate(cfg, SCHEMA)


def test_every_schema_key_is_described_and_the_reference_is_current():
    import subprocess
    import sys

    sys.path.insert(0, str(ROOT / "tools"))
    import config_reference

    assert config_reference.undescribed() == []
    check = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "config_reference.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda c: c["search"]["sampler"].__setitem__("n_startup_trial", 50), "n_startup_trial"),
        (lambda c: c["search"]["pruner"].__setitem__("n_warmup_step", 9), "n_warmup_step"),
        (lambda c: c["data"]["simulation"].__setitem__("primaries", ["proton", "iron"]), "short"),
    ],
)
def test_typos_and_class_subsets_are_refused(edit, message):
    cfg = copy.deepcopy(_load("quick.yaml"))
    edit(cfg)
    with pytest.raises(WorkflowError, match=message):
        validate(cfg, SCHEMA)


def test_key_order_of_a_config_is_not_part_of_the_job_params():
    """A config and the same with every mapping's keys reversed (a space too) give equal
    params in the same order: an overlay written in another order reruns no job."""

    def reverse(node):
        return {k: reverse(v) if isinstance(v, dict) else v for k, v in reversed(node.items())}

    config = _load("config.yaml")
    reordered = reverse(copy.deepcopy(config))
    assert list(reordered["models"]["xgboost"]["space"]) != list(
        config["models"]["xgboost"]["space"]
    )
    config, reordered = configuration.sort_keys(config), configuration.sort_keys(reordered)
    assert yaml.safe_dump(reordered, sort_keys=False) == yaml.safe_dump(config, sort_keys=False)
    assert list(config["models"]["xgboost"]["space"]) == sorted(
        config["models"]["xgboost"]["space"]
    )


def test_an_apply_dataset_reads_its_files_with_its_own_settings(tmp_path):
    """apply.datasets.<name> as {files, extraction}: valid, its settings over the training's
    (branches merged), the training's section untouched; an unknown key is refused."""
    (tmp_path / "run7.root").write_bytes(b"")
    config = _load("config.yaml")
    own = {"tree": "Reco", "branches": {"energy": "E"}}
    config["apply"]["datasets"] = {
        "run7": {"files": str(tmp_path / "run7.root"), "extraction": own}
    }
    validate(copy.deepcopy(config), SCHEMA)
    training = copy.deepcopy(config["extraction"])
    settings = configuration.apply_extraction(
        config["extraction"], config["apply"]["datasets"]["run7"]
    )
    assert settings["tree"] == "Reco" and settings["branches"] == {"energy": "E"}
    assert settings["n_bins"] == training["n_bins"] and "keep_trace_tables" not in settings
    assert config["extraction"] == training
    assert configuration.apply_dataset_files("run7", config["apply"]["datasets"]["run7"]) == [
        str(tmp_path / "run7.root")
    ]
    with pytest.raises(ValueError, match=r"apply\.datasets\.run7\.files: .*missing\.root"):
        configuration.apply_dataset_files("run7", {"files": str(tmp_path / "missing.root")})
    config["apply"]["datasets"]["run7"]["extraction"]["selection"] = {}
    with pytest.raises(WorkflowError):
        validate(config, SCHEMA)


def test_the_config_is_read_from_the_workflow_it_is_run_for(tmp_path, monkeypatch):
    """An installed package reads the default config and schema of the workflow directory
    above the overlay (or the working directory), not those of the checkout it came from."""
    import shutil

    other = tmp_path / "other-workflow"
    shutil.copytree(ROOT / "config", other / "config")
    shutil.copy2(ROOT / "Snakefile", other / "Snakefile")
    default = yaml.safe_load((other / "config" / "config.yaml").read_text())
    default["seed"] = default["seed"] + 1
    (other / "config" / "config.yaml").write_text(yaml.safe_dump(default))
    assert configuration.workflow_root(other / "config" / "quick.yaml") == other
    assert configuration.load(other / "config" / "quick.yaml")["seed"] == default["seed"]
    assert configuration.load(ROOT / "config" / "quick.yaml")["seed"] == default["seed"] - 1
    monkeypatch.chdir(other)
    assert configuration.load()["seed"] == default["seed"]


@pytest.mark.slow  # a Snakemake dry run of the whole workflow (about 20 s)
def test_make_apply_takes_several_config_files_and_refuses_a_training_rerun(tmp_path):
    """``tools/check_apply.py`` (make apply's guard) merges several config files in order, as
    ``snakemake --configfile`` does, and refuses, naming the rules, when target apply would run
    any rule of the training run (here: a run that does not exist yet)."""
    import subprocess
    import sys

    overlay = tmp_path / "apply.yaml"
    results = tmp_path / "no-such-run"
    from conftest import write_small_file

    new = tmp_path / "new.root"
    write_small_file(new, n_stations=30)
    settings = {"run_name": "check-apply", "results_dir": str(results)}
    overlay.write_text(yaml.safe_dump({**settings, "apply": {"datasets": {"new": str(new)}}}))
    out = subprocess.run(
        [sys.executable, "tools/check_apply.py", "config/quick.yaml", str(overlay), "--cores", "1"],
        cwd=ROOT, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 1, out.stdout[-2000:] + out.stderr[-2000:]
    assert f"config/quick.yaml {overlay}: target apply would rerun" in out.stderr
    assert "extract_stations" in out.stderr and "Nothing was run" in out.stderr
    assert not results.exists()
