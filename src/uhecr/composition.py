"""Mass composition of a sample of showers from a classifier's output: a binned
maximum-likelihood template fit of the four primary fractions per energy bin, validated by
pseudo-experiments of known composition.

* Observable per shower: the classifier's ln A estimate ``x = sum_c P_c ln A_c`` with
  ``P_c`` proportional to the geometric mean of the shower's station probabilities (each
  station counts once, whatever the number of stations, so stations of one shower do not
  multiply into an overconfident posterior).
* The held-out (test) showers are split in two by a seeded hash of the shower id: the
  **template** half plays the labelled simulation, the **pool** half the data to be analysed.
  Neither half was used to train or select the model, so the templates carry no fit bias.
* Fit: ``iminuit.cost.Template`` (Barlow-Beeston-lite "da" method: the templates' finite
  statistics enter the likelihood) of the pool histogram in each lg E bin, yields >= 0,
  MIGRAD + HESSE; fractions ``f_c = y_c / sum y`` and ``<ln A> = sum f_c ln A_c`` with their
  errors propagated from the yields' covariance.
* Pseudo-experiments: each re-splits the held-out showers into templates and pool; for a
  mixture ``f``, ``N`` showers per energy bin with class counts ``Multinomial(N, f)``, drawn
  without replacement from the pool showers of that class and energy bin (resampling unit:
  the shower; the experiments share the parent test set, so their spread is a lower bound
  on that of independent simulations). Bias = mean(estimate - truth); coverage = share of
  experiments whose +-1 sigma HESSE interval contains the truth (68.3 % expected; fractions at
  the 0 boundary cover worse, as HESSE intervals there are symmetric).
* Reference: ``<ln A>`` from the true Xmax of the same showers (the fluorescence method):
  ``ln A_i = (Xmax_i - <Xmax>_p(E_i)) / (d<Xmax>/dlnA)(E_i)`` with the sheet's moment
  parametrisation, averaged; it bounds what the surface detector can give.

Size: one concern, the template fit and the pseudo-experiments that validate it (they share the
binning, the templates and the fit).
"""

from __future__ import annotations

import logging
import zlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from uhecr import physics
from uhecr.showers import CLASSES, ShowerScores, shower_log_scores

log = logging.getLogger(__name__)

LN_A = np.log([physics.PRIMARY_MASS[c] for c in CLASSES])
# A fraction known no better than this (its error; a fraction's SD is at most 0.5) means the
# fit cannot tell the classes apart in that bin: the numbers are kept, and flagged.
UNCONSTRAINED_ERROR = 0.25
# Pseudo-samples behind the errors of a fit of new data (fit_sample): HESSE's curvature errors
# fail with tens of showers (a fraction fitted at 0 or 1 gets +-0.002 from 50 showers; tests
# /test_composition.py measures the coverage).
SAMPLE_TOYS = 200


@dataclass(frozen=True)
class CompositionSettings:
    lg_energy_bins: tuple[float, ...] = (18.5, 19.0, 19.5, 20.0)
    n_bins: int = 6
    showers_per_experiment: int = 30
    pseudo_experiments: int = 200
    template_fraction: float = 0.5
    hadronic_model: str = "EPOS-LHC"
    mixtures: dict = field(
        default_factory=lambda: {
            "pure_proton": {"proton": 1.0},
            "pure_iron": {"iron": 1.0},
            "proton_iron_50_50": {"proton": 0.5, "iron": 0.5},
            "mixed": {"proton": 0.4, "helium": 0.2, "oxygen": 0.2, "iron": 0.2},
        }
    )

    @classmethod
    def from_config(cls, cfg: dict, hadronic_model: str = "EPOS-LHC") -> CompositionSettings:
        cfg = dict(cfg)
        cfg["lg_energy_bins"] = tuple(cfg["lg_energy_bins"])
        return cls(hadronic_model=hadronic_model, **cfg)


def mixture_vector(mixture: dict, key: str = "composition.mixtures") -> np.ndarray:
    """Fractions in CLASSES order; they must be known primaries and sum to 1."""
    unknown = set(mixture) - set(CLASSES)
    if unknown:
        raise ValueError(f"{key}: unknown primaries {sorted(unknown)}; use {list(CLASSES)}")
    f = np.array([float(mixture.get(c, 0.0)) for c in CLASSES])
    if (f < 0).any() or not np.isclose(f.sum(), 1.0, atol=1e-6):
        raise ValueError(f"{key}: fractions {mixture} must be >= 0 and sum to 1")
    return f / f.sum()  # exactly 1 for the multinomial draws


def shower_observables(
    predictions: pd.DataFrame,
    xmax: pd.Series | None = None,
    scores: ShowerScores | None = None,
) -> pd.DataFrame:
    """One row per shower: label, lg E, number of stations, the normalised geometric mean of
    its stations' class probabilities (``p_<class>``: its argmax is the product rule's), the
    classifier's ln A estimate and (if ``xmax``, indexed by shower id, is given) the true Xmax.
    ``scores``: ``shower_log_scores(predictions)`` if the caller has it already."""
    if scores is None:
        scores = shower_log_scores(predictions)
    mean_logp = scores.score / scores.n_stations[:, None]
    post = np.exp(mean_logp - mean_logp.max(axis=1, keepdims=True))
    post /= post.sum(axis=1, keepdims=True)
    out = pd.DataFrame(
        {
            "shower_id": scores.showers,
            "label": scores.label,
            "lg_energy": scores.first(predictions, "lg_energy"),
            "n_stations": scores.n_stations,
            "ln_a_score": post @ LN_A,
            **{f"p_{c}": post[:, k] for k, c in enumerate(CLASSES)},
        }
    )
    if xmax is not None:
        out["xmax"] = out["shower_id"].map(xmax).to_numpy(dtype=float)
    return out


def split_halves(groups: np.ndarray, template_fraction: float, rng) -> np.ndarray:
    """True for template showers: in every group (energy bin x class) a random
    ``round(n * template_fraction)`` of its showers, so each group's pool size is fixed."""
    is_template = np.zeros(len(groups), dtype=bool)
    for g in np.unique(groups):
        members = rng.permutation(np.flatnonzero(groups == g))
        is_template[members[: int(round(len(members) * template_fraction))]] = True
    return is_template


def observable_edges(x: np.ndarray, n_bins: int) -> np.ndarray:
    """Quantile edges of the template showers' observable (every bin populated), open ends."""
    inner = np.unique(np.quantile(x, np.linspace(0, 1, n_bins + 1)[1:-1]))
    return np.concatenate([[-np.inf], inner, [np.inf]])


def histogram_bins(n_bins: int, smallest_template: int) -> int:
    """At least 5 template showers per class and histogram bin on average: more bins than the
    templates can fill give meaningless fits (every fit still "valid")."""
    return int(min(n_bins, max(2, smallest_template // 5)))


def fit_sample(
    templates: pd.DataFrame,
    sample: pd.DataFrame,
    s: CompositionSettings,
    seed: int = 0,
    n_toys: int = SAMPLE_TOYS,
) -> pd.DataFrame:
    """Fractions and <ln A> of a sample of showers (new data, labelled or not) per lg E bin.

    ``templates``: shower observables of labelled showers the model was not trained or
    selected on (the test showers), all of them; ``sample``: the showers to analyse. A bin is
    fitted when the sample has a shower in it and every class has >= 2 template showers there;
    otherwise its row says why. Errors: the larger of HESSE's and the SD over refits of
    pseudo-samples of the bin's size drawn from the fitted mixture (toy_errors, seeded by
    ``seed`` and the bin; ``toys``: how many converged); ``ln_a_hesse_error``: HESSE's alone.
    Where the sample is labelled (``label`` >= 0 everywhere) its true fractions are given too,
    for checks on simulated data."""
    edges_e = np.asarray(s.lg_energy_bins)
    t_bin = np.digitize(templates["lg_energy"].to_numpy(), edges_e) - 1
    d_bin = np.digitize(sample["lg_energy"].to_numpy(), edges_e) - 1
    t_x, d_x = templates["ln_a_score"].to_numpy(), sample["ln_a_score"].to_numpy()
    t_labels = templates["label"].to_numpy()
    labelled = bool(len(sample)) and (sample["label"].to_numpy() >= 0).all()
    outside = int(((d_bin < 0) | (d_bin >= len(edges_e) - 1)).sum())
    if outside:
        log.warning("%d showers outside composition.lg_energy_bins: not fitted", outside)
    rows = []
    for b in range(len(edges_e) - 1):
        n_class = np.bincount(t_labels[t_bin == b], minlength=len(CLASSES))
        x = d_x[d_bin == b]
        row = {
            "lg_energy_bin": b,
            "lg_energy_min": float(edges_e[b]),
            "lg_energy_max": float(edges_e[b + 1]),
            "showers": int(len(x)),
            "template_showers": int(n_class.sum()),
        }
        if len(x) == 0 or n_class.min() < 2:
            row["status"] = (
                "no shower of the sample in this bin"
                if len(x) == 0
                else f"too few template showers per class {n_class.tolist()} (need 2)"
            )
            rows.append(row)
            continue
        n_bins = histogram_bins(s.n_bins, int(n_class.min()))
        edges = observable_edges(t_x[t_bin == b], n_bins)
        tmpl = np.array(
            [
                np.histogram(t_x[(t_bin == b) & (t_labels == c)], edges)[0]
                for c in range(len(CLASSES))
            ],
            dtype=float,
        )
        fit = fit_fractions(np.histogram(x, edges)[0], edges, tmpl)
        toys = toy_errors(fit, tmpl, edges, len(x), np.random.default_rng([seed, b]), n_toys)
        fraction_errors = np.fmax(fit["fraction_errors"], toys["fraction_errors"])
        status = "fitted" if fit["valid"] else "fit did not converge"
        if fit["valid"] and toys["n_valid"] < 2:  # only HESSE's errors, too small here
            status = (
                f"fitted: errors unreliable ({toys['n_valid']} of {n_toys} pseudo-samples "
                "converged; HESSE's alone)"
            )
        elif fit["valid"] and fraction_errors.max() > UNCONSTRAINED_ERROR:
            status = f"fitted: fractions unconstrained (an error > {UNCONSTRAINED_ERROR})"
        row.update(
            status=status,
            n_bins=n_bins,
            ln_a=fit["ln_a"],
            # fmax: a NaN of either (HESSE failed, or too few pseudo-samples) yields the other
            ln_a_error=float(np.fmax(fit["ln_a_error"], toys["ln_a_error"])),
            ln_a_hesse_error=fit["ln_a_error"],
            toys=toys["n_valid"],
        )
        for c, cls in enumerate(CLASSES):
            row[f"f_{cls}"] = fit["fractions"][c]
            row[f"f_{cls}_error"] = fraction_errors[c]
        if labelled:
            truth = np.bincount(sample["label"].to_numpy()[d_bin == b], minlength=len(CLASSES))
            truth = truth / truth.sum()
            row["ln_a_true"] = float(truth @ LN_A)
            for c, cls in enumerate(CLASSES):
                row[f"f_{cls}_true"] = float(truth[c])
        rows.append(row)
    return pd.DataFrame(rows)


def toy_errors(fit: dict, templates: np.ndarray, edges, n_showers: int, rng, n_toys=SAMPLE_TOYS):
    """SDs of the fractions and <ln A> over refits of pseudo-samples of ``n_showers`` showers
    drawn from the fitted mixture (plus one shower of every class), each with its templates
    fluctuated (Poisson): the spread the
    fit really has at this sample size, where HESSE's curvature fails (few showers, fractions
    at 0 or 1). ``n_valid``: the refits that converged (the SDs are over those)."""
    shapes = templates / templates.sum(axis=1, keepdims=True)
    # One expected shower added per class: a fit at 0 cannot tell no shower of a class from
    # one, and toys without the class would call the boundary certain (an SD of ~0.01).
    mixture = np.clip(fit["fractions"], 0, None) * n_showers + 1.0
    expected = (mixture / mixture.sum()) @ shapes
    fractions, ln_a = [], []
    for _ in range(n_toys):
        toy = fit_fractions(
            rng.multinomial(n_showers, expected / expected.sum()), edges, rng.poisson(templates)
        )
        if toy["valid"]:
            fractions.append(toy["fractions"])
            ln_a.append(toy["ln_a"])
    if len(ln_a) < 2:
        return {
            "fraction_errors": np.full(len(CLASSES), np.nan),
            "ln_a_error": np.nan,
            "n_valid": len(ln_a),
        }
    return {
        "fraction_errors": np.std(fractions, axis=0, ddof=1),
        "ln_a_error": float(np.std(ln_a, ddof=1)),
        "n_valid": len(ln_a),
    }


def fit_fractions(counts: np.ndarray, edges: np.ndarray, templates: np.ndarray) -> dict:
    """Binned ML template fit (iminuit, Barlow-Beeston-lite "da"): yields, fractions, <ln A>
    and their HESSE errors. ``templates``: (n_classes, n_bins) template counts."""
    from iminuit import Minuit
    from iminuit.cost import Template

    n_total = float(counts.sum())
    cost = Template(counts, edges, list(templates), name=list(CLASSES), method="da")
    start = np.full(len(CLASSES), max(n_total, 1.0) / len(CLASSES))
    m = Minuit(cost, *start)
    for name in CLASSES:
        m.limits[name] = (0.0, None)
    m.migrad()
    m.hesse()
    y = np.array(m.values)
    cov = np.array(m.covariance) if m.covariance is not None else np.full((4, 4), np.nan)
    total = y.sum()
    # d f_i / d y_j = (delta_ij - f_i) / total
    frac = y / total
    jac = (np.eye(len(y)) - frac[:, None]) / total
    cov_f = jac @ cov @ jac.T
    grad_ln_a = jac.T @ LN_A
    return {
        "fractions": frac,
        "fraction_errors": np.sqrt(np.clip(np.diag(cov_f), 0, None)),
        "ln_a": float(frac @ LN_A),
        "ln_a_error": float(np.sqrt(max(grad_ln_a @ cov @ grad_ln_a, 0.0))),
        "valid": bool(m.valid),
    }


def xmax_ln_a(xmax: np.ndarray, lg_energy: np.ndarray, model: str) -> tuple[float, float]:
    """<ln A> and its standard error from true Xmax with the moment parametrisation."""
    mean_p, _ = physics.xmax_moments(lg_energy, 1, model)
    mean_fe, _ = physics.xmax_moments(lg_energy, 56, model)
    slope = (mean_fe - mean_p) / np.log(56.0)  # d<Xmax>/d lnA, linear in lnA
    ln_a = (xmax - mean_p) / slope
    return float(ln_a.mean()), float(ln_a.std(ddof=1) / np.sqrt(len(ln_a)))


def run_pseudo_experiments(
    showers: pd.DataFrame, s: CompositionSettings, seed: int
) -> pd.DataFrame:
    """Every pseudo-experiment x energy bin x mixture: fit, truth and the Xmax reference.

    Each experiment splits the held-out showers afresh into templates and pool (stratified by
    energy bin and class), so the pool's and the templates' sampling fluctuations vary between
    experiments and the coverage tests the fit's whole error model; the experiment's showers
    are drawn **without** replacement from the pool (an independent sample of the parent
    distribution). An experiment has ``showers_per_experiment`` showers, or fewer where a class
    the mixture needs has fewer pool showers (recorded per row, and logged). An energy bin with
    a class of fewer than 2 template showers or no pool shower is not fitted (logged; absent
    from the rows)."""
    edges_e = np.asarray(s.lg_energy_bins)
    e_bin = np.digitize(showers["lg_energy"].to_numpy(), edges_e) - 1
    x_all = showers["ln_a_score"].to_numpy()
    labels = showers["label"].to_numpy()
    n_classes = len(CLASSES)
    groups = e_bin * n_classes + labels
    has_xmax = "xmax" in showers and showers["xmax"].notna().all()
    truths = {
        name: mixture_vector(mixture, f"composition.mixtures.{name}")
        for name, mixture in s.mixtures.items()
    }
    rows = []
    for b in range(len(edges_e) - 1):
        n_class = np.bincount(labels[e_bin == b], minlength=n_classes)
        n_tmpl = np.round(n_class * s.template_fraction).astype(int)
        n_pool = n_class - n_tmpl
        where = f"lg E bin [{edges_e[b]}, {edges_e[b + 1]})"
        if n_tmpl.min() < 2 or n_pool.min() < 1:
            log.warning(
                "composition: %s not fitted: templates %s, pool %s showers per class "
                "(composition.lg_energy_bins, composition.template_fraction)",
                where,
                n_tmpl.tolist(),
                n_pool.tolist(),
            )
            continue
        sizes = {}
        for name, truth in truths.items():
            sizes[name] = min(s.showers_per_experiment, int(n_pool[truth > 0].min()))
            if sizes[name] < s.showers_per_experiment:
                log.warning(
                    "composition: %s, mixture %s: %d showers per experiment (the pool has %s "
                    "per class; composition.showers_per_experiment = %d)",
                    where,
                    name,
                    sizes[name],
                    n_pool.tolist(),
                    s.showers_per_experiment,
                )
        n_bins = histogram_bins(s.n_bins, int(n_tmpl.min()))
        if n_bins < s.n_bins:
            log.warning(
                "composition: %s: %d observable bins instead of composition.n_bins = %d "
                "(%d template showers in the smallest class)",
                where,
                n_bins,
                s.n_bins,
                n_tmpl.min(),
            )
        for k in range(s.pseudo_experiments):
            rng = np.random.default_rng([seed, 31, b, k])
            is_template = split_halves(groups, s.template_fraction, rng)
            in_bin = e_bin == b
            tmpl = [in_bin & is_template & (labels == c) for c in range(n_classes)]
            pool = [np.flatnonzero(in_bin & ~is_template & (labels == c)) for c in range(n_classes)]
            edges = observable_edges(x_all[in_bin & is_template], n_bins)
            templates = np.array([np.histogram(x_all[t], edges)[0] for t in tmpl], dtype=float)
            for name, truth in truths.items():
                # Each mixture's own stream: adding or renaming a mixture changes no other.
                draw = np.random.default_rng([seed, 32, b, k, zlib.crc32(name.encode())])
                n_c = draw.multinomial(sizes[name], truth)
                drawn = np.concatenate(
                    [draw.choice(pool[c], n_c[c], replace=False) for c in range(n_classes)]
                )
                fit = fit_fractions(np.histogram(x_all[drawn], edges)[0], edges, templates)
                row = {
                    "mixture": name,
                    "lg_energy_bin": b,
                    "lg_energy_min": float(edges_e[b]),
                    "lg_energy_max": float(edges_e[b + 1]),
                    "experiment": k,
                    "showers": int(sizes[name]),
                    "parent_showers": int(n_class[truth > 0].sum()),
                    "n_bins": n_bins,
                    "valid": fit["valid"],
                    "ln_a_true": float(truth @ LN_A),
                    "ln_a": fit["ln_a"],
                    "ln_a_error": fit["ln_a_error"],
                }
                for c, cls in enumerate(CLASSES):
                    row[f"f_{cls}_true"] = truth[c]
                    row[f"f_{cls}"] = fit["fractions"][c]
                    row[f"f_{cls}_error"] = fit["fraction_errors"][c]
                if has_xmax:
                    row["ln_a_xmax"], row["ln_a_xmax_error"] = xmax_ln_a(
                        showers["xmax"].to_numpy()[drawn],
                        showers["lg_energy"].to_numpy()[drawn],
                        s.hadronic_model,
                    )
                rows.append(row)
    return pd.DataFrame(rows)


def summarise(experiments: pd.DataFrame) -> pd.DataFrame:
    """Bias, spread, mean fit error and 68 % coverage per mixture, energy bin and quantity."""
    quantities = [(f"f_{c}", f"f_{c}_true", f"f_{c}_error") for c in CLASSES]
    quantities.append(("ln_a", "ln_a_true", "ln_a_error"))
    if "ln_a_xmax" in experiments:
        quantities.append(("ln_a_xmax", "ln_a_true", "ln_a_xmax_error"))
    rows = []
    for (mixture, b), g in experiments.groupby(["mixture", "lg_energy_bin"], sort=False):
        for est, true, err in quantities:
            dev = g[est] - g[true]
            rows.append(
                {
                    "mixture": mixture,
                    "lg_energy_bin": int(b),
                    "quantity": est,
                    "truth": float(g[true].iloc[0]),
                    "mean": float(g[est].mean()),
                    "bias": float(dev.mean()),
                    # Monte Carlo error of the mean over the experiments only.
                    "bias_error": float(dev.std(ddof=1) / np.sqrt(len(g))),
                    # The experiments share one parent set of test showers, whose own
                    # fluctuation moves every experiment alike: about the one-experiment RMS
                    # scaled to the parent set's size. A bias is significant only against both.
                    "parent_error": float(
                        dev.std(ddof=1)
                        * np.sqrt(g["showers"].iloc[0] / max(g["parent_showers"].iloc[0], 1))
                    ),
                    "rms": float(dev.std(ddof=1)),
                    "mean_fit_error": float(g[err].mean()),
                    "coverage_68": float((dev.abs() <= g[err]).mean()),
                    "experiments": int(len(g)),
                    "showers_per_experiment": int(g["showers"].iloc[0]),
                    "failed_fits": int((~g["valid"]).sum()),
                }
            )
    return pd.DataFrame(rows)


def run_composition(
    predictions_path,
    table_path,
    cfg: dict,
    hadronic_model: str,
    seed: int,
    out_experiments,
    out_summary,
    split_method: str = "shower",
) -> pd.DataFrame:
    """Rule composition: shower observables of one model's test predictions, pseudo-experiments
    and their summary. The true Xmax reference needs the feature table's ``mc_xmax``."""
    if split_method != "shower":
        log.warning(
            "composition: splits.method is %r: the test showers' other stations were trained "
            "on, so the templates and the pool are not held out and the fit is optimistic",
            split_method,
        )
    import pyarrow.parquet as pq

    predictions = pd.read_parquet(predictions_path)
    xmax = None
    if "mc_xmax" in pq.read_schema(table_path).names:
        table = pd.read_parquet(table_path, columns=["shower_id", "mc_xmax"])
        xmax = table.groupby("shower_id")["mc_xmax"].first()
    showers = shower_observables(predictions, xmax)
    settings = CompositionSettings.from_config(cfg, hadronic_model)
    experiments = run_pseudo_experiments(showers, settings, seed)
    if experiments.empty:
        raise ValueError(
            "composition: no lg E bin has two template showers and one pool shower of every "
            "class: use wider composition.lg_energy_bins, a composition.template_fraction "
            "nearer 0.5 or more test showers"
        )
    failed = int((~experiments["valid"]).sum())
    if failed:
        log.warning("%d of %d template fits did not converge", failed, len(experiments))
    experiments.to_parquet(out_experiments, index=False)
    summary = summarise(experiments)
    bins = experiments.groupby("lg_energy_bin")[["lg_energy_min", "lg_energy_max"]].first()
    summary = summary.join(bins, on="lg_energy_bin")
    summary["split_method"] = split_method
    summary.to_csv(out_summary, index=False)
    return summary


def validate_settings(cfg: dict) -> None:
    """Start-up check of config section ``composition`` (what the schema cannot say)."""
    edges = np.asarray(cfg["lg_energy_bins"], dtype=float)
    if (np.diff(edges) <= 0).any():
        raise ValueError(f"composition.lg_energy_bins must increase: {cfg['lg_energy_bins']}")
    for name, mixture in cfg["mixtures"].items():
        mixture_vector(mixture, f"composition.mixtures.{name}")
