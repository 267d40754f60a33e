import numpy as np
import pytest

from uhecr import features as feat
from uhecr.io import StationChunk

S = feat.FeatureSettings()
A = np.exp(-25.0 / 65.0)
COP = 1.0 / (1.0 - A)  # charge/peak of one muon in bins


def _chunk(
    vem_traces, n_pmts=3, pmt_ok=None, charge=150.0, peak=None, lg_factor=32.0, baseline=50.0
):
    """Build ADC traces whose calibrated VEM trace is ``vem_traces`` for every PMT."""
    vem_traces = np.atleast_2d(vem_traces).astype(float)
    n, n_bins = vem_traces.shape
    peak = charge / COP if peak is None else peak
    adc = baseline + vem_traces[:, None, :] * charge
    hg = np.clip(np.rint(np.repeat(adc, n_pmts, axis=1)), 0, 1023)
    lg = np.clip(
        np.rint(baseline + (np.repeat(adc, n_pmts, axis=1) - baseline) / lg_factor), 0, 1023
    )
    ones = np.ones((n, n_pmts))
    return StationChunk(
        columns={"station_id": np.arange(n)},
        pmt={
            "pmt_ok": ones.astype(bool) if pmt_ok is None else pmt_ok,
            "baseline_hg": ones * baseline,
            "baseline_lg": ones * baseline,
            "vem_peak": ones * peak,
            "vem_charge": ones * charge,
            "da_ratio": ones * lg_factor,
        },
        traces={"trace_hg": hg.astype(np.int16), "trace_lg": lg.astype(np.int16)},
        entry_start=0,
    )


def _features(vem_traces, **kw):
    vem, info = feat.calibrate(_chunk(vem_traces, **kw), S)
    return feat.trace_features(vem, info["charge_over_peak"], S), info, vem


def test_box_trace_has_known_times():
    trace = np.zeros(768)
    trace[100:140] = 1.0  # 40 bins, 40 VEM
    f, info, vem = _features(trace)
    assert f["total_signal_vem"][0] == pytest.approx(40.0, rel=0.01)
    assert f["trace_length_ns"][0] == pytest.approx((40 + S.tail_bins) * 25.0)
    # 10 % -> 50 % of a flat trace: 0.4 * 40 bins; 50 % -> 90 %: also 0.4 * 40 bins
    assert f["rise_time_ns"][0] == pytest.approx(0.4 * 40 * 25.0, rel=0.02)
    assert f["fall_time_ns"][0] == pytest.approx(0.4 * 40 * 25.0, rel=0.02)
    assert info["reason"][0] == 0


def test_single_muon_pulse_has_area_over_peak_one():
    trace = np.zeros(768)
    trace[200:240] = (1 - A) * A ** np.arange(40)  # 1 VEM exponential pulse
    f, _, _ = _features(trace, charge=1000.0)
    assert f["area_over_peak"][0] == pytest.approx(1.0, rel=0.05)
    assert f["total_signal_vem"][0] == pytest.approx(1.0, rel=0.05)


def test_rise_time_interpolates_inside_bins():
    trace = np.zeros(768)
    trace[300] = 1.0
    trace[301] = 1.0  # 10 % is reached 0.2 into bin 300, 50 % exactly at its end
    f, _, _ = _features(trace)
    assert f["rise_time_ns"][0] == pytest.approx(0.8 * 25.0, rel=0.02)


def test_features_are_vectorised_over_stations():
    rng = np.random.default_rng(0)
    traces = np.zeros((50, 768))
    widths = rng.integers(5, 100, 50)
    for i, w in enumerate(widths):
        traces[i, 250 : 250 + w] = 0.5
    f, _, _ = _features(traces)
    np.testing.assert_allclose(f["trace_length_ns"], (widths + S.tail_bins) * 25.0)
    np.testing.assert_allclose(f["total_signal_vem"], widths * 0.5, rtol=0.01)


def test_flagged_pmt_is_ignored_in_the_average():
    trace = np.zeros(768)
    trace[100:110] = 2.0
    chunk = _chunk(trace, pmt_ok=np.array([[True, True, False]]))
    chunk.traces["trace_hg"][0, 2] = 1000  # garbage in the dead PMT
    vem, info = feat.calibrate(chunk, S)
    assert info["n_good_pmts"][0] == 2
    assert vem[0].sum() == pytest.approx(20.0, rel=0.01)


def test_saturated_high_gain_uses_low_gain():
    trace = np.zeros(768)
    trace[100:103] = [40.0, 20.0, 10.0]  # 40 VEM/bin * 150 ADC >> 1023
    f, info, _ = _features(trace)
    assert info["high_gain_saturated"][0]
    assert not info["saturated"][0]
    assert f["total_signal_vem"][0] == pytest.approx(70.0, rel=0.03)


def test_low_gain_saturation_is_flagged():
    trace = np.zeros(768)
    trace[100] = 300.0  # 300 * 150 / 32 ADC > 1023 in low gain too
    _, info, _ = _features(trace)
    assert info["saturated"][0]


def test_pretrigger_baseline_matches_calibration_constant():
    trace = np.zeros(768)
    trace[300:320] = 1.0
    chunk = _chunk(trace, baseline=57.0)
    chunk.pmt["baseline_hg"][:] = 0.0  # wrong constant: the pretrigger estimate must not care
    vem, _ = feat.calibrate(chunk, feat.FeatureSettings(baseline="pretrigger"))
    assert vem[0].sum() == pytest.approx(20.0, rel=0.01)
    with pytest.raises(ValueError, match="features.baseline"):
        feat.calibrate(chunk, feat.FeatureSettings(baseline="median"))


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda c: c.pmt["pmt_ok"].fill(False), "no_working_pmt"),
        (lambda c: c.pmt["vem_charge"].__setitem__((0, 1), np.nan), "non_finite_calibration"),
        (lambda c: c.pmt["vem_peak"].__setitem__((0, 0), 0.0), "non_positive_calibration"),
    ],
)
def test_bad_stations_get_a_reason(mutate, reason):
    trace = np.zeros(768)
    trace[100:110] = 1.0
    chunk = _chunk(trace)
    mutate(chunk)
    _, info = feat.calibrate(chunk, S)
    assert feat.QUARANTINE_REASONS[info["reason"][0] - 1] == reason


def test_nan_float_trace_is_flagged():
    trace = np.zeros(768)
    trace[100:110] = 1.0
    chunk = _chunk(trace)
    hg = chunk.traces["trace_hg"].astype(np.float32)
    hg[0, 0, 105] = np.nan
    chunk.traces["trace_hg"] = hg
    _, info = feat.calibrate(chunk, S)
    assert feat.QUARANTINE_REASONS[info["reason"][0] - 1] == "non_finite_trace"


def test_zero_trace_has_no_signal():
    f, _, _ = _features(np.zeros(768))
    assert not f["has_signal"][0]


@pytest.mark.parametrize("value", [np.inf, np.nan, -np.inf], ids=["inf", "nan", "-inf"])
@pytest.mark.parametrize("gain", ["trace_hg", "trace_lg"])
def test_non_finite_raw_trace_of_working_pmt_is_quarantined(value, gain):
    """+inf in a high-gain bin used to pass as saturation (hg >= adc_max) and change S."""
    trace = np.zeros((2, 768))
    trace[:, 100:140] = 1.0
    chunk = _chunk(trace)
    for k in chunk.traces:
        chunk.traces[k] = chunk.traces[k].astype(np.float64)
    chunk.traces[gain][0, 1, 120] = value
    _, info = feat.calibrate(chunk, S)
    code = feat.QUARANTINE_REASONS.index("non_finite_trace") + 1
    assert info["reason"].tolist() == [code, 0]


def test_non_finite_trace_of_flagged_pmt_is_ignored():
    trace = np.zeros((1, 768))
    trace[:, 100:140] = 1.0
    chunk = _chunk(trace, pmt_ok=np.array([[True, False, True]]))
    chunk.traces["trace_hg"] = chunk.traces["trace_hg"].astype(np.float64)
    chunk.traces["trace_hg"][0, 1, 120] = np.inf
    vem, info = feat.calibrate(chunk, S)
    assert info["reason"][0] == 0 and info["n_good_pmts"][0] == 2
    f = feat.trace_features(vem, info["charge_over_peak"], S)
    assert f["total_signal_vem"][0] == pytest.approx(40.0, rel=0.01)


def _calibrate_one_pmt_at_a_time(chunk, s):
    """Textbook calibration in float64, one station and PMT at a time (the definition)."""
    hg, lg, p = chunk.traces["trace_hg"], chunk.traces["trace_lg"], chunk.pmt
    out = np.zeros((hg.shape[0], hg.shape[2]))
    for i in range(hg.shape[0]):
        good = [j for j in range(hg.shape[1]) if p["pmt_ok"][i, j]]
        for j in good:
            adc = hg[i, j].astype(float) - p["baseline_hg"][i, j]
            saturated = hg[i, j] >= s.adc_max
            low = (lg[i, j].astype(float) - p["baseline_lg"][i, j]) * p["da_ratio"][i, j]
            adc[saturated] = low[saturated]
            out[i] += adc / p["vem_charge"][i, j] / len(good)
    return out


@pytest.mark.parametrize("dtype", [np.int16, np.float64])
def test_calibration_matches_the_definition_per_pmt(dtype):
    """Different constants per PMT, saturation in one, two or three PMTs of a station (the
    same bins), a flagged PMT with garbage: the fast weighted sum equals the definition."""
    rng = np.random.default_rng(5)
    n, n_pmt, n_bins = 40, 3, 768
    trace = np.zeros((n, n_bins))
    trace[:, 200:260] = rng.uniform(0.0, 30.0, (n, 1)) * np.exp(-np.arange(60) / 12.0)
    base_hg = rng.uniform(40, 60, (n, n_pmt))
    base_lg = rng.uniform(40, 60, (n, n_pmt))
    charge = rng.uniform(120, 180, (n, n_pmt))
    ratio = rng.uniform(28, 36, (n, n_pmt))
    signal = trace[:, None, :] * charge[:, :, None]
    hg = np.clip(np.rint(base_hg[:, :, None] + signal), 0, 1023)
    lg = np.clip(np.rint(base_lg[:, :, None] + signal / ratio[:, :, None]), 0, 1023)
    ok = np.ones((n, n_pmt), bool)
    ok[3, 1] = ok[7, 0] = False
    hg[3, 1] = 1023  # garbage in a flagged PMT: saturated everywhere
    chunk = StationChunk(
        columns={"station_id": np.arange(n)},
        pmt={
            "pmt_ok": ok,
            "baseline_hg": base_hg,
            "baseline_lg": base_lg,
            "vem_peak": charge / COP,
            "vem_charge": charge,
            "da_ratio": ratio,
        },
        traces={"trace_hg": hg.astype(dtype), "trace_lg": lg.astype(dtype)},
        entry_start=0,
    )
    n_saturated = (hg.max(axis=2) >= S.adc_max).sum(axis=1)
    assert {1, 2, 3} <= set(n_saturated[ok.all(axis=1)].tolist())  # the case is exercised
    vem, info = feat.calibrate(chunk, S)
    assert vem.dtype == np.float32
    assert (info["reason"] == 0).all()
    np.testing.assert_allclose(vem, _calibrate_one_pmt_at_a_time(chunk, S), rtol=1e-5, atol=2e-5)
    # Bit for bit the dense float32 sum (the earlier implementation): features of a run do not
    # change with the faster calibration, so published numbers stay reproducible.
    f32 = {k: np.asarray(v, dtype=np.float32) for k, v in chunk.pmt.items() if k != "pmt_ok"}
    w = np.where(ok, 1.0 / f32["vem_charge"], 0.0) / ok.sum(axis=1)[:, None]
    w = w.astype(np.float32)
    adc = np.multiply(chunk.traces["trace_hg"], w[:, :, None], dtype=np.float32)
    i, j, b = np.nonzero((chunk.traces["trace_hg"] >= S.adc_max) & ok[:, :, None])
    low_adc = lg[i, j, b].astype(np.float32) - f32["baseline_lg"][i, j]
    adc[i, j, b] = (low_adc * f32["da_ratio"][i, j] + f32["baseline_hg"][i, j]) * w[i, j]
    offset = (w * np.where(ok, f32["baseline_hg"], 0.0)).sum(axis=1, dtype=np.float32)
    np.testing.assert_array_equal(vem, adc.sum(axis=1) - offset[:, None])


def test_charge_whose_inverse_overflows_is_a_non_finite_calibration():
    trace = np.zeros((2, 768))
    trace[:, 100:140] = 1.0
    chunk = _chunk(trace)
    chunk.pmt["vem_charge"][0, 1] = 1e-40  # a float32 denormal: 1 / Q_VEM is inf
    vem, info = feat.calibrate(chunk, S)
    code = feat.QUARANTINE_REASONS.index("non_finite_calibration") + 1
    assert info["reason"].tolist() == [code, 0]


@pytest.mark.parametrize(
    "constants",
    [
        {"da_ratio": 1e38},  # the low gain in high-gain units overflows
        {"da_ratio": 1e38, "vem_charge": 1e10, "vem_peak": 1e10},  # ... with a tiny weight
        {"vem_charge": 1e-37},  # the weight is finite, the weighted sum is not
    ],
    ids=["ratio", "ratio-small-weight", "tiny-charge"],
)
def test_integer_traces_whose_calibrated_sum_overflows_are_quarantined(constants):
    """Integer samples are finite, but constants can still overflow the float32 sum."""
    trace = np.zeros((2, 768))
    trace[:, 100:110] = 40.0  # saturates the high gain: the low gain is used
    chunk = _chunk(trace)
    for key, value in constants.items():
        chunk.pmt[key][0, :] = value
    vem, info = feat.calibrate(chunk, S)
    assert info["high_gain_saturated"].tolist() == [True, True]
    code = feat.QUARANTINE_REASONS.index("non_finite_trace") + 1
    assert info["reason"].tolist() == [code, 0]
    assert np.isfinite(vem).all()


def test_gains_of_different_shapes_are_an_error():
    chunk = _chunk(np.zeros(768))
    chunk.traces["trace_lg"] = chunk.traces["trace_lg"][:, :, :700]
    with pytest.raises(ValueError, match="low-gain traces"):
        feat.calibrate(chunk, S)
