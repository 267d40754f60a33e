"""Parametrisations of air-shower observables used by the toy simulation.

Every number comes from ``shared/docs/physics.md`` (the parameter sheet); the section of the
sheet is given next to each block so a reader can check it.
"""

from __future__ import annotations

import functools

import numpy as np

PRIMARY_MASS = {"proton": 1, "helium": 4, "oxygen": 16, "iron": 56}
# PDG nucleus codes (10LZZZAAAI), as CORSIKA/Offline write them.
PRIMARY_PDG = {"proton": 2212, "helium": 1000020040, "oxygen": 1000080160, "iron": 1000260560}

HADRONIC_MODELS = ("EPOS-LHC", "QGSJetII-04")

# Sheet section 1: Xmax moments (X0, D, xi, delta, p0, p1, p2, a0, a1, b).
_XMAX_MOMENTS = {
    "EPOS-LHC": (806.1, 55.6, 0.15, 0.83, 3284.0, -260.0, 132.0, -0.462, -0.0008, 0.059),
    "QGSJetII-04": (790.4, 54.4, -0.31, 0.24, 3738.0, -375.0, -21.0, -0.397, 0.0008, 0.046),
}

# Sheet section 1: generalised-Gumbel coefficients (De Domenico et al. 2013).
_GUMBEL = {
    "EPOS-LHC": {
        "mu_a": (775.589, -7.047, -2.427),
        "mu_b": (57.589, -0.743, 0.214),
        "mu_c": (-0.820, -0.169, -0.027),
        "sigma_a": (29.403, 13.553, -3.154),
        "sigma_b": (0.096, -0.961, 0.150),
        "lambda_a": (0.563, 0.711, 0.058),
        "lambda_b": (0.039, 0.067, -0.004),
    },
    "QGSJetII-04": {
        "mu_a": (761.383, -11.719, -1.372),
        "mu_b": (57.344, -1.731, 0.309),
        "mu_c": (-0.355, 0.273, -0.137),
        "sigma_a": (35.221, 12.335, -2.889),
        "sigma_b": (0.307, -1.147, 0.271),
        "lambda_a": (0.673, 0.694, -0.007),
        "lambda_b": (0.060, -0.019, 0.017),
    },
}

SPEED_OF_LIGHT_M_PER_NS = 0.299792458
GROUND_DEPTH_VERTICAL = 875.0  # g cm^-2, sheet section 3
# Sheet section 2: relative muon-number fluctuation (log-normal sigma) per primary.
MUON_FLUCTUATION = {1: 0.16, 4: 0.11, 16: 0.07, 56: 0.05}
MUON_XMAX_CORRELATION = -0.3
# Sheet section 4: muon/EM ratio at 1000 m of vertical proton showers.
R0_PROTON = 0.67
# Sheet section 8 steps 3-4: the muon number grows as A^0.075 (Fe/p = 56^0.075 = 1.35) and the
# EM signal as 0.92^(lnA/ln56) (Fe/p = 0.92), each scaled separately from the proton's split.
MUON_MASS_SLOPE = 0.075
EM_IRON_OVER_PROTON = 0.92

# Sheet section 3: energy calibration E = A * S38^B and CIC polynomial.
ENERGY_CAL_A_EEV = 0.186
ENERGY_CAL_B = 1.031
CIC_COEFFS = (0.98, -1.68, -1.30)
# Sheet section 5: single-muon pulse decay time (ns).
MUON_PULSE_TAU_NS = 65.0
EM_PARTICLE_VEM = 0.15
# Relative spread of one EM particle's deposit (photons convert at random depths) [E, ours].
EM_PARTICLE_SPREAD = 0.5
# Spread of one muon's signal at a fixed track length (photo-electron statistics) [E, sheet step
# 5's "L (1 +- 0.1)"]; the track-length spread of the tank geometry comes on top of it.
MUON_TRACK_SPREAD = 0.1
# Sheet section 3: water-Cherenkov tank, 10 m^2 area and 1.2 m water height.
TANK_AREA_M2 = 10.0
TANK_HEIGHT_M = 1.2


def _check_model(model: str) -> None:
    if model not in HADRONIC_MODELS:
        raise ValueError(f"unknown hadronic model {model!r}; choose one of {HADRONIC_MODELS}")


def xmax_moments(lg_energy, mass, model: str = "EPOS-LHC"):
    """Mean and standard deviation of Xmax (g cm^-2) from the sheet's moment formulae."""
    _check_model(model)
    x0, d, xi, delta, p0, p1, p2, a0, a1, b = _XMAX_MOMENTS[model]
    lg = np.asarray(lg_energy, dtype=float) - 19.0
    ln_a = np.log(np.asarray(mass, dtype=float))
    mean = x0 + d * lg + (xi - d / np.log(10.0) + delta * lg) * ln_a
    var = (p0 + p1 * lg + p2 * lg**2) * (1.0 + (a0 + a1 * lg) * ln_a + b * ln_a**2)
    return mean, np.sqrt(var)


def _poly(coeffs, ln_a):
    return coeffs[0] + coeffs[1] * ln_a + coeffs[2] * ln_a**2


def gumbel_parameters(lg_energy, mass, model: str = "EPOS-LHC"):
    """(mu, sigma, lambda) of the generalised Gumbel Xmax distribution."""
    _check_model(model)
    c = _GUMBEL[model]
    lg = np.asarray(lg_energy, dtype=float) - 19.0
    ln_a = np.log(np.asarray(mass, dtype=float))
    mu = _poly(c["mu_a"], ln_a) + _poly(c["mu_b"], ln_a) * lg + _poly(c["mu_c"], ln_a) * lg**2
    sigma = _poly(c["sigma_a"], ln_a) + _poly(c["sigma_b"], ln_a) * lg
    lam = _poly(c["lambda_a"], ln_a) + _poly(c["lambda_b"], ln_a) * lg
    return mu, sigma, lam


def sample_xmax(rng: np.random.Generator, lg_energy, mass, model: str = "EPOS-LHC"):
    """Draw Xmax: X = mu - sigma * ln G with G ~ Gamma(lambda, 1/lambda) (sheet section 1)."""
    mu, sigma, lam = gumbel_parameters(lg_energy, mass, model)
    g = rng.gamma(shape=lam, scale=1.0 / lam)
    return mu - sigma * np.log(g)


def mean_em_attenuation(lg_energy, mass, ground_depth, min_delta_x, model="EPOS-LHC", k=64):
    """E[exp(-max(DX, min_delta_x)/400)] over the primary's Xmax distribution at this energy and
    ground depth (midpoint quadrature over K quantiles of the Gumbel's gamma variable): dividing
    the EM attenuation by it keeps each primary's mean EM size, deep showers included."""
    from scipy import stats

    mu, sigma, lam = (
        np.asarray(v, dtype=float)[..., None] for v in gumbel_parameters(lg_energy, mass, model)
    )
    q = (np.arange(k) + 0.5) / k
    g = stats.gamma.ppf(q, lam, scale=1.0 / lam)
    dx = np.maximum(
        np.asarray(ground_depth, dtype=float)[..., None] - (mu - sigma * np.log(g)), min_delta_x
    )
    return np.exp(-dx / 400.0).mean(axis=-1)


def cic_factor(zenith_rad):
    """Constant-intensity-cut attenuation f(theta) = S1000/S38."""
    x = np.cos(zenith_rad) ** 2 - np.cos(np.radians(38.0)) ** 2
    a, b, c = CIC_COEFFS
    return 1.0 + a * x + b * x**2 + c * x**3


def s1000_reference(energy_eev, zenith_rad):
    """Reference-composition S1000 (VEM) from the energy calibration and the CIC curve."""
    s38 = (np.asarray(energy_eev) / ENERGY_CAL_A_EEV) ** (1.0 / ENERGY_CAL_B)
    return s38 * cic_factor(zenith_rad)


def ldf_beta(zenith_rad):
    """LDF slope beta(theta) = -2.6 + 0.7 (sec theta - 1), gamma = 0 (sheet section 3)."""
    return -2.6 + 0.7 * (1.0 / np.cos(zenith_rad) - 1.0)


def ldf_shape(r_m, beta):
    """NKG-like LDF normalised to 1 at 1000 m."""
    r = np.asarray(r_m, dtype=float)
    return (r / 1000.0) ** beta * ((r + 700.0) / 1700.0) ** beta


@functools.lru_cache(maxsize=1)
def _track_length_table(n_grid: int = 300):
    """Mean and relative spread of the track length (in units of the tank height) of parallel
    muons crossing the cylindrical tank at zenith 0..90 deg in 1 deg steps: entry points uniform
    over the tank's projected area, on a fixed quadrature grid (deterministic)."""
    radius, height = np.sqrt(TANK_AREA_M2 / np.pi), TANK_HEIGHT_M
    zeniths = np.radians(np.arange(91.0))
    half = 1.5 * max(radius, height)
    a, b = np.meshgrid(*2 * [np.linspace(-half, half, n_grid)], indexing="ij")
    a, b = a.ravel(), b.ravel()
    means, spreads = [], []
    for theta in zeniths:
        st, ct = np.sin(theta), np.cos(theta)
        # Lines p(t) = p0 + t d, d = (st, 0, -ct), p0 on the plane through the tank centre
        # perpendicular to d, spanned by (ct, 0, st) and (0, 1, 0).
        x0, y0, z0 = a * ct, b, height / 2 + a * st
        with np.errstate(divide="ignore", invalid="ignore"):
            tz = np.sort(np.stack([(0 - z0) / -ct, (height - z0) / -ct]), axis=0)
        if ct < 1e-12:
            inside = (z0 >= 0) & (z0 <= height)
            tz = np.where(inside, [[-np.inf], [np.inf]], [[0.0], [0.0]])
        if st > 1e-12:
            bq, cq = 2 * x0 * st, x0**2 + y0**2 - radius**2
            disc = bq**2 - 4 * st**2 * cq
            root = np.sqrt(np.clip(disc, 0, None))
            tr = np.where(disc > 0, [(-bq - root) / (2 * st**2), (-bq + root) / (2 * st**2)], 0.0)
        else:
            inside = x0**2 + y0**2 <= radius**2
            tr = np.where(inside, [[-np.inf], [np.inf]], [[0.0], [0.0]])
        length = np.clip(np.minimum(tz[1], tr[1]) - np.maximum(tz[0], tr[0]), 0, None) / height
        length = length[length > 0]
        means.append(length.mean())
        spreads.append(length.std() / length.mean())
    return np.degrees(zeniths), np.array(means), np.array(spreads)


def muon_track_factor(zenith_rad):
    """Mean muon track length relative to vertical in the 10 m^2 x 1.2 m cylinder (sheet
    section 3 derives 1.00 / 0.93 / 1.15 at 0 / 30 / 60 deg from the same geometry)."""
    deg, mean, _ = _track_length_table()
    return np.interp(np.degrees(zenith_rad), deg, mean)


def muon_track_spread(zenith_rad):
    """Relative spread of single-muon track lengths at this zenith (0 for vertical muons, which
    all cross top to bottom; 0.43 at 38 deg and 0.56 at 60 deg, where corner-clipping and
    side-entering muons give short and long tracks)."""
    deg, _, spread = _track_length_table()
    return np.interp(np.degrees(zenith_rad), deg, spread)


def muon_em_ratio(zenith_rad, delta_x, delta_x_ref):
    """Proton R = S_mu/S_em at 1000 m: R0(p) sec^1.8 theta exp((DX - DX_ref)/1000) (sheet
    section 4); other nuclei scale the muon and EM parts separately (``mass_scaling``)."""
    return R0_PROTON / np.cos(zenith_rad) ** 1.8 * np.exp((delta_x - delta_x_ref) / 1000.0)


def mass_scaling(mass):
    """(muon, EM) size factors of nucleus A relative to a proton at equal energy: A^0.075 and
    0.92^(lnA/ln56) (sheet section 8 steps 3-4)."""
    ln_a = np.log(np.asarray(mass, dtype=float))
    return np.exp(MUON_MASS_SLOPE * ln_a), EM_IRON_OVER_PROTON ** (ln_a / np.log(56.0))


def muon_median_delay_ns(r_m, delta_x):
    """Median muon delay behind the plane front (sheet section 8 step 6)."""
    return 40.0 + 240.0 * (np.asarray(r_m) / 1000.0) ** 1.4 * np.exp(-(delta_x - 300.0) / 500.0)


def lognormal_bin_probabilities(edges_ns, median_ns, sigma_ln):
    """Probability of a log-normal delay to fall in each time bin.

    ``edges_ns``: (n_station, n_bins + 1) bin edges relative to the plane-front arrival;
    ``median_ns``: (n_station,) medians. Negative edges carry zero probability.
    """
    with np.errstate(divide="ignore"):
        z = (np.log(np.clip(edges_ns, 1e-9, None)) - np.log(median_ns)[:, None]) / sigma_ln
    from scipy import special  # lazily: scipy.special costs 0.16 s at each job's start

    cdf = special.ndtr(z)
    cdf[edges_ns <= 0.0] = 0.0
    return np.diff(cdf, axis=1)


def signal_resolution(signal_vem, zenith_rad):
    """Expected Poisson-like signal fluctuation sigma_S = (0.32 + 0.42 sec theta) sqrt(S)."""
    return (0.32 + 0.42 / np.cos(zenith_rad)) * np.sqrt(signal_vem)


def risetime_uncertainty_ns(r_m, signal_vem, zenith_rad):
    """Offline rise-time uncertainty model (sheet section 5)."""
    s = 1.0 / np.cos(zenith_rad)
    r2 = np.asarray(r_m, dtype=float) ** 2
    return (80.0 + (5.071e-7 + 6.48e-4 * s - 3.051e-4 * s**2) * r2) / signal_vem - 16.46 * s + 36.16


def shower_plane_geometry(dx, dy, zenith, azimuth):
    """Shower-plane distance (m) and plane-front time (ns) of stations relative to the core."""
    ux = np.sin(zenith) * np.cos(azimuth)
    uy = np.sin(zenith) * np.sin(azimuth)
    along = dx * ux + dy * uy  # projection on the axis (points back to the source)
    r = np.sqrt(np.maximum(dx**2 + dy**2 - along**2, 0.0))
    return r, -along / SPEED_OF_LIGHT_M_PER_NS


def shower_plane_azimuth(dx, dy, zenith, azimuth):
    """Station azimuth ζ in the shower plane (rad, in (−π, π]), the study's azimuth feature.

    The station's ground offset from the core ``d = (dx, dy, 0)`` is projected onto the plane
    perpendicular to the shower axis, with the in-plane basis

    * ``e1 = (cosθ cosφ, cosθ sinφ, −sinθ)``: towards the arrival azimuth φ (the direction the
      shower comes from), i.e. the upstream side, reached first by the shower front;
    * ``e2 = (−sinφ, cosφ, 0)``: perpendicular to it, horizontal;

    ``ζ = atan2(d·e2, d·e1) = atan2(−dx sinφ + dy cosφ, cosθ (dx cosφ + dy sinφ))``.

    Convention (Auger, ``shared/docs/physics.md`` section 5, asymmetry correction): ζ = 0 for a
    station upstream of the core (the *early* region is |ζ| < 90°), |ζ| = π downstream (late);
    for a vertical shower ζ is the station's ground azimuth relative to φ. A station at the core
    gets ζ = 0. Unlike the shower's φ, ζ differs between the stations of one shower.
    """
    dx = np.asarray(dx, dtype=float)
    dy = np.asarray(dy, dtype=float)
    cos_phi, sin_phi = np.cos(azimuth), np.sin(azimuth)
    zeta = np.arctan2(-dx * sin_phi + dy * cos_phi, np.cos(zenith) * (dx * cos_phi + dy * sin_phi))
    return np.where(zeta <= -np.pi, zeta + 2.0 * np.pi, zeta)
