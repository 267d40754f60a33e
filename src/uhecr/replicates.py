"""The sweep's own variance: replicate sweeps of one model, each with its own seeds, refitted
and evaluated on the same test set (``search.replicates``; docs/statistics.md).

A replicate repeats the whole procedure that produces a test model (sweep, best parameters,
refit) with other seeds: its sampler, its trials' training and its refit draw from
``replicate_seed(seed, r)``. Replicate 0 is the run's main sweep (the config's seed). Their
spread on the one test set is the variance the sweep and training add to a number; the test
set's own sampling variance is in each replicate's interval. ``combine`` puts both together.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pandas as pd
from scipy import stats

from uhecr.models import LABELS

# Seeds are kept below 2**31 - 1 with room for the trials' slot offsets (seed + slot).
_SEED_RANGE = 2**31 - 1 - 1_000_000


def replicate_seed(seed: int, replicate: int) -> int:
    """The seed of replicate ``replicate`` (0: the configured seed itself)."""
    if int(replicate) == 0:
        return int(seed)
    state = np.random.SeedSequence([int(seed), int(replicate), 0x5EED]).generate_state(1)[0]
    return int(state) % _SEED_RANGE


def sweep_name(model: str, replicate: int) -> str:
    """The folder of a replicate under search/ and evaluation/: the model's own for 0."""
    return model if int(replicate) == 0 else f"{model}/replicate_{int(replicate)}"


def parse_sweep(sweep: str) -> tuple[str, int]:
    """(model, replicate) of a sweep folder name (``sweep_name``'s inverse)."""
    model, _, rest = sweep.partition("/replicate_")
    return model, int(rest) if rest else 0


def _levels(metrics: dict) -> dict[str, dict]:
    """Accuracy and its test-set standard error at each level the model is scored at. Per
    station: the shower-bootstrap SE (stations of a shower are correlated); per shower: the
    binomial SE (showers are independent)."""
    out = {}
    if metrics.get("unit", "station") == "station":
        a = metrics["accuracy"]  # se_cluster is null where the bootstrap gives no interval
        out["station"] = {"value": a["value"], "se": a.get("se_cluster"), "n": a["n"]}
    ev = metrics["event_level"]["accuracy"]
    p, n = ev["value"], ev["n"]
    out["shower"] = {"value": p, "se": math.sqrt(p * (1 - p) / n), "n": n}
    return out


def combine(values, test_ses, confidence: float) -> dict:
    """Across replicates of one model at one level.

    ``within`` = mean of the replicates' squared test-set SEs (W), ``between`` = the sample
    variance of their accuracies (B, R - 1 degrees of freedom). The mean over R replicates
    estimates the procedure's expected accuracy on the test set's population, with variance
    W + B / R; its interval uses Student's t with Satterthwaite's degrees of freedom (W taken
    as known: the bootstrap's SE has many), cut to [0, 1]. ``single_run_se`` = sqrt(W + B): what the number
    of one run (one sweep) scatters by. ``sweep_share`` = B / (W + B)."""
    values = np.asarray(values, dtype=float)
    r = len(values)
    mean = float(values.mean())
    known = all(se is not None and np.isfinite(se) for se in test_ses)
    within = float(np.mean(np.square(test_ses))) if known else None
    out = {
        "replicates": r,
        "values": [float(v) for v in values],
        "mean": mean,
        "test_set_se": math.sqrt(within) if known else None,
        "confidence": confidence,
    }
    if r < 2 or not known:  # no spread, or a replicate without a test-set SE (too few showers)
        if r >= 2:
            out["sd"] = float(values.std(ddof=1))
        empty = {"sd": None, "se_mean": None, "lower": None, "upper": None, "df": None,
                 "single_run_se": None, "sweep_share": None}  # fmt: skip
        return {**empty, **out}
    between = float(values.var(ddof=1))
    se_mean = math.sqrt(within + between / r)
    df = math.inf if between == 0 else (within + between / r) ** 2 * (r - 1) / (between / r) ** 2
    q = (
        stats.t.ppf(0.5 + confidence / 2, df)
        if math.isfinite(df)
        else stats.norm.ppf(0.5 + confidence / 2)
    )
    return {
        **out,
        "sd": math.sqrt(between),
        "se_mean": se_mean,
        "df": df if math.isfinite(df) else None,
        # An accuracy lies in [0, 1]: the interval is cut there (few replicates, wide t).
        "lower": max(0.0, mean - q * se_mean),
        "upper": min(1.0, mean + q * se_mean),
        "single_run_se": math.sqrt(within + between),
        "sweep_share": between / (within + between) if within + between > 0 else 0.0,
    }


def summarise_model(metrics_by_replicate: list[dict], confidence: float) -> dict:
    """One model's replicates (replicate 0 first): per level, ``combine``'s numbers."""
    levels = [_levels(m) for m in metrics_by_replicate]
    out = {}
    for level in levels[0]:
        values = [lv[level]["value"] for lv in levels]
        ses = [lv[level]["se"] for lv in levels]
        out[level] = combine(values, ses, confidence)
    return out


def compare(summaries: dict[str, dict]) -> pd.DataFrame:
    """Every pair of models at every level both are scored at: the difference of replicate r
    of A and replicate r of B, per replicate (the same test set and seeds index), and in how
    many replicates A is ahead, level, behind."""
    rows = []
    for a, b in itertools.combinations(summaries, 2):
        for level in ("station", "shower"):
            if level not in summaries[a] or level not in summaries[b]:
                continue
            va = np.asarray(summaries[a][level]["values"])
            vb = np.asarray(summaries[b][level]["values"])
            n = min(len(va), len(vb))
            d = va[:n] - vb[:n]
            rows.append(
                {
                    "unit": level,
                    "model_a": a,
                    "model_b": b,
                    "replicates": n,
                    "mean_difference": float(d.mean()),
                    "sd_difference": float(d.std(ddof=1)) if n > 1 else None,
                    "a_ahead": int((d > 0).sum()),
                    "tied": int((d == 0).sum()),
                    "b_ahead": int((d < 0).sum()),
                }
            )
    return pd.DataFrame(
        rows,
        columns=["unit", "model_a", "model_b", "replicates", "mean_difference",
                 "sd_difference", "a_ahead", "tied", "b_ahead"],
    )  # fmt: skip


def _num(v, fmt=".3f") -> str:
    return "n/a" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def replicates_table(summaries: dict[str, dict]) -> pd.DataFrame:
    """Per model and level: replicate 0's value, the replicates' mean and SD, the test-set
    SE, the combined interval of the mean and the sweep's share of a single run's variance."""
    rows = []
    for model, levels in summaries.items():
        for level, s in levels.items():
            conf = f"{round(100 * s['confidence']):d} %"
            rows.append(
                {
                    "Model": LABELS.get(model, model),
                    "Accuracy per": level,
                    "Replicates": s["replicates"],
                    "Main run": _num(s["values"][0]),
                    "Mean": _num(s["mean"]),
                    "SD across replicates (sweep)": _num(s["sd"], ".4f"),
                    "Test-set SE": _num(s["test_set_se"], ".4f"),
                    f"{conf} interval of the mean (test set + sweep)": (
                        f"[{_num(s['lower'])}, {_num(s['upper'])}]"
                    ),
                    "Sweep share of one run's variance": _num(s["sweep_share"], ".0%"),
                }
            )
    return pd.DataFrame(rows)


def replicate_comparisons_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for _, r in comparisons.iterrows():
        rows.append(
            {
                "Compared per": r["unit"],
                "Model A": LABELS.get(r["model_a"], r["model_a"]),
                "Model B": LABELS.get(r["model_b"], r["model_b"]),
                "Mean A - B over replicates": _num(r["mean_difference"], "+.3f"),
                "SD": _num(r["sd_difference"], ".3f"),
                "A ahead in": f"{r['a_ahead']} of {r['replicates']}",
                "B ahead in": f"{r['b_ahead']} of {r['replicates']}",
            }
        )
    columns = ["Compared per", "Model A", "Model B", "Mean A - B over replicates", "SD",
               "A ahead in", "B ahead in"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)  # one model: no pair, the header stays


REPLICATES_CAPTION = (
    "The sweep's own variance: each model's sweep repeated {r} times with its own seeds "
    "(sampler, training, refit), each replicate refitted and evaluated on the same test set. "
    "Main run: the main sweep's accuracy (the results table's). Mean and SD over the "
    "replicates; test-set SE: root mean square of the replicates' test-set SEs (per station "
    "from resampling whole showers, per shower binomial). The interval of the mean combines "
    "both, W + B/R with Student's t at Satterthwaite's degrees of freedom (docs/statistics.md). "
    "Sweep share: B / (W + B), the part of one run's variance that is the sweep's. With few "
    "replicates the SD itself is uncertain (R - 1 degrees of freedom)."
)
REPLICATE_COMPARISONS_CAPTION = (
    "Paired differences across the {r} replicates: replicate r of model A against replicate "
    "r of model B on the same test units; mean and SD of the difference, and in how many "
    "replicates each model is ahead."
)


def render(metrics: dict[str, list[dict]], confidence: float, outputs: dict) -> dict:
    """Summaries, comparisons and their tables (Markdown and LaTeX) of every model's
    replicates; ``outputs``: summary, comparisons, table, table_tex, comparisons_table,
    comparisons_tex. Returns the summaries."""
    import json
    from pathlib import Path

    from uhecr.reporting import write_tables

    summaries = {m: summarise_model(ms, confidence) for m, ms in metrics.items()}
    comparisons = compare(summaries)
    r = max(len(ms) for ms in metrics.values())
    Path(outputs["summary"]).write_text(json.dumps(summaries, indent=2) + "\n")
    comparisons.to_csv(outputs["comparisons"], index=False)
    write_tables(
        replicates_table(summaries),
        outputs["table"],
        outputs["table_tex"],
        REPLICATES_CAPTION.format(r=r),
    )
    write_tables(
        replicate_comparisons_table(comparisons),
        outputs["comparisons_table"],
        outputs["comparisons_tex"],
        REPLICATE_COMPARISONS_CAPTION.format(r=r),
    )
    return summaries
