import copy
from pathlib import Path

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

ROOT = Path(__file__).resolve().parents[1]
SCHEMA = str(ROOT / "config" / "schema.yaml")
CONFIGS = sorted((ROOT / "config").glob("*.yaml"))


def _load(name):
    return yaml.safe_load((ROOT / "config" / name).read_text())


@pytest.mark.parametrize(
    "path", [p for p in CONFIGS if p.name != "schema.yaml"], ids=lambda p: p.name
)
def test_shipped_configs_are_valid(path):
    validate(yaml.safe_load(path.read_text()), SCHEMA)


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
