"""Calibration of ADC traces to VEM and per-station trace features, vectorised over chunks.

Definitions (``shared/docs/physics.md`` section 5, Offline ``SdCalibrator``):

* VEM trace: per working PMT ``(ADC - baseline) / Q_VEM`` (VEM charge per 25 ns bin); the
  low-gain channel times the dynode/anode ratio replaces high-gain bins at or above the ADC
  maximum; the station trace is the mean over working PMTs (the reference study's representation).
* Signal window: first bin above ``threshold_ivem`` (in I_VEM units) to ``tail_bins`` after the
  last one (the pulse tail below threshold still carries charge).
* Total signal S: integral of the VEM trace over the window.
* Trace length: window length in ns.
* Rise time t1/2: 10 % -> 50 % of the integrated signal; fall time: 50 % -> 90 %; crossing times
  are interpolated linearly inside a bin.
* Area over peak: S / peak in I_VEM (a single vertical muon gives about 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from uhecr.io import StationChunk

# Logical primary name for the particle codes found in PDG (Offline) and CORSIKA files.
PRIMARY_CODES = {
    2212: "proton",
    14: "proton",
    1000020040: "helium",
    402: "helium",
    1000080160: "oxygen",
    1608: "oxygen",
    1000260560: "iron",
    5626: "iron",
}

QUARANTINE_REASONS = (
    "no_working_pmt",
    "non_finite_calibration",
    "non_positive_calibration",
    "non_finite_trace",
    "zero_signal",
)


@dataclass(frozen=True)
class FeatureSettings:
    bin_ns: float = 25.0
    adc_max: int = 1023
    # 0.1 I_VEM: at 0.2 the window missed the isolated late EM particles of small signals
    # (2-10 VEM read 2.4 % low); the trace noise is 0.01 I_VEM, so 0.1 opens no window on noise.
    threshold_ivem: float = 0.1
    # Bins kept after the last one above threshold: the 65 ns pulse tail (8 bins = 3 tau).
    tail_bins: int = 8
    baseline: str = "calibration"  # or "pretrigger"
    pretrigger_bins: int = 200


def _high_gain_sum_is_finite(dtype, w, offset) -> np.ndarray:
    """Per station: can the weighted high-gain sum minus the offset not overflow float32,
    whatever the integer ADC samples? A bound from the dtype's largest magnitude."""
    big = 1.0 if dtype.kind == "b" else float(max(-np.iinfo(dtype).min, np.iinfo(dtype).max))
    with np.errstate(over="ignore", invalid="ignore"):
        bound = (np.abs(w.astype(float)) * big).sum(axis=1) + np.abs(offset.astype(float))
    return np.isfinite(bound) & (bound < 1e37)


def calibrate(chunk: StationChunk, s: FeatureSettings):
    """Mean VEM trace over working PMTs plus per-station quality information.

    Returns ``(vem_trace, info)`` where ``vem_trace`` is (n_stations, n_bins) float32 and
    ``info`` holds n_good_pmts, charge/peak ratio, saturation flags and a quarantine reason code
    (index into ``QUARANTINE_REASONS`` + 1; 0 means good).

    One weighted sum over the PMTs (``einsum``; for integer ADC samples without an (n, 3,
    n_bins) float temporary), the saturated bins summed again with the low gain. Non-finite
    checks of the traces run on floating-point inputs; integer samples are finite, and their
    sum is checked only where the constants could make it overflow.
    """
    hg_raw, lg_raw = chunk.traces["trace_hg"], chunk.traces["trace_lg"]
    if hg_raw.shape != lg_raw.shape:
        raise ValueError(
            f"high-gain traces {hg_raw.shape} and low-gain traces {lg_raw.shape} differ in shape"
        )
    p = chunk.pmt
    if s.baseline == "pretrigger":
        base_hg = np.median(hg_raw[:, :, : s.pretrigger_bins], axis=2).astype(np.float32)
        base_lg = np.median(lg_raw[:, :, : s.pretrigger_bins], axis=2).astype(np.float32)
    elif s.baseline == "calibration":
        base_hg = np.asarray(p["baseline_hg"], dtype=np.float32)
        base_lg = np.asarray(p["baseline_lg"], dtype=np.float32)
    else:
        raise ValueError(
            f"features.baseline must be 'calibration' or 'pretrigger', got {s.baseline!r}"
        )
    charge = p["vem_charge"].astype(np.float32)
    peak = p["vem_peak"].astype(np.float32)
    ratio = p["da_ratio"].astype(np.float32)

    flagged_ok = p["pmt_ok"].astype(bool)
    cal = np.stack([base_hg, base_lg, charge, peak, ratio])
    finite_cal = np.isfinite(cal).all(axis=0)
    with np.errstate(divide="ignore", over="ignore"):  # 1 / a denormal charge is inf
        inverse_charge = 1.0 / charge
    finite_cal &= ~((charge > 0) & ~np.isfinite(inverse_charge))
    positive_cal = (charge > 0) & (peak > 0) & (ratio > 0)
    good = flagged_ok & finite_cal & positive_cal
    n_good = good.sum(axis=1)

    # A non-finite raw sample (NaN, +-inf) of a working PMT is bad data, checked before the
    # saturation switch: +inf would otherwise pass as a saturated high-gain bin.
    float_input = hg_raw.dtype.kind == "f" or lg_raw.dtype.kind == "f"
    if float_input:
        finite_trace = np.isfinite(hg_raw).all(axis=2) & np.isfinite(lg_raw).all(axis=2)
    else:
        finite_trace = np.ones(good.shape, dtype=bool)
    # Saturated bins are few: find the saturated PMTs from their maxima (one pass), then the bins.
    sat_pmt = (hg_raw.max(axis=2) >= s.adc_max) & good
    # Per-PMT weight of the station mean: 1 / (Q_VEM * working PMTs), 0 for a PMT not used.
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        weight = np.where(good, inverse_charge, 0.0) / np.maximum(n_good, 1)[:, None]
        charge_over_peak = np.where(good, charge / peak, 0.0).sum(axis=1) / np.maximum(n_good, 1)
    # sum_j w_j (hg_j - b_j) = sum_j w_j hg_j - sum_j w_j b_j: one weighted sum and one offset.
    w = weight.astype(np.float32)
    with np.errstate(over="ignore", invalid="ignore"):  # absurd constants: quarantined below
        offset = (w * np.where(good, base_hg, 0.0)).sum(axis=1, dtype=np.float32)
    # A bad PMT's non-finite samples must not reach the sum (0 x inf is NaN): float input only.
    hg_used = np.where(good[:, :, None], hg_raw, 0) if float_input else hg_raw
    vem = np.einsum("ijk,ij->ik", hg_used, w, dtype=np.float32, casting="unsafe")
    # Checked on every PMT: a real file's low gain may clip where its high gain does not.
    lg_sat = (lg_raw.max(axis=2) >= s.adc_max) & good
    low_unsure = np.zeros(0, dtype=np.intp)  # stations whose low-gain terms are huge
    if sat_pmt.any():
        # Each saturated (station, bin) is summed again over its PMTs, the low gain (in
        # high-gain ADC units, plus the high-gain baseline the offset removes) in place of
        # every saturated high-gain sample, in the dense sum's order: bit-identical to it.
        n_pmt, n_bins = hg_raw.shape[1], hg_raw.shape[2]
        stations = np.flatnonzero(sat_pmt.any(axis=1))
        high_s = hg_used.take(stations, axis=0)
        saturated_s = (high_s >= s.adc_max) & sat_pmt[stations][:, :, None]
        k = np.flatnonzero(saturated_s.any(axis=1))  # one entry per (station, bin)
        row, b = k // n_bins, k % n_bins
        saturated = saturated_s[row, :, b]
        high = high_s[row, :, b].astype(np.float32)
        station = stations[row]
        # One gather of the per-PMT constants (base_lg, ratio, base_hg, weight) per entry.
        const = np.stack([base_lg, ratio, base_hg, w], axis=-1)[station]
        # Overflows (absurd constants, unused terms of bad PMTs) are quarantined below.
        with np.errstate(invalid="ignore", over="ignore"):
            low_adc = lg_raw[station, :, b].astype(np.float32) - const[..., 0]
            low = low_adc * const[..., 1] + const[..., 2]
            terms = np.where(saturated, low, high) * const[..., 3]
        total = terms[:, 0].copy()
        for pmt in range(1, n_pmt):
            total += terms[:, pmt]
        vem[station, b] = total
        # The low-gain terms are not covered by the high-gain bound below.
        low_unsure = station[~(np.abs(total) < 1e37)]
    with np.errstate(over="ignore", invalid="ignore"):
        vem -= offset[:, None]
    finite_vem = np.ones(len(vem), bool)
    if float_input:
        finite_vem = np.isfinite(vem).all(axis=1)
    else:  # integer samples are finite, but absurd constants can overflow the float32 sum
        unsure = ~_high_gain_sum_is_finite(hg_raw.dtype, w, offset)
        unsure[low_unsure] = True
        finite_vem[unsure] = np.isfinite(vem[unsure]).all(axis=1)

    # First applicable reason wins; codes index QUARANTINE_REASONS (+1, 0 = good).
    checks = [
        ~flagged_ok.any(axis=1),
        (flagged_ok & ~finite_cal).any(axis=1),
        (flagged_ok & finite_cal & ~positive_cal).any(axis=1),
        (flagged_ok & ~finite_trace).any(axis=1) | ~finite_vem,
    ]
    reason = np.zeros(len(n_good), dtype=np.int8)
    for code, bad in enumerate(checks, start=1):
        reason[(reason == 0) & bad] = code
    if not finite_vem.all():
        vem[~finite_vem] = 0.0
    info = {
        "n_good_pmts": n_good.astype(np.int8),
        "charge_over_peak": charge_over_peak.astype(np.float32),
        "high_gain_saturated": sat_pmt.any(axis=1),
        "saturated": lg_sat.any(axis=1),
        "reason": reason,
    }
    return vem, info


def _crossing_bins(frac: np.ndarray, level: float) -> np.ndarray:
    """Fractional bin position where the normalised cumulative trace first reaches ``level``.

    ``frac[:, i]`` is the integral up to the end of bin i; the result is in units of bins from
    the start of the trace (the end of bin i is position i + 1).
    """
    idx = np.argmax(frac >= level, axis=1)
    rows = np.arange(len(frac))
    hi = frac[rows, idx]
    lo = np.where(idx > 0, frac[rows, np.maximum(idx - 1, 0)], 0.0)
    step = np.where(hi > lo, hi - lo, 1.0)
    return idx + np.clip((level - lo) / step, 0.0, 1.0)


def trace_features(vem: np.ndarray, charge_over_peak: np.ndarray, s: FeatureSettings) -> dict:
    """Features of (n, n_bins) VEM traces; no Python loop over stations."""
    n, n_bins = vem.shape
    threshold = s.threshold_ivem / np.where(charge_over_peak > 0, charge_over_peak, np.inf)
    above = vem > threshold[:, None]
    has_signal = above.any(axis=1)
    start = np.argmax(above, axis=1)
    end = np.minimum(n_bins - 1 - np.argmax(above[:, ::-1], axis=1) + s.tail_bins, n_bins - 1)
    bins = np.arange(n_bins)
    in_window = (bins[None, :] >= start[:, None]) & (bins[None, :] <= end[:, None])
    windowed = np.where(in_window, vem, 0.0).astype(np.float64)
    cum = np.cumsum(windowed, axis=1)
    total = cum[:, -1]
    positive = has_signal & (total > 0)
    frac = cum / np.where(positive, total, 1.0)[:, None]
    t10, t50, t90 = (_crossing_bins(frac, q) * s.bin_ns for q in (0.1, 0.5, 0.9))
    peak = windowed.max(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        aop = total / (peak * charge_over_peak)
    return {
        "total_signal_vem": total,
        "trace_length_ns": (end - start + 1) * s.bin_ns,
        "rise_time_ns": t50 - t10,
        "fall_time_ns": t90 - t50,
        "area_over_peak": aop,
        "peak_ivem": peak * charge_over_peak,
        "signal_start_bin": start,
        "has_signal": positive,
    }


# --------------------------------------------------------------------------- shower level
# Station feature columns the shower-level features need (config models.features).
SHOWER_INPUTS = ("lg_energy", "zenith_deg", "core_distance_m", "lg_total_signal", "rise_time_ns")
SHOWER_FEATURES = (
    "n_stations",
    "lg_energy",
    "sec_zenith",
    "lg_s1000",
    "lg_s1000_minus_lg_energy",
    "ldf_slope",
    "rise_time_1000m_ns",
    "rise_time_slope_ns_per_km",
    "lg_signal_max",
    "core_distance_min_km",
    "core_distance_max_km",
    "area_over_peak_mean",
    "trace_length_mean_ns",
)


def _grouped_line(x: np.ndarray, y: np.ndarray, codes: np.ndarray, n: int):
    """Per group least-squares line y = a + b x: (a, b); NaN where a group has fewer than two
    distinct x (XGBoost treats NaN as missing)."""
    count = np.bincount(codes, minlength=n).astype(float)
    sx, sy = np.bincount(codes, x, n), np.bincount(codes, y, n)
    sxx, sxy = np.bincount(codes, x * x, n), np.bincount(codes, x * y, n)
    det = count * sxx - sx * sx
    ok = (count >= 2) & (det > 1e-12 * np.maximum(count * sxx, 1e-300))
    with np.errstate(invalid="ignore", divide="ignore"):
        b = np.where(ok, (count * sxy - sx * sy) / det, np.nan)
        a = np.where(ok, (sy - b * sx) / count, np.nan)
    return a, b


def shower_features(X: np.ndarray, columns: list[str], codes: np.ndarray) -> np.ndarray:
    """Engineered shower-level features from the station features of each shower (``codes``:
    shower index 0..n-1 per station). Lateral distribution: lg S = a + b lg(r / 1000 m), so
    ``lg_s1000`` = a (an S(1000) proxy from the stations' total signals) and ``ldf_slope`` = b;
    rise time vs distance: t1/2 = c + d (r / km), ``rise_time_1000m_ns`` = c + d. Lines need two
    stations at different distances, else NaN. Columns: ``SHOWER_FEATURES``."""
    missing = [c for c in SHOWER_INPUTS if c not in columns]
    if missing:
        raise KeyError(
            f"shower-level features need the station feature columns {missing} in config key "
            f"models.features (has {list(columns)})"
        )
    col = {name: X[:, columns.index(name)].astype(np.float64) for name in columns}
    n = int(codes.max()) + 1 if len(codes) else 0
    count = np.bincount(codes, minlength=n).astype(float)

    def mean(v):
        return np.bincount(codes, v, n) / count

    def extreme(v, fn):
        out = np.full(n, -np.inf if fn is np.maximum else np.inf)
        fn.at(out, codes, v)
        return out

    r_km = col["core_distance_m"] / 1000.0
    lg_s = col["lg_total_signal"]
    a, b = _grouped_line(np.log10(np.maximum(r_km, 1e-3)), lg_s, codes, n)
    c, d = _grouped_line(r_km - 1.0, col["rise_time_ns"], codes, n)
    lg_e = mean(col["lg_energy"])
    out = {
        "n_stations": count,
        "lg_energy": lg_e,
        "sec_zenith": 1.0 / np.cos(np.radians(mean(col["zenith_deg"]))),
        "lg_s1000": a,
        "lg_s1000_minus_lg_energy": a - (lg_e - 18.0),
        "ldf_slope": b,
        "rise_time_1000m_ns": c,
        "rise_time_slope_ns_per_km": d,
        "lg_signal_max": extreme(lg_s, np.maximum),
        "core_distance_min_km": extreme(r_km, np.minimum),
        "core_distance_max_km": extreme(r_km, np.maximum),
        "area_over_peak_mean": mean(col["area_over_peak"]) if "area_over_peak" in col else None,
        "trace_length_mean_ns": mean(col["trace_length_ns"]) if "trace_length_ns" in col else None,
    }
    return np.column_stack(
        [out[k] if out[k] is not None else np.full(n, np.nan) for k in SHOWER_FEATURES]
    )
