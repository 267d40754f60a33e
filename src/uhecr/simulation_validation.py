"""Checks of the toy simulation against the targets of ``shared/docs/physics.md``.

Each check returns measured values, the sheet's target and a tolerance; figures compare them.
Tolerances are loose on purpose where the sheet's own numbers are estimates ([E]).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from uhecr import physics
from uhecr import simulation as sim

log = logging.getLogger(__name__)

# Sheet section 3: triggered stations per event at theta = 0/38/55 deg.
MULTIPLICITY_TARGET = {
    18.477: (4.0, 5.3, 6.7),  # 3 EeV
    19.0: (6.8, 9.2, 12.5),
    19.5: (10.7, 15.5, 22.7),
    20.0: (17.5, 26.1, 40.9),
}
MULTIPLICITY_ZENITHS = (0.0, 38.0, 55.0)
# Sheet section 5: rise time at 1000 m (ns) for (primary, zenith band).
RISETIME_TARGET = {
    ("proton", 0.0): 335.0,
    ("proton", 38.0): 230.0,
    ("iron", 38.0): 190.0,
}


def xmax_check(n: int, seed: int, model: str) -> list[dict]:
    """Sampled Xmax moments vs the moment parametrisation (target agreement ~3 g/cm2)."""
    rng = np.random.default_rng(seed)
    rows = []
    for primary, mass in physics.PRIMARY_MASS.items():
        for lg in (18.5, 19.0, 19.5, 20.0):
            x = physics.sample_xmax(rng, np.full(n, lg), mass, model)
            mean, sigma = physics.xmax_moments(lg, mass, model)
            rows.append(
                {
                    "primary": primary,
                    "lg_energy": lg,
                    "mean_sampled": float(x.mean()),
                    "mean_target": float(mean),
                    "sigma_sampled": float(x.std()),
                    "sigma_target": float(sigma),
                }
            )
    return rows


def multiplicity_check(n_showers: int, seed: int, settings: sim.SimulationSettings) -> list[dict]:
    """Triggered stations per triggered event at fixed energy and zenith (proton/iron mix)."""
    rows = []
    for k, (lg, targets) in enumerate(MULTIPLICITY_TARGET.items()):
        for zen, target in zip(MULTIPLICITY_ZENITHS, targets, strict=True):
            counts = []
            for primary in ("proton", "iron"):
                rng = np.random.default_rng([seed, k, int(zen), len(primary)])
                showers, stations, _ = sim.simulate_batch(
                    rng, primary, n_showers, settings, lg_energy=lg, zenith_deg=zen
                )
                counts.append(
                    np.bincount(stations["shower_index"], minlength=len(showers["zenith"]))
                )
            c = np.concatenate(counts)
            rows.append(
                {
                    "lg_energy": lg,
                    "zenith_deg": zen,
                    "mean_stations": float(c.mean()) if len(c) else 0.0,
                    "error": float(c.std() / np.sqrt(max(len(c), 1))),
                    "target": target,
                    "events": int(len(c)),
                }
            )
    return rows


def fluctuation_check(n_showers: int, seed: int, settings: sim.SimulationSettings) -> list[dict]:
    """Station signal spread about the LDF expectation vs sigma_S = (0.32 + 0.42 sec) sqrt(S)."""
    rows = []
    for zen in (0.0, 25.0, 38.0, 48.0, 55.0):
        rng = np.random.default_rng([seed, 7, int(zen)])
        showers = sim.sample_showers(
            rng, "proton", n_showers, settings, lg_energy=19.5, zenith_deg=zen
        )
        cand = sim.candidate_stations(showers, settings)
        traces = sim.simulate_station_traces(rng, showers, cand, settings)
        expected = cand["expected_muon"] + cand["expected_em"]
        measured = traces["mc_signal_muon"] + traces["mc_signal_em"]
        sel = (expected > 10) & (expected < 300)
        pull = (measured[sel] - expected[sel]) / np.sqrt(expected[sel])
        target = physics.signal_resolution(1.0, np.radians(zen))
        rows.append(
            {
                "zenith_deg": zen,
                "sec_zenith": float(1 / np.cos(np.radians(zen))),
                "sigma_over_sqrt_s": float(pull.std()),
                "target": float(target),
                "stations": int(sel.sum()),
            }
        )
    return rows


def risetime_check(table: pd.DataFrame) -> list[dict]:
    """Median t1/2 of stations at 1000 +- 100 m in zenith bands, from the extracted features."""
    rows = []
    near = table[(table["core_distance_m"] > 900) & (table["core_distance_m"] < 1100)]
    for (primary, zen), target in RISETIME_TARGET.items():
        band = near[(near["primary"] == primary) & ((near["zenith_deg"] - zen).abs() < 8)]
        rows.append(
            {
                "primary": primary,
                "zenith_deg": zen,
                "target": target,
                "median_ns": float(band["rise_time_ns"].median()) if len(band) else float("nan"),
                "stations": int(len(band)),
            }
        )
    return rows


def run_checks(raw_files, table_path, sim_cfg: dict, seed: int) -> dict:
    """Every simulation-vs-sheet check; sample sizes from ``data.simulation.validation``."""
    settings = sim.SimulationSettings.from_dict(sim_cfg.get("settings", {}))
    sizes = sim_cfg["validation"]
    table = pd.read_parquet(table_path)
    checks = {
        "xmax": xmax_check(sizes["xmax_showers"], seed, settings.hadronic_model),
        "multiplicity": multiplicity_check(sizes["multiplicity_showers"], seed, settings),
        "fluctuations": fluctuation_check(sizes["fluctuation_showers"], seed, settings),
        "risetime": risetime_check(table),
        "stations_per_primary": table["primary"].value_counts().sort_index().astype(int).to_dict(),
        "raw_files": [str(p) for p in raw_files],
        "sample_sizes": dict(sizes),
    }
    for key, rows in checks.items():
        if key in ("xmax", "multiplicity", "fluctuations", "risetime"):
            log.info("%s:\n%s", key, pd.DataFrame(rows).to_string())
    return checks
