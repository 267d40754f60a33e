"""Rule simulate: one toy-MC ROOT file of one primary (physics in uhecr.simulation)."""

import sys

sys.path.insert(0, f"{snakemake.scriptdir}/../src")
from uhecr import io, physics, simulation
from uhecr.jobs import rule_job

with rule_job(snakemake) as log:
    cfg = snakemake.params.simulation
    primary, index, seed = (
        snakemake.params.primary,
        snakemake.params.file_index,
        snakemake.params.seed,
    )
    settings = simulation.SimulationSettings.from_dict(cfg.get("settings", {}))
    batches = simulation.simulate_primary_file(
        primary,
        simulation.stations_per_file(cfg["stations_per_primary"], cfg["files_per_primary"]),
        seed,
        index,
        settings,
        simulation.first_event_id(primary, index),
    )
    metadata = {
        "generator": "uhecr toy simulation",
        "primary": primary,
        "file_index": index,
        "seed": seed,
        "settings": cfg.get("settings", {}),
    }
    counts = io.write_detector_file(
        snakemake.output[0], batches, physics.PRIMARY_PDG[primary], metadata, fmt=cfg["format"]
    )
    log.info("wrote %s: %s", snakemake.output[0], counts)
