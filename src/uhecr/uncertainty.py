"""Uncertainties for station-level quantities whose stations are grouped in showers.

Stations of one shower share energy, zenith, Xmax and muon content, so whether a model is right
on them is correlated. Every interval here therefore resamples **whole showers** (a cluster
bootstrap): the statistic is a ratio of per-shower sums, sum(successes) / sum(trials), and
``scipy.stats.bootstrap`` resamples the per-shower pairs (successes_i, trials_i) together.

Assumptions, stated once for every interval in this module:
* showers are independent and identically distributed draws from the test population;
* stations of one shower may be arbitrarily correlated (no model of the correlation is used);
* the number of showers is large enough for the bootstrap distribution of the ratio to
  approximate its sampling distribution (BCa corrects bias and skewness to second order).

The Wilson score interval with the station count is kept only as a labelled comparison
("as if stations were independent"), the convention of the reference study.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

RESAMPLING_UNIT = "shower"


@dataclass(frozen=True)
class IntervalSettings:
    """Config key ``evaluation``: confidence level and resampling budget."""

    confidence: float = 0.99
    n_resamples: int = 2000
    method: str = "BCa"
    n_permutations: int = 9999
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: dict, seed: int) -> IntervalSettings:
        boot = cfg.get("bootstrap", {})
        return cls(
            confidence=float(cfg.get("confidence", 0.99)),
            n_resamples=int(boot.get("n_resamples", 2000)),
            method=str(boot.get("method", "BCa")),
            n_permutations=int(cfg.get("n_permutations", 9999)),
            seed=int(seed),
        )

    def rng(self, *stream: int) -> np.random.Generator:
        """An independent, reproducible generator per quantity (seed + stream numbers)."""
        return np.random.default_rng([self.seed, *stream])


def wilson_interval(successes: int, n: int, confidence: float = 0.99) -> tuple[float, float]:
    """Wilson score interval (statsmodels) for ``successes`` out of ``n`` independent trials."""
    from statsmodels.stats.proportion import proportion_confint

    if n <= 0:
        raise ValueError("Wilson interval needs n > 0")
    lo, hi = proportion_confint(successes, n, alpha=1 - confidence, method="wilson")
    return float(lo), float(hi)


def per_shower_sums(shower_ids, *values) -> tuple[np.ndarray, ...]:
    """Sum each of ``values`` (one entry per station) over the stations of each shower."""
    codes, _ = pd.factorize(np.asarray(shower_ids), sort=True)
    n = int(codes.max()) + 1 if len(codes) else 0
    return tuple(
        np.bincount(codes, weights=np.asarray(v, dtype=float), minlength=n) for v in values
    )


def _ratio(successes, trials, axis=-1):
    return np.sum(successes, axis=axis) / np.sum(trials, axis=axis)


def _nan_record(record: dict) -> dict:
    return {**record, "lower": float("nan"), "upper": float("nan"), "se_cluster": float("nan")}


def clustered_proportion(
    successes_per_shower, trials_per_shower, settings: IntervalSettings, stream: tuple[int, ...]
) -> dict:
    """A proportion over stations with a shower-bootstrap interval and its design effect.

    ``successes_per_shower`` and ``trials_per_shower`` are per-shower sums; showers with no trial
    (e.g. no station in an energy bin) are dropped, since they carry no information.
    """
    from scipy import stats

    s = np.asarray(successes_per_shower, dtype=float)
    t = np.asarray(trials_per_shower, dtype=float)
    keep = t > 0
    s, t = s[keep], t[keep]
    n, k = int(t.sum()), int(round(s.sum()))
    record = {
        "value": k / n if n else float("nan"),
        "n": n,
        "n_showers": int(keep.sum()),
        "resampling_unit": RESAMPLING_UNIT,
        "method": f"shower bootstrap ({settings.method}, {settings.n_resamples} resamples)",
        "confidence": settings.confidence,
    }
    if n:
        lo, hi = wilson_interval(k, n, settings.confidence)
    else:
        lo = hi = float("nan")
    record["wilson_independent"] = [lo, hi]
    p = record["value"]
    se_binomial = float(np.sqrt(p * (1 - p) / n)) if n else float("nan")
    record["se_binomial"] = se_binomial
    if record["n_showers"] < 2:
        return _nan_record({**record, "design_effect": float("nan"), "n_effective": float("nan")})
    with warnings.catch_warnings():
        # A bootstrap distribution with one value (e.g. every station right) makes BCa
        # undefined; scipy then returns NaN, which is what we report.
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(
            (s, t),
            _ratio,
            paired=True,
            vectorized=True,
            n_resamples=settings.n_resamples,
            confidence_level=settings.confidence,
            method=settings.method,
            rng=settings.rng(*stream),
        )
    se = float(res.standard_error)
    record.update(
        {
            "lower": float(res.confidence_interval.low),
            "upper": float(res.confidence_interval.high),
            "se_cluster": se,
        }
    )
    deff = se**2 / se_binomial**2 if se_binomial > 0 else float("nan")
    record["design_effect"] = float(deff)
    record["n_effective"] = float(n / deff) if deff and np.isfinite(deff) else float("nan")
    return record


def cluster_robust_se(correct, shower_ids) -> float:
    """Analytic cross-check: cluster-robust (CR1) standard error of a mean, statsmodels OLS."""
    import statsmodels.api as sm

    y = np.asarray(correct, dtype=float)
    groups = pd.factorize(np.asarray(shower_ids))[0]
    fit = sm.OLS(y, np.ones((len(y), 1))).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return float(fit.bse[0])


def paired_difference(
    correct_a, correct_b, shower_ids, settings: IntervalSettings, stream: tuple[int, ...]
) -> dict:
    """Accuracy difference of two models on the same stations, shower as resampling unit.

    Interval: paired shower bootstrap of sum(correct_a - correct_b) / n (both models see the same
    resampled showers). p-value: shower-level sign-flip permutation test (under H0 the two models'
    labels are exchangeable within each shower, so each shower's difference flips sign).
    """
    from scipy import stats

    a = np.asarray(correct_a, dtype=float)
    b = np.asarray(correct_b, dtype=float)
    diff, trials = per_shower_sums(shower_ids, a - b, np.ones_like(a))
    n = trials.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        boot = stats.bootstrap(
            (diff, trials),
            _ratio,
            paired=True,
            vectorized=True,
            n_resamples=settings.n_resamples,
            confidence_level=settings.confidence,
            method=settings.method,
            rng=settings.rng(*stream, 0),
        )
        perm = stats.permutation_test(
            (diff,),
            lambda d, axis=-1: np.sum(d, axis=axis),
            permutation_type="samples",
            vectorized=True,
            n_resamples=settings.n_permutations,
            alternative="two-sided",
            rng=settings.rng(*stream, 1),
        )
    se = float(boot.standard_error)
    # Variance of the difference if stations were independent (McNemar's normal form).
    discordant = float(np.sum(a != b))
    d = float(diff.sum() / n)
    se_indep = float(np.sqrt(max(discordant / n - d**2, 0.0) / n))
    return {
        "difference": d,
        "lower": float(boot.confidence_interval.low),
        "upper": float(boot.confidence_interval.high),
        "se_cluster": se,
        "design_effect": se**2 / se_indep**2 if se_indep > 0 else float("nan"),
        "p_value": float(perm.pvalue),
        "n": int(n),
        "n_showers": len(diff),
        "resampling_unit": RESAMPLING_UNIT,
        "test": f"shower sign-flip permutation test ({settings.n_permutations} permutations)",
    }
