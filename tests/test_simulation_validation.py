"""The toy simulation against the parameter sheet's targets (physics.md sections 3 and 5)."""

import numpy as np
import pytest

from uhecr import features as feat
from uhecr import simulation as sim
from uhecr import simulation_validation as val
from uhecr.io import StationChunk

S = sim.SimulationSettings(showers_per_batch=50)


def test_multiplicity_close_to_sheet_estimate():
    rows = val.multiplicity_check(25, seed=3, settings=S)
    assert len(rows) == 12
    for r in rows:  # the sheet's numbers are estimates from a trigger-probability model
        assert r["mean_stations"] == pytest.approx(r["target"], rel=0.25), r


def test_signal_fluctuations_follow_auger_model_at_small_zenith():
    rows = {r["zenith_deg"]: r for r in val.fluctuation_check(30, seed=4, settings=S)}
    for zenith in (0.0, 25.0, 38.0):
        assert rows[zenith]["sigma_over_sqrt_s"] == pytest.approx(rows[zenith]["target"], rel=0.15)


def _risetimes(primary, zenith, seed):
    rng = np.random.default_rng(seed)
    _, st, _ = sim.simulate_batch(rng, primary, 150, S, lg_energy=19.3, zenith_deg=zenith)
    near = (st["r"] > 900) & (st["r"] < 1100)
    chunk = StationChunk(
        columns={"station_id": st["station_id"][near]},
        pmt={
            "pmt_ok": st["pmt_ok"][near],
            "baseline_hg": st["baseline_hg"][near],
            "baseline_lg": st["baseline_lg"][near],
            "vem_peak": st["vem_peak"][near],
            "vem_charge": st["vem_charge"][near],
            "da_ratio": st["da_ratio"][near],
        },
        traces={"trace_hg": st["trace_hg"][near], "trace_lg": st["trace_lg"][near]},
        entry_start=0,
    )
    fs = feat.FeatureSettings()
    vem, info = feat.calibrate(chunk, fs)
    return feat.trace_features(vem, info["charge_over_peak"], fs)["rise_time_ns"]


@pytest.mark.parametrize(
    ("primary", "zenith", "target"), [("proton", 38.0, 230.0), ("iron", 38.0, 190.0)]
)
def test_risetime_at_1000m_matches_sheet(primary, zenith, target):
    t = _risetimes(primary, zenith, seed=11)
    assert len(t) > 30
    assert np.median(t) == pytest.approx(target, rel=0.12)


def test_proton_rises_slower_than_iron():
    assert np.median(_risetimes("proton", 38.0, 5)) > np.median(_risetimes("iron", 38.0, 5)) + 15
