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

import hashlib
import math
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd

RESAMPLING_UNIT = "shower"


@dataclass(frozen=True)
class IntervalSettings:
    """Config key ``evaluation``: confidence level and resampling budget."""

    confidence: float = 0.99
    n_resamples: int = 10000
    method: str = "BCa"
    n_permutations: int = 9999
    min_showers: int = 10
    seed: int = 0

    @classmethod
    def from_config(cls, cfg: dict, seed: int) -> IntervalSettings:
        boot = cfg.get("bootstrap", {})
        return cls(
            confidence=float(cfg.get("confidence", 0.99)),
            n_resamples=int(boot.get("n_resamples", 10000)),
            method=str(boot.get("method", "BCa")),
            n_permutations=int(cfg.get("n_permutations", 9999)),
            min_showers=int(cfg.get("min_showers", 10)),
            seed=int(seed),
        )

    def rng(self, *names) -> np.random.Generator:
        """An independent, reproducible generator per quantity, named by ``names``.

        The names are hashed to a fixed-length key (SHA-256), so no two different names can
        share a stream (numpy pads short seed lists with zeros, which a plain list would not
        survive)."""
        digest = hashlib.sha256(repr((self.seed, *map(str, names))).encode()).digest()
        return np.random.default_rng(np.frombuffer(digest, dtype=np.uint32))

    @property
    def label(self) -> str:
        """E.g. "99% CI (shower bootstrap, BCa)", for table headers and legends."""
        return f"{self.confidence:.0%} CI (shower bootstrap, {self.method})"


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


def _nan_record(record: dict, why: str) -> dict:
    nan = float("nan")
    return {
        **record,
        "lower": nan,
        "upper": nan,
        "se_cluster": nan,
        "design_effect": nan,
        "n_effective": nan,
        "interval_missing": why,
    }


def _bootstrap(samples: tuple, settings: IntervalSettings, rng):
    """scipy's bootstrap of the ratio of per-shower sums, or None when it is degenerate."""
    from scipy import stats

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        warnings.simplefilter("ignore", RuntimeWarning)
        res = stats.bootstrap(
            samples,
            _ratio,
            paired=True,
            vectorized=True,
            n_resamples=settings.n_resamples,
            confidence_level=settings.confidence,
            method=settings.method,
            rng=rng,
        )
    # One value in the bootstrap distribution (e.g. every station right): no interval, for
    # every method (percentile and basic would return a zero-width one).
    if not res.standard_error > 0 or not np.isfinite(res.confidence_interval).all():
        return None
    return res


def clustered_proportion(
    successes_per_shower, trials_per_shower, settings: IntervalSettings, stream: tuple
) -> dict:
    """A proportion over stations with a shower-bootstrap interval and its design effect.

    ``successes_per_shower`` and ``trials_per_shower`` are per-shower sums; showers with no trial
    (e.g. no station in an energy bin) are dropped, since they carry no information. Below
    ``settings.min_showers`` showers, or when the bootstrap distribution is degenerate, the
    interval is NaN and ``interval_missing`` says why.
    """
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
    lo, hi = wilson_interval(k, n, settings.confidence) if n else (float("nan"),) * 2
    record["wilson_independent"] = [lo, hi]
    p = record["value"]
    se_binomial = math.sqrt(p * (1 - p) / n) if n else float("nan")
    record["se_binomial"] = se_binomial
    if record["n_showers"] < settings.min_showers:
        return _nan_record(
            record, f"{record['n_showers']} showers (fewer than {settings.min_showers})"
        )
    res = _bootstrap((s, t), settings, settings.rng(*stream))
    if res is None:
        return _nan_record(record, "degenerate: every resample gives the same value")
    se = float(res.standard_error)
    deff = se**2 / se_binomial**2 if se_binomial > 0 else float("nan")
    record.update(
        {
            "lower": float(res.confidence_interval.low),
            "upper": float(res.confidence_interval.high),
            "se_cluster": se,
            "design_effect": deff,
            "n_effective": n / deff if deff > 0 else float("nan"),
        }
    )
    return record


def cluster_robust_se(correct, shower_ids) -> float:
    """Analytic cross-check: cluster-robust (CR1) standard error of a mean, statsmodels OLS."""
    import statsmodels.api as sm

    y = np.asarray(correct, dtype=float)
    groups = pd.factorize(np.asarray(shower_ids))[0]
    fit = sm.OLS(y, np.ones((len(y), 1))).fit(cov_type="cluster", cov_kwds={"groups": groups})
    return float(fit.bse[0])


def paired_difference(
    correct_a, correct_b, shower_ids, settings: IntervalSettings, stream: tuple
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
    d = float(diff.sum() / n)
    # Variance of the difference if stations were independent (McNemar's normal form).
    discordant = float(np.sum(a != b))
    se_indep = math.sqrt(max(discordant / n - d**2, 0.0) / n)
    record = {
        "difference": d,
        "n": int(n),
        "n_showers": len(diff),
        "resampling_unit": RESAMPLING_UNIT,
        "test": f"shower sign-flip permutation test ({settings.n_permutations} permutations)",
    }
    if len(diff) < settings.min_showers:
        why = f"{len(diff)} showers (fewer than {settings.min_showers})"
        return {**_nan_record(record, why), "p_value": float("nan")}
    if not np.any(diff):  # the models agree on every shower: nothing to test
        why = "the two models agree on every station"
        return {**_nan_record(record, why), "se_cluster": 0.0, "p_value": 1.0}
    boot = _bootstrap((diff, trials), settings, settings.rng(*stream, "bootstrap"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        perm = stats.permutation_test(
            (diff,),
            lambda x, axis=-1: np.sum(x, axis=axis),
            permutation_type="samples",
            vectorized=True,
            n_resamples=settings.n_permutations,
            alternative="two-sided",
            rng=settings.rng(*stream, "permutation"),
        )
    if boot is None:
        why = "degenerate: every resample gives the same value"
        return {**_nan_record(record, why), "p_value": float(perm.pvalue)}
    se = float(boot.standard_error)
    return {
        **record,
        "lower": float(boot.confidence_interval.low),
        "upper": float(boot.confidence_interval.high),
        "se_cluster": se,
        "design_effect": se**2 / se_indep**2 if se_indep > 0 else float("nan"),
        "p_value": float(perm.pvalue),
    }
