"""Physics-based toy simulation of air showers seen by an Auger-like surface detector.

Follows the recipe of ``shared/docs/physics.md`` section 8. Deviations (documented in
``docs/simulation.md``): the sub-bin arrival phase and the ~10 ns pulse rise are ignored (the
exponential pulse is integrated per 25 ns bin), particle counts are drawn per time bin (exact for a
Poisson total), no early/late azimuthal asymmetry, stations with an expected signal below
``min_expected_signal_vem`` are not simulated (they cannot pass T2/ToT).

Everything is vectorised over stations of a batch of showers; the random stream is seeded per
(seed, primary, file) so any file can be regenerated alone.

Size: one concern, the toy simulation's chain (showers, stations, traces, triggers); its steps
share the vectorised batch state.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field

import numpy as np
from scipy import signal as sp_signal

from uhecr import physics

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Electronics:
    """Unified-board (UB) electronics (sheet section 5)."""

    n_bins: int = 768
    bin_ns: float = 25.0
    n_pmts: int = 3
    plane_front_bin: int = 250
    adc_max: int = 1023
    baseline_adc: float = 50.0
    baseline_spread_adc: float = 3.0
    vem_peak_adc: float = 50.0
    pmt_gain_spread: float = 0.10
    calibration_error: float = 0.03
    dynode_anode_ratio: float = 32.0
    dynode_anode_spread: float = 1.0
    noise_adc: float = 0.7
    timing_jitter_ns: float = 10.0


@dataclass(frozen=True)
class Triggers:
    """Station (T2 threshold / ToT) and event (compact T3-like) triggers (sheet section 3)."""

    # T2 threshold in I_VEM for 3, 2, 1 working PMTs.
    threshold_ivem: tuple[float, float, float] = (3.2, 3.8, 4.5)
    tot_threshold_ivem: float = 0.2
    tot_min_bins: int = 13
    tot_window_bins: int = 120
    tot_min_pmts: int = 2
    min_stations: int = 3
    # Compact pattern: a triggered station with >= 2 triggered neighbours within this distance.
    compact_radius_m: float = 1.6 * 1500.0


@dataclass(frozen=True)
class SimulationSettings:
    hadronic_model: str = "EPOS-LHC"
    lg_energy_range: tuple[float, float] = (18.5, 20.0)
    max_zenith_deg: float = 60.0
    muon_rescale: float = 1.0
    grid_spacing_m: float = 1500.0
    min_delta_x: float = 50.0
    min_expected_signal_vem: float = 0.5
    max_station_distance_m: float = 8000.0
    bad_pmt_probability: float = 0.01
    showers_per_batch: int = 200
    electronics: Electronics = field(default_factory=Electronics)
    triggers: Triggers = field(default_factory=Triggers)

    @classmethod
    def from_dict(cls, cfg: dict) -> SimulationSettings:
        cfg = dict(cfg)
        elec = Electronics(**cfg.pop("electronics", {}))
        trig_cfg = dict(cfg.pop("triggers", {}))
        if "threshold_ivem" in trig_cfg:
            trig_cfg["threshold_ivem"] = tuple(trig_cfg["threshold_ivem"])
        trig = Triggers(**trig_cfg)
        if "lg_energy_range" in cfg:
            cfg["lg_energy_range"] = tuple(cfg["lg_energy_range"])
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(cfg) - known
        if unknown:
            raise ValueError(f"unknown simulation setting(s): {sorted(unknown)}")
        return cls(electronics=elec, triggers=trig, **cfg)


def rng_for(seed: int, primary: str, file_index: int) -> np.random.Generator:
    """Independent, reproducible stream per (seed, primary, file)."""
    primary_key = list(physics.PRIMARY_MASS).index(primary)
    return np.random.Generator(
        np.random.PCG64(np.random.SeedSequence([seed, primary_key, file_index]))
    )


# --------------------------------------------------------------------------- showers
def sample_showers(
    rng: np.random.Generator,
    primary: str,
    n: int,
    s: SimulationSettings,
    normalise: bool = True,
    lg_energy: float | None = None,
    zenith_deg: float | None = None,
) -> dict:
    """Event-level MC truth for ``n`` showers of one primary.

    ``lg_energy`` / ``zenith_deg`` fix those values (validation runs) instead of sampling them.
    """
    mass = physics.PRIMARY_MASS[primary]
    lo, hi = s.lg_energy_range
    lg_e = rng.uniform(lo, hi, n)
    cos2_min = np.cos(np.radians(s.max_zenith_deg)) ** 2
    zenith = np.arccos(np.sqrt(rng.uniform(cos2_min, 1.0, n)))
    if lg_energy is not None:
        lg_e = np.full(n, float(lg_energy))
    if zenith_deg is not None:
        zenith = np.full(n, np.radians(zenith_deg))
    azimuth = rng.uniform(0.0, 2.0 * np.pi, n)
    # Core uniform in one rhombic cell (two triangles) of the grid.
    u, v = rng.uniform(0.0, 1.0, (2, n))
    core_x = (u + 0.5 * v) * s.grid_spacing_m
    core_y = v * s.grid_spacing_m * np.sqrt(3.0) / 2.0

    ground_depth = physics.GROUND_DEPTH_VERTICAL / np.cos(zenith)
    # Every drawn Xmax is kept (sheet step 2): redrawing showers that reach maximum near or
    # below the ground would cut the deep tail of the proton distribution. The formulas use DX
    # clamped at min_delta_x; the record keeps the true DX (negative below ground).
    xmax = physics.sample_xmax(rng, lg_e, mass, s.hadronic_model)
    delta_x = ground_depth - xmax
    dx = np.maximum(delta_x, s.min_delta_x)

    # Muon fluctuation, log-normal with mean 1, correlated with Xmax.
    mean_x, sigma_x = physics.xmax_moments(lg_e, mass, s.hadronic_model)
    z_x = (xmax - mean_x) / sigma_x
    rho = physics.MUON_XMAX_CORRELATION
    sig_mu = physics.MUON_FLUCTUATION[mass]
    eps = sig_mu * (rho * z_x + np.sqrt(1.0 - rho**2) * rng.standard_normal(n)) - 0.5 * sig_mu**2
    muon_mass, em_mass = physics.mass_scaling(mass)
    muon_scale = muon_mass * np.exp(eps) * s.muon_rescale  # N_rel of sheet step 3

    # Sheet step 4: split the reference size with the proton's muon/EM ratio at the proton's
    # mean depth, then scale muons and EM separately for nucleus A (a fixed total split with
    # R(A) would force S(Fe) = S(p)). The EM part is attenuated as exp(-DX/400) relative to its
    # mean over this primary's Xmax distribution, so the averages keep the Fe/p ratios 1.35
    # (muons) and 0.92 (EM) at every zenith.
    energy_eev = 10.0 ** (lg_e - 18.0)
    s_ref = physics.s1000_reference(energy_eev, zenith)
    dx_ref = _reference_delta_x(lg_e, ground_depth, s.hadronic_model)
    mean_p, _ = physics.xmax_moments(lg_e, 1, s.hadronic_model)
    ratio_p = physics.muon_em_ratio(
        zenith, np.maximum(ground_depth - mean_p, s.min_delta_x), dx_ref
    )
    f_mu_p = ratio_p / (1.0 + ratio_p)
    attenuation = np.exp(-dx / 400.0) / physics.mean_em_attenuation(
        lg_e, mass, ground_depth, s.min_delta_x, s.hadronic_model
    )
    s_mu = s_ref * f_mu_p * muon_scale
    s_em = s_ref * (1.0 - f_mu_p) * em_mass * attenuation
    norm = _size_normalisation(s.hadronic_model) if normalise else 1.0
    return {
        "lg_energy": lg_e,
        "energy_eV": 10.0**lg_e,
        "zenith": zenith,
        "azimuth": azimuth,
        "core_x": core_x,
        "core_y": core_y,
        "xmax": xmax,
        "delta_x": delta_x,
        "muon_scale": muon_scale,
        "s1000_muon": s_mu * norm,
        "s1000_em": s_em * norm,
        "mass": np.full(n, mass, dtype=np.int32),
    }


def _reference_delta_x(lg_e, ground_depth, model):
    """DX of the 50/50 p/Fe reference composition."""
    mean_p, _ = physics.xmax_moments(lg_e, 1, model)
    mean_fe, _ = physics.xmax_moments(lg_e, 56, model)
    return ground_depth - 0.5 * (mean_p + mean_fe)


_NORMALISATION_CACHE: dict[str, float] = {}


def _size_normalisation(model: str) -> float:
    """Global factor so that a 50/50 p/Fe mixture reproduces S_ref on average (sheet step 4)."""
    if model not in _NORMALISATION_CACHE:
        rng = np.random.default_rng(20240611)
        n = 100_000
        base = SimulationSettings(hadronic_model=model)
        ratios = []
        for primary in ("proton", "iron"):
            sh = sample_showers(rng, primary, n, base, normalise=False)
            s_ref = physics.s1000_reference(sh["energy_eV"] / 1e18, sh["zenith"])
            ratios.append((sh["s1000_muon"] + sh["s1000_em"]) / s_ref)
        _NORMALISATION_CACHE[model] = float(1.0 / np.mean(np.concatenate(ratios)))
    return _NORMALISATION_CACHE[model]


# --------------------------------------------------------------------------- geometry
def grid_positions(spacing: float, max_index: int) -> np.ndarray:
    """Triangular-grid station positions (x, y) for indices |i|, |j| <= max_index."""
    idx = np.arange(-max_index, max_index + 1)
    i, j = np.meshgrid(idx, idx, indexing="ij")
    x = (i + 0.5 * j) * spacing
    y = j * spacing * np.sqrt(3.0) / 2.0
    ids = (i + max_index) * (2 * max_index + 1) + (j + max_index)
    return np.stack([x.ravel(), y.ravel()], axis=1), ids.ravel().astype(np.int32)


# --------------------------------------------------------------------------- stations
def candidate_stations(showers: dict, s: SimulationSettings) -> dict:
    """All grid stations of every shower whose expected signal passes the pre-selection."""
    max_index = int(np.ceil(s.max_station_distance_m / s.grid_spacing_m * 1.2)) + 1
    pos, ids = grid_positions(s.grid_spacing_m, max_index)
    n_sh = len(showers["zenith"])
    dx = pos[None, :, 0] - showers["core_x"][:, None]
    dy = pos[None, :, 1] - showers["core_y"][:, None]
    zen = showers["zenith"][:, None]
    r, t_front = physics.shower_plane_geometry(dx, dy, zen, showers["azimuth"][:, None])
    r_eff = np.maximum(r, 30.0)  # LDF diverges at the core; no tank sits inside 30 m of it
    beta = physics.ldf_beta(zen)
    s_mu = showers["s1000_muon"][:, None] * physics.ldf_shape(r_eff, beta + 0.25)
    s_em = showers["s1000_em"][:, None] * physics.ldf_shape(r_eff, beta - 0.25)
    keep = (s_mu + s_em >= s.min_expected_signal_vem) & (
        np.hypot(dx, dy) <= s.max_station_distance_m
    )
    shower_index, station_index = np.nonzero(keep)
    return {
        "shower_index": shower_index,
        "station_id": ids[station_index],
        "x": pos[station_index, 0],
        "y": pos[station_index, 1],
        "r": r[keep],
        "t_front": t_front[keep],
        "expected_muon": s_mu[keep],
        "expected_em": s_em[keep],
        "n_showers": n_sh,
    }


def _component_deposit(rng, n_expected, particle_vem, spread, median_ns, sigma_ln, edges):
    """Charge per bin (VEM) of one component; counts per bin are independent Poisson."""
    prob = physics.lognormal_bin_probabilities(edges, median_ns, sigma_ln)
    mean_counts = (n_expected[:, None] * prob).astype(np.float64)
    counts = rng.poisson(mean_counts)
    charge = counts * particle_vem[:, None]
    spread = np.broadcast_to(np.asarray(spread, dtype=float), particle_vem.shape)
    noise = rng.standard_normal(counts.shape) * np.sqrt(counts) * (spread * particle_vem)[:, None]
    return np.maximum(charge + noise, 0.0), counts.sum(axis=1)


def simulate_station_traces(rng, showers: dict, st: dict, s: SimulationSettings) -> dict:
    """Signals, ADC traces and calibration constants of the candidate stations."""
    e = s.electronics
    n = len(st["r"])
    sh = st["shower_index"]
    zen = showers["zenith"][sh]
    delta_x = np.maximum(showers["delta_x"][sh], s.min_delta_x)  # deep showers: DX clamped
    jitter = rng.normal(0.0, e.timing_jitter_ns, n)
    # Bin edges relative to the plane-front arrival (which sits at plane_front_bin).
    edges = (np.arange(e.n_bins + 1) - e.plane_front_bin)[None, :] * e.bin_ns - jitter[:, None]

    track = physics.muon_track_factor(zen)
    # One muon's signal spreads with its track length through the tank (none for vertical
    # muons, about 50 % at 50 deg) and with photo-electron statistics (10 %).
    muon_spread = np.hypot(physics.muon_track_spread(zen), physics.MUON_TRACK_SPREAD)
    mu_median = physics.muon_median_delay_ns(st["r"], delta_x)
    em_median = 1.6 * mu_median + 30.0
    dep_mu, n_mu = _component_deposit(
        rng, st["expected_muon"] / track, track, muon_spread, mu_median, 0.6, edges
    )
    em_vem = np.full(n, physics.EM_PARTICLE_VEM)
    dep_em, n_em = _component_deposit(
        rng,
        st["expected_em"] / physics.EM_PARTICLE_VEM,
        em_vem,
        physics.EM_PARTICLE_SPREAD,
        em_median,
        0.8,
        edges,
    )
    true_mu = dep_mu.sum(axis=1)
    true_em = dep_em.sum(axis=1)

    # Exponential pulse (tau = 65 ns) integrated per bin: a one-pole IIR filter.
    a = np.exp(-e.bin_ns / physics.MUON_PULSE_TAU_NS)
    vem_per_bin = sp_signal.lfilter([1.0 - a], [1.0, -a], dep_mu + dep_em, axis=1)
    ivem = vem_per_bin / (1.0 - a)  # a vertical muon peaks at 1 I_VEM

    gain = 1.0 + e.pmt_gain_spread * rng.standard_normal((n, e.n_pmts))
    gain = np.clip(gain, 0.5, 1.5)
    peak_adc = e.vem_peak_adc * gain  # true ADC per I_VEM of each PMT (high gain)
    baseline_hg = e.baseline_adc + e.baseline_spread_adc * rng.standard_normal((n, e.n_pmts))
    baseline_lg = e.baseline_adc + e.baseline_spread_adc * rng.standard_normal((n, e.n_pmts))
    da_ratio = e.dynode_anode_ratio + e.dynode_anode_spread * rng.standard_normal((n, e.n_pmts))
    pmt_ok = rng.random((n, e.n_pmts)) >= s.bad_pmt_probability

    signal_adc = ivem[:, None, :] * peak_adc[:, :, None]
    signal_adc *= pmt_ok[:, :, None]  # a dead PMT records only baseline and noise
    hg = baseline_hg[:, :, None] + signal_adc + e.noise_adc * rng.standard_normal(signal_adc.shape)
    lg = baseline_lg[:, :, None] + signal_adc / da_ratio[:, :, None]
    lg += e.noise_adc * rng.standard_normal(signal_adc.shape)
    hg = np.clip(np.rint(hg), 0, e.adc_max).astype(np.int16)
    lg = np.clip(np.rint(lg), 0, e.adc_max).astype(np.int16)
    saturated = (lg >= e.adc_max).any(axis=(1, 2))

    # Calibration constants as the station would measure them (with a small error).
    cal_err = 1.0 + e.calibration_error * rng.standard_normal((n, e.n_pmts))
    vem_peak_cal = peak_adc * cal_err
    vem_charge_cal = vem_peak_cal / (1.0 - a)  # area/peak of one muon = 1/(1-a) bins
    pretrigger = max(e.plane_front_bin - 50, 1)  # no particle arrives before the plane front
    t2, tot = station_triggers(hg, vem_peak_cal, pmt_ok, s.triggers, pretrigger)
    return {
        "t2": t2,
        "tot": tot,
        "saturated": saturated,
        "trace_hg": hg,
        "trace_lg": lg,
        "baseline_hg": baseline_hg.astype(np.float32),
        "baseline_lg": baseline_lg.astype(np.float32),
        "vem_peak": vem_peak_cal.astype(np.float32),
        "vem_charge": vem_charge_cal.astype(np.float32),
        "da_ratio": da_ratio.astype(np.float32),
        "pmt_ok": pmt_ok,
        "mc_signal_muon": true_mu.astype(np.float32),
        "mc_signal_em": true_em.astype(np.float32),
        "mc_n_muons": n_mu.astype(np.int32),
        "mc_n_em": n_em.astype(np.int32),
        "time_ns": (st["t_front"] + jitter).astype(np.float64),
    }


def station_triggers(
    trace_hg: np.ndarray,
    vem_peak_adc: np.ndarray,
    pmt_ok: np.ndarray,
    trig: Triggers,
    pretrigger_bins: int,
):
    """T2 threshold and time-over-threshold triggers on the digitised high-gain traces, as the
    station electronics form them: per PMT, ADC above the baseline (median of the bins before
    the signal can arrive) in units of the station's own I_VEM calibration.

    * T2 threshold: one bin above ``threshold_ivem`` in every working PMT at the same time
      (3.2 / 3.8 / 4.5 I_VEM for 3 / 2 / 1 working PMTs).
    * ToT: at least ``tot_min_bins`` bins inside a ``tot_window_bins`` window in which
      ``tot_min_pmts`` working PMTs (all of them if fewer work) are above ``tot_threshold_ivem``
      in the same bin.
    """
    hg = trace_hg.astype(np.float32)
    baseline = np.median(hg[:, :, :pretrigger_bins], axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        ivem_pmt = (hg - baseline[:, :, None]) / vem_peak_adc[:, :, None].astype(np.float32)
    n_ok = pmt_ok.sum(axis=1)
    thresholds = np.array([np.inf, *trig.threshold_ivem[::-1]])  # index by working-PMT count
    thr = thresholds[np.minimum(n_ok, 3)]
    above = (ivem_pmt > thr[:, None, None]) | ~pmt_ok[:, :, None]
    t2 = above.all(axis=1).any(axis=1) & (n_ok > 0)

    pmts_over = ((ivem_pmt > trig.tot_threshold_ivem) & pmt_ok[:, :, None]).sum(axis=1)
    needed = np.minimum(trig.tot_min_pmts, np.maximum(n_ok, 1))
    over = (pmts_over >= needed[:, None]).astype(np.int32)
    csum = np.concatenate([np.zeros((len(over), 1), np.int32), np.cumsum(over, axis=1)], axis=1)
    w = trig.tot_window_bins
    windowed = csum[:, w:] - csum[:, :-w]
    tot = (windowed >= trig.tot_min_bins).any(axis=1) & (n_ok > 0)
    return t2, tot


def event_trigger(shower_index, x, y, triggered, n_showers, trig: Triggers) -> np.ndarray:
    """Compact-pattern event trigger: >= min_stations triggered stations, one of which has
    at least two triggered neighbours within ``compact_radius_m``."""
    passed = np.zeros(n_showers, dtype=bool)
    order = np.argsort(shower_index, kind="stable")
    bounds = np.searchsorted(shower_index[order], np.arange(n_showers + 1))
    for k in range(n_showers):  # one loop per shower, vectorised inside
        idx = order[bounds[k] : bounds[k + 1]]
        idx = idx[triggered[idx]]
        if len(idx) < trig.min_stations:
            continue
        d = np.hypot(x[idx, None] - x[None, idx], y[idx, None] - y[None, idx])
        neighbours = (d <= trig.compact_radius_m).sum(axis=1) - 1
        passed[k] = bool((neighbours >= 2).any())
    return passed


# --------------------------------------------------------------------------- driver
def simulate_batch(rng, primary: str, n_showers: int, s: SimulationSettings, **fixed):
    """Simulate ``n_showers`` showers; return (showers, stations) of triggered events only.

    ``fixed`` is passed to :func:`sample_showers` (fixed energy or zenith for validation).
    """
    showers = sample_showers(rng, primary, n_showers, s, **fixed)
    cand = candidate_stations(showers, s)
    traces = simulate_station_traces(rng, showers, cand, s)
    triggered = traces["t2"] | traces["tot"]
    ev_ok = event_trigger(
        cand["shower_index"], cand["x"], cand["y"], triggered, n_showers, s.triggers
    )
    keep = triggered & ev_ok[cand["shower_index"]]
    stations = {k: v[keep] for k, v in {**cand, **traces}.items() if isinstance(v, np.ndarray)}
    showers = {k: v[ev_ok] for k, v in showers.items()}
    # Re-index stations onto the kept showers.
    new_index = np.cumsum(ev_ok) - 1
    stations["shower_index"] = new_index[stations["shower_index"]]
    return showers, stations, int(n_showers)


def first_event_id(primary: str, file_index: int) -> int:
    """Event ids of simulated files never collide: 10^7 ids per (primary, file index)."""
    if not 0 <= file_index < 1000:
        raise ValueError(f"file index {file_index} outside 0-999")
    primary_key = list(physics.PRIMARY_MASS).index(primary)
    return (primary_key * 1000 + int(file_index)) * 10_000_000


def stations_per_file(stations_per_primary: int, files_per_primary: int) -> int:
    """Triggered stations to simulate per file so the primary's files reach its total."""
    return -(-int(stations_per_primary) // int(files_per_primary))


def simulate_primary_file(
    primary: str,
    n_stations: int,
    seed: int,
    file_index: int,
    s: SimulationSettings,
    first_event_id: int = 0,
):
    """Simulate triggered events until at least ``n_stations`` triggered stations exist.

    Yields per-batch (showers, stations) dictionaries so the writer can stream them.
    """
    if primary not in physics.PRIMARY_MASS:
        raise ValueError(f"unknown primary {primary!r}; choose from {list(physics.PRIMARY_MASS)}")
    rng = rng_for(seed, primary, file_index)
    total_stations = 0
    next_id = first_event_id
    thrown = 0
    while total_stations < n_stations:
        showers, stations, n_thrown = simulate_batch(rng, primary, s.showers_per_batch, s)
        thrown += n_thrown
        n_ev = len(showers["zenith"])
        showers["event_id"] = np.arange(next_id, next_id + n_ev, dtype=np.int64)
        showers["n_thrown_before"] = np.full(n_ev, thrown, dtype=np.int64)
        next_id += n_ev
        total_stations += len(stations["r"])
        log.debug("%s file %d: %d/%d stations", primary, file_index, total_stations, n_stations)
        yield showers, stations
