from __future__ import annotations

import numpy as np
import pytest

from uhecr import io, physics
from uhecr import simulation as sim

SMALL = sim.SimulationSettings(showers_per_batch=20)


def write_small_file(path, primary="proton", n_stations=150, seed=7, fmt="ttree", first_event_id=0):
    batches = sim.simulate_primary_file(primary, n_stations, seed, 0, SMALL, first_event_id)
    counts = io.write_detector_file(
        path, batches, physics.PRIMARY_PDG[primary], {"seed": seed}, fmt=fmt
    )
    return counts


@pytest.fixture(scope="session")
def small_root(tmp_path_factory):
    """A small simulated TTree file (proton) and its write counts."""
    path = tmp_path_factory.mktemp("raw") / "proton_00.root"
    counts = write_small_file(path)
    return path, counts


@pytest.fixture(scope="session")
def small_rntuple(tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "iron_00.root"
    counts = write_small_file(path, primary="iron", fmt="rntuple", first_event_id=10**7)
    return path, counts


@pytest.fixture
def rng():
    return np.random.default_rng(12345)
