import numpy as np
import pytest

from uhecr import simulation as sim

S = sim.SimulationSettings(showers_per_batch=30)


def _run(seed, primary="proton", n=200):
    showers, stations = [], []
    for sh, st in sim.simulate_primary_file(primary, n, seed, 0, S):
        showers.append(sh)
        stations.append(st)
    return showers, stations


def test_same_seed_same_output_and_other_seed_differs():
    a_sh, a_st = _run(11)
    b_sh, b_st = _run(11)
    c_sh, _ = _run(12)
    for x, y in zip(a_st, b_st, strict=True):
        for key in ("trace_hg", "trace_lg", "station_id", "vem_peak", "pmt_ok"):
            np.testing.assert_array_equal(x[key], y[key])
    np.testing.assert_array_equal(a_sh[0]["xmax"], b_sh[0]["xmax"])
    assert not np.array_equal(a_sh[0]["lg_energy"][:5], c_sh[0]["lg_energy"][:5])


def test_enough_triggered_stations_and_valid_ranges():
    showers, stations = _run(3, "iron", 300)
    n = sum(len(st["station_id"]) for st in stations)
    assert n >= 300
    for sh, st in zip(showers, stations, strict=True):
        assert np.all((sh["lg_energy"] >= 18.5) & (sh["lg_energy"] <= 20.0))
        assert np.all(np.degrees(sh["zenith"]) <= 60.0)
        assert np.all(st["t2"] | st["tot"])  # only triggered stations are kept
        assert st["trace_hg"].shape[1:] == (3, 768)
        assert st["trace_hg"].dtype == np.int16
        assert st["trace_hg"].min() >= 0 and st["trace_hg"].max() <= 1023
        counts = np.bincount(st["shower_index"], minlength=len(sh["zenith"]))
        assert np.all(counts >= 3)  # event trigger needs 3 stations


def _adc(ivem, peak_adc=40.0, baseline=50.0, seed=0):
    """Digitised high-gain traces: baseline + noise + signal in I_VEM times each PMT's gain."""
    rng = np.random.default_rng(seed)
    adc = baseline + ivem * peak_adc + 0.7 * rng.standard_normal(ivem.shape)
    return np.clip(np.rint(adc), 0, 1023).astype(np.int16), np.full(ivem.shape[:2], peak_adc)


def test_station_triggers_threshold_and_tot_on_adc_traces():
    trig = sim.Triggers()
    ok = np.ones((5, 3), dtype=bool)
    ivem = np.zeros((5, 3, 768))
    ivem[0, :, 300] = 5.0  # big coincident pulse: T2, not ToT
    ivem[1, :, 300:330] = 0.5  # long low signal: ToT only
    ivem[2, 0, 300] = 5.0  # one PMT only: neither
    ivem[3, :2, 300:320] = 0.3  # ToT in two PMTs at the same time
    ivem[4, 0, 300:310] = 0.5  # 20 bins over threshold in two PMTs, never at the same time
    ivem[4, 1, 310:320] = 0.5
    hg, peak = _adc(ivem)
    t2, tot = sim.station_triggers(hg, peak, ok, trig, pretrigger_bins=200)
    assert t2.tolist() == [True, False, False, False, False]
    assert tot.tolist() == [False, True, False, True, False]


def test_triggers_use_the_stations_calibration_and_baseline():
    trig = sim.Triggers()
    ok = np.ones((1, 3), dtype=bool)
    ivem = np.zeros((1, 3, 768))
    ivem[0, :, 300] = 3.5  # 3.5 I_VEM: above the 3.2 threshold
    hg, peak = _adc(ivem, baseline=80.0)
    assert sim.station_triggers(hg, peak, ok, trig, 200)[0][0]
    # A station that believes its I_VEM is 20 % larger sees 2.9 I_VEM: no T2.
    assert not sim.station_triggers(hg, peak * 1.2, ok, trig, 200)[0][0]


def test_threshold_uses_working_pmts_only():
    trig = sim.Triggers()
    ok = np.array([[True, True, False]])
    ivem = np.zeros((1, 3, 768))
    ivem[0, :2, 300] = 3.5  # above 3.2 but below the 2-PMT threshold 3.8
    assert not sim.station_triggers(*_adc(ivem), ok, trig, 200)[0][0]
    ivem[0, :2, 300] = 4.0
    assert sim.station_triggers(*_adc(ivem), ok, trig, 200)[0][0]


def test_event_trigger_needs_compact_pattern():
    trig = sim.Triggers()
    x = np.array([0.0, 1500.0, 750.0, 0.0, 9000.0, 18000.0])
    y = np.array([0.0, 0.0, 1299.0, 0.0, 0.0, 0.0])
    shower = np.array([0, 0, 0, 1, 1, 1])
    passed = sim.event_trigger(shower, x, y, np.ones(6, bool), 2, trig)
    assert passed.tolist() == [True, False]


def test_multiplicity_grows_with_energy():
    rng = np.random.default_rng(5)
    low = sim.simulate_batch(rng, "proton", 40, S, lg_energy=18.6, zenith_deg=30)
    high = sim.simulate_batch(rng, "proton", 40, S, lg_energy=19.8, zenith_deg=30)
    m_low = len(low[1]["station_id"]) / len(low[0]["zenith"])
    m_high = len(high[1]["station_id"]) / len(high[0]["zenith"])
    assert m_high > 2 * m_low


@pytest.mark.parametrize("zenith", [0.0, 38.0, 60.0])
def test_iron_over_proton_muon_and_em_sizes_follow_the_sheet_at_every_zenith(zenith):
    """Sheet section 8 step 4: Fe/p muon signal 1.35 +- 0.05 and EM 0.92 +- 0.05 at 1000 m,
    averaged over showers at equal energy; the total follows from the muon fraction."""

    rng = np.random.default_rng(9)
    p = sim.sample_showers(rng, "proton", 40_000, S, lg_energy=19.0, zenith_deg=zenith)
    fe = sim.sample_showers(rng, "iron", 40_000, S, lg_energy=19.0, zenith_deg=zenith)
    muons = fe["s1000_muon"].mean() / p["s1000_muon"].mean()
    em = fe["s1000_em"].mean() / p["s1000_em"].mean()
    total = (fe["s1000_muon"] + fe["s1000_em"]).mean() / (p["s1000_muon"] + p["s1000_em"]).mean()
    assert muons == pytest.approx(1.35, abs=0.05)
    assert em == pytest.approx(0.92, abs=0.05)
    f_mu = p["s1000_muon"].mean() / (p["s1000_muon"] + p["s1000_em"]).mean()
    assert total == pytest.approx(f_mu * muons + (1 - f_mu) * em, rel=1e-9)
    assert total > 1.05  # iron showers are larger than proton ones at equal energy (sheet: ~1.10)
    assert fe["xmax"].mean() < p["xmax"].mean() - 60


def test_deep_showers_are_kept_and_the_muon_xmax_correlation_survives():
    """Sheet step 2: no redrawing of showers with Xmax near or below the ground."""
    from uhecr import physics

    rng = np.random.default_rng(10)
    p = sim.sample_showers(rng, "proton", 40_000, S, lg_energy=19.5, zenith_deg=0.0)
    mean, sigma = physics.xmax_moments(19.5, 1)
    assert p["xmax"].mean() == pytest.approx(mean, abs=2.0)
    assert p["xmax"].std() == pytest.approx(sigma, rel=0.05)
    assert (p["delta_x"] < S.min_delta_x).mean() > 0.2  # the deep tail is there
    rho = np.corrcoef(np.log(p["muon_scale"]), p["xmax"])[0, 1]
    assert rho == pytest.approx(physics.MUON_XMAX_CORRELATION, abs=0.03)
    assert np.isfinite(p["s1000_em"]).all() and (p["s1000_em"] > 0).all()


def test_unknown_setting_and_primary_are_rejected():
    with pytest.raises(ValueError, match="unknown simulation setting"):
        sim.SimulationSettings.from_dict({"hadronic_modle": "EPOS-LHC"})
    with pytest.raises(ValueError, match="unknown primary"):
        next(sim.simulate_primary_file("neutron", 10, 1, 0, S))
