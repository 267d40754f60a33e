"""Glue between Snakemake rules and the package: each function takes the ``snakemake`` object.

Kept free of logic: it reads the rule's inputs/outputs/params, sets up logging to the rule's
log file and calls one function of the package.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
from pathlib import Path

log = logging.getLogger("uhecr")


def _setup_logging(smk) -> None:
    log_file = Path(str(smk.log[0]))
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=log_file,
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)


def rule_entry(func):
    """Log to the rule's log file, and record the full error there before re-raising."""

    @functools.wraps(func)
    def wrapper(smk):
        _setup_logging(smk)
        log.info(
            "rule %s: inputs %s -> outputs %s", func.__name__, list(smk.input), list(smk.output)
        )
        try:
            return func(smk)
        except Exception as exc:
            log.exception("rule %s failed: %s", func.__name__, exc)
            print(f"ERROR in rule {func.__name__}: {exc}", file=sys.stderr)
            raise

    return wrapper


@rule_entry
def simulate(smk):
    from uhecr import io, physics
    from uhecr import simulation as sim

    cfg = smk.params.simulation
    sample = smk.wildcards.sample
    primary, index = sample.rsplit("_", 1)
    settings = sim.SimulationSettings.from_dict(cfg.get("settings", {}))
    n_files = cfg["files_per_primary"]
    n_stations = -(-cfg["stations_per_primary"] // n_files)
    primary_key = list(physics.PRIMARY_MASS).index(primary)
    first_event_id = (primary_key * 1000 + int(index)) * 10_000_000
    metadata = {
        "generator": "uhecr toy simulation",
        "primary": primary,
        "file_index": int(index),
        "seed": smk.params.seed,
        "settings": cfg.get("settings", {}),
    }
    counts = io.write_detector_file(
        smk.output[0],
        sim.simulate_primary_file(
            primary, n_stations, smk.params.seed, int(index), settings, first_event_id
        ),
        physics.PRIMARY_PDG[primary],
        metadata,
        fmt=cfg.get("format", "ttree"),
    )
    log.info("wrote %s: %s", smk.output[0], counts)


def _feature_settings(params):
    from uhecr.features import FeatureSettings

    return FeatureSettings(**params.features)


@rule_entry
def extract_stations(smk):
    from uhecr import extraction
    from uhecr.io import InputLayout

    ext = smk.params.extraction
    summary = extraction.extract_station_table(
        smk.input[0],
        smk.output.stations,
        smk.output.quarantine,
        InputLayout.from_config(ext),
        _feature_settings(smk.params),
        step_size=ext["step_size"],
        on_bad_station=ext["on_bad_station"],
    )
    log.info("summary %s", json.dumps(summary))


@rule_entry
def compute_features(smk):
    from uhecr import extraction

    summary = extraction.compute_feature_table(
        smk.input[0],
        smk.output.features,
        smk.output.quarantine,
        _feature_settings(smk.params),
        on_bad_station=smk.params.extraction["on_bad_station"],
    )
    log.info("summary %s", json.dumps(summary))


@rule_entry
def merge_features(smk):
    from uhecr import extraction

    summary = extraction.merge_feature_tables(
        list(smk.input.features),
        list(smk.input.quarantine),
        smk.output.table,
        smk.output.quarantine,
        smk.output.summary,
    )
    log.info("summary %s", json.dumps(summary, default=str))


@rule_entry
def validate_simulation(smk):
    from uhecr import simulation_validation

    checks = simulation_validation.run_checks(
        list(smk.input.raw),
        smk.input.table,
        smk.params.simulation,
        smk.params.seed,
        figures={
            "xmax": smk.output.xmax,
            "multiplicity": smk.output.multiplicity,
            "risetime": smk.output.risetime,
            "fluctuations": smk.output.fluctuations,
        },
    )
    Path(smk.output.checks).write_text(json.dumps(checks, indent=2))
