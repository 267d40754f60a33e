"""The run's findings (``findings.md``), written from its own outputs, never typed by hand.

Everything in it is a function of the configuration, the code and the data, so the same
command gives the same bytes: no run times, paths of this machine or commit hashes (committing
the file would change the commit). The configuration and the code are named by hashes
(``config_hash``, ``code_hash``); run times and the machine are in provenance/provenance.json.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pandas as pd

from uhecr import provenance
from uhecr.models import LABELS
from uhecr.reporting.formatting import interval_text, percent

# What the code hash covers, relative to the workflow's folder: everything that decides a
# number of the run (the captions and docs do not).
CODE_PATTERNS = (
    "Snakefile",
    "rules/*.smk",
    "scripts/*.py",
    "src/uhecr/**/*.py",
    "config/schema.yaml",
    "envs/*.yaml",
    "requirements.lock",
)


def code_files(root: str | Path) -> list[Path]:
    """The files ``code_hash`` covers, sorted."""
    root = Path(root)
    found = {p for pattern in CODE_PATTERNS for p in root.glob(pattern) if p.is_file()}
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def code_hash(root: str | Path) -> str:
    """SHA-256 over the code files' relative paths and contents."""
    root = Path(root)
    digest = hashlib.sha256()
    for path in code_files(root):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(provenance.sha256_file(path).encode() + b"\n")
    return digest.hexdigest()


def _md(df: pd.DataFrame) -> str:
    return df.to_markdown(index=False) if len(df) else "(none)"


def _accuracy_text(row: pd.Series, per_shower: bool) -> str:
    conf = percent(row["confidence"])
    if per_shower:
        value, lo, hi = row["event_accuracy"], row["event_lower"], row["event_upper"]
        how = f"{conf} Wilson interval over {int(row['n_test_showers'])} test showers"
    else:
        value, lo, hi = row["accuracy"], row["lower"], row["upper"]
        how = f"{conf} shower-bootstrap interval over {int(row['n_test'])} test stations"
    return f"{value:.3f} {interval_text(lo, hi)} ({how})"


def _replicate_text(summary: dict | None) -> str:
    """The sweep's variance of one number: its replicates' spread and the combined interval."""
    if not summary or summary.get("sd") is None:
        return " No replicate sweeps: the sweep's own variance is not measured (search.replicates)."
    conf = percent(summary["confidence"])
    return (
        f" Across {summary['replicates']} replicate sweeps: mean {summary['mean']:.3f}, "
        f"SD {summary['sd']:.3f} (the sweep's share of one run's variance: "
        f"{summary['sweep_share']:.0%}); {conf} interval of the mean with test set and sweep "
        f"{interval_text(summary['lower'], summary['upper'])}."
    )


def _replicate_pair_text(pairs: pd.DataFrame | None, level: str, a: str, b: str) -> str:
    """In how many replicates model ``a`` is ahead of ``b`` at ``level``."""
    if pairs is None or pairs.empty:
        return ""
    row = pairs[(pairs["unit"] == level) & pairs["model_a"].isin([a, b])
                & pairs["model_b"].isin([a, b])]  # fmt: skip
    if row.empty or int(row.iloc[0]["replicates"]) < 2:
        return ""
    r = row.iloc[0]
    sign = 1 if r["model_a"] == a else -1
    ahead = r["a_ahead"] if sign == 1 else r["b_ahead"]
    n = int(r["replicates"])
    text = (
        f" Across the replicate sweeps it is ahead in {int(ahead)} of {n} (mean difference "
        f"{sign * r['mean_difference']:+.3f}, SD {r['sd_difference']:.3f})"
    )
    if ahead < n:
        return text + ": which model is ahead depends on the sweep."
    return text + "."


def _leader(
    reference: pd.DataFrame,
    comparisons: pd.DataFrame,
    per_shower: bool,
    replicates: dict | None = None,
    replicate_pairs: pd.DataFrame | None = None,
) -> str | None:
    """The most accurate model at one level, with its test-set and sweep uncertainty, and
    whether the runner-up differs from it."""
    column = "event_accuracy" if per_shower else "accuracy"
    rows = reference.dropna(subset=[column])
    if not per_shower:
        rows = rows[rows.get("unit", "station") == "station"]
    if rows.empty:
        return None
    ranked = rows.sort_values(column, ascending=False, kind="stable")
    best = ranked.iloc[0]
    level = "shower" if per_shower else "station"
    text = (
        f"Highest accuracy per {level} in the main run: {best['label']}, "
        f"{_accuracy_text(best, per_shower)}."
    )
    text += _replicate_text((replicates or {}).get(best["model"], {}).get(level))
    if len(ranked) < 2:
        return text
    second = ranked.iloc[1]
    pair = comparisons[
        (comparisons.get("unit", "station") == level)
        & comparisons["model_a"].isin([best["model"], second["model"]])
        & comparisons["model_b"].isin([best["model"], second["model"]])
    ]
    if pair.empty:
        return text
    p = pair.iloc[0]
    sign = 1 if p["model_a"] == best["model"] else -1
    lo, hi = sorted((sign * p["difference_lower"], sign * p["difference_upper"]))
    verdict = (
        "a difference the paired test over the test set calls significant after Holm's "
        "correction, for the main run's two models"
        if p["significant"]
        else "not significant after Holm's correction"
    )
    return (
        f"{text} Runner-up in the main run: {second['label']}; difference "
        f"{sign * p['difference']:+.3f} "
        f"{interval_text(lo, hi)} ({percent(1 - p['alpha'])} shower bootstrap), "
        f"{verdict}." + _replicate_pair_text(replicate_pairs, level, best["model"], second["model"])
    )


def sweep_rows(best: dict[str, dict], trials_per_batch: int) -> pd.DataFrame:
    """Per model: budget, best slot, its validation accuracy and whether it lies in the last
    batch (a sweep whose best trial came last may not have converged)."""
    rows = []
    for model, b in best.items():
        n = int(b["n_trials_budget"])
        last_batch = (n - 1) // trials_per_batch * trials_per_batch
        rows.append(
            {
                "Model": LABELS.get(model, model),
                "Trials": n,
                "Best trial (slot)": int(b["best_trial"]),
                "Validation accuracy": f"{b['best_val_accuracy']:.4f}",
                "States": ", ".join(f"{k} {v}" for k, v in sorted(b["states"].items())),
                "Best in the last batch": "yes" if int(b["best_trial"]) >= last_batch else "no",
            }
        )
    return pd.DataFrame(rows)


def validation_summary(checks: dict) -> str:
    table = checks["table"]
    status = pd.Series([row["status"] for row in table]).value_counts().to_dict()
    parts = ", ".join(f"{n} {s}" for s, n in sorted(status.items()))
    return f"{len(table)} simulation checks against the physics sheet: {parts}."


def findings_markdown(
    *,
    run_name: str,
    config: dict,
    code_sha256: str,
    split: dict,
    reference: pd.DataFrame,
    comparisons: pd.DataFrame,
    best: dict[str, dict],
    tables: dict[str, str],
    checks: dict | None,
    replicates: dict | None = None,
    replicate_pairs: pd.DataFrame | None = None,
) -> str:
    """The findings document. ``tables``: name -> Markdown of the run's tables (results,
    paired_comparisons, leakage, composition, simulation_validation, best_parameters)."""
    trials_per_batch = int(config["search"]["trials_per_batch"])
    summary = [
        f"Test set: {split['n_stations']['test']:,} stations in "
        f"{split['n_showers']['test']:,} showers, split by shower from "
        f"{sum(split['n_stations'].values()):,} stations in {sum(split['n_showers'].values()):,}"
        " showers; every interval resamples whole showers or counts showers "
        "(docs/statistics.md).",
    ]
    for per_shower in (False, True):
        line = _leader(reference, comparisons, per_shower, replicates, replicate_pairs)
        if line:
            summary.append(line)
    if len(comparisons):
        n_sig = int(comparisons["significant"].sum())
        summary.append(
            f"{n_sig} of {len(comparisons)} paired comparisons are significant after Holm's "
            f"correction (alpha {comparisons['alpha'].iloc[0]:g})."
        )
    sweeps = sweep_rows(best, trials_per_batch)
    late = sweeps.loc[sweeps["Best in the last batch"] == "yes", "Model"].tolist()
    summary.append(
        "Sweeps whose best trial lies in their last batch (a larger budget may find better "
        f"parameters): {', '.join(late)}."
        if late
        else "No sweep found its best trial in its last batch."
    )
    if checks is not None:
        summary.append(validation_summary(checks))
    lines = [
        f"# Findings of run `{run_name}`",
        "",
        "Written by rule `findings` from this run's outputs (toy simulation unless the "
        "configuration names other files); do not edit by hand. The same configuration and "
        "code give these bytes again (README, Reproducibility).",
        "",
        f"* configuration SHA-256: `{provenance.config_hash(config)}`",
        f"* code SHA-256: `{code_sha256}` (Snakefile, rules, scripts, src/uhecr, config "
        "schema, envs, requirements.lock)",
        f"* seed: {config['seed']}; sweeps: {trials_per_batch} trials per batch",
        "",
        "## Summary",
        "",
        *[f"* {s}" for s in summary],
        "",
        "## Test accuracy",
        "",
        tables["results"].strip(),
        "",
        "## Paired comparisons",
        "",
        tables["paired_comparisons"].strip(),
        "",
    ]
    for name, title in (
        ("replicates", "The sweep's own variance (replicate sweeps)"),
        ("replicate_comparisons", "Paired differences across replicate sweeps"),
    ):
        if name in tables:
            lines += [f"## {title}", "", tables[name].strip(), ""]
    lines += [
        "## Hyper-parameter sweeps",
        "",
        _md(sweeps),
        "",
    ]
    for name, title in (
        ("leakage", "Leakage study (station split against shower split)"),
        ("composition", "Mass composition (pseudo-experiments)"),
        ("simulation_validation", "Simulation validation"),
    ):
        if name in tables:
            lines += [f"## {title}", "", tables[name].strip(), ""]
    return "\n".join(lines)


def write_findings(inputs: dict, out_path, *, run_name: str, config: dict, code_root) -> str:
    """Read the run's outputs named in ``inputs`` and write the findings to ``out_path``."""
    best = {m: json.loads(Path(p).read_text()) for m, p in inputs["best"].items()}
    text = findings_markdown(
        run_name=run_name,
        config=config,
        code_sha256=code_hash(code_root),
        split=json.loads(Path(inputs["split"]).read_text()),
        reference=pd.read_csv(inputs["reference"]),
        comparisons=pd.read_csv(inputs["comparisons"]),
        best=best,
        tables={name: Path(p).read_text() for name, p in inputs["tables"].items()},
        checks=json.loads(Path(inputs["checks"]).read_text()) if inputs.get("checks") else None,
        replicates=json.loads(Path(inputs["replicates"]).read_text()),
        replicate_pairs=pd.read_csv(inputs["replicate_comparisons"]),
    )
    Path(out_path).parent.mkdir(parents=True, exist_ok=True)
    Path(out_path).write_text(text)
    return text


def summary_rst(findings_md: str) -> str:
    """The findings' summary as reStructuredText bullets (the report's landing page shows the
    same sentences as findings.md): Markdown code spans become RST literals."""
    import re

    lines = findings_md.split("## Summary", 1)[1].split("\n## ", 1)[0].strip().splitlines()
    bullets = [re.sub(r"`([^`]+)`", r"``\1``", line) for line in lines if line.startswith("* ")]
    return "\n".join(bullets)


def append_summary(landing_rst, findings_path) -> None:
    """Add the findings' summary to the report's landing page (rule report_landing)."""
    summary = summary_rst(Path(findings_path).read_text())
    title = "Findings (the summary of findings.md)"
    with open(landing_rst, "a") as page:
        page.write(f"\n{title}\n{'-' * len(title)}\n\n{summary}\n")
