"""Figures and tables draw the numbers they are given (checked through the plotted data)."""

import json

import numpy as np
import pandas as pd
import pytest

from uhecr import evaluation, reporting
from uhecr.evaluation import COMPARISON_COLUMNS, IntervalSettings

INTERVALS = IntervalSettings(n_resamples=2000, seed=4)


def _metrics(rng, n_showers=120, m=6, share=(0.4, 0.2, 0.2, 0.2), p_right=0.5):
    label = np.repeat(rng.choice(4, n_showers, p=share), m)
    right = rng.random(len(label)) < p_right
    pred = np.where(right, label, (label + 1) % 4)
    showers = np.repeat([f"s{i}" for i in range(n_showers)], m)
    metrics = evaluation.classification_metrics(label, pred, showers, INTERVALS)
    frame = pd.DataFrame(
        {
            "shower_id": showers,
            "lg_energy": rng.uniform(18.5, 20.0, len(label)),
            "zenith_deg": rng.uniform(0, 60, len(label)),
            "core_distance_m": rng.uniform(300, 2500, len(label)),
        }
    )
    metrics["binned"] = evaluation.binned_accuracy(frame, pred == label, INTERVALS)
    proba = np.full((len(label), 4), 0.1)
    proba[np.arange(len(label)), pred] = 0.7
    preds = frame.assign(label=label, prediction=pred, station_id=np.tile(np.arange(m), n_showers))
    for k, c in enumerate(evaluation.CLASSES):
        preds[f"p_{c}"] = proba[:, k]
    metrics["event_level"] = evaluation.event_metrics(
        evaluation.combine_stations(preds, [0.25] * 4), 0.99
    )
    return metrics


def test_accuracy_figure_draws_bootstrap_interval_and_true_chance_line(tmp_path):
    m = _metrics(np.random.default_rng(1))
    table = evaluation.reference_comparison({"xgboost": m})
    ax = reporting.plot_accuracy_comparison(table, tmp_path / "acc.png")
    (chance,) = [ln for ln in ax.lines if ln.get_linestyle() == ":"]
    assert chance.get_xdata()[0] == pytest.approx(m["chance_accuracy"])
    assert m["chance_accuracy"] > 0.3  # the largest class share, not 1/4
    # The black point's horizontal error bar spans the shower-bootstrap interval.
    segments = [c for c in ax.collections if len(c.get_segments()) == 1]
    spans = {tuple(np.round(s.get_segments()[0][:, 0], 6)) for s in segments}
    acc = m["accuracy"]
    assert tuple(np.round([acc["lower"], acc["upper"]], 6)) in spans
    lo, hi = acc["wilson_independent"]
    assert tuple(np.round([lo, hi], 6)) in spans
    ev = m["event_level"]["accuracy"]
    assert tuple(np.round([ev["lower"], ev["upper"]], 6)) in spans


def test_binned_figure_uses_largest_class_share(tmp_path):
    m = _metrics(np.random.default_rng(2))
    axes = reporting.plot_binned_accuracy({"svm": m}, tmp_path / "binned.png")
    for ax, column in zip(axes, m["binned"], strict=True):
        chance = [ln for ln in ax.lines if ln.get_linestyle() == ":"][0]
        assert chance.get_ydata()[0] == pytest.approx(m["chance_accuracy"])
        drawn = [ln for ln in ax.lines if ln.get_linestyle() == "-"][0]
        expected = [r["value"] for r in m["binned"][column] if r["n"] > 0]
        np.testing.assert_allclose(np.asarray(drawn.get_ydata(), dtype=float), expected)


def test_results_table_columns_and_latex_caption(tmp_path):
    m = _metrics(np.random.default_rng(3))
    table = reporting.results_table(evaluation.reference_comparison({"xgboost": m}))
    row = table.iloc[0]
    acc = m["accuracy"]
    assert row["99% CI (shower bootstrap)"] == f"[{acc['lower']:.3f}, {acc['upper']:.3f}]"
    assert row["Design effect"] == f"{acc['design_effect']:.1f}"
    lo, hi = acc["wilson_independent"]
    assert (
        row["99% Wilson as if stations were independent (study's convention)"]
        == f"[{lo:.3f}, {hi:.3f}]"
    )
    assert row["Accuracy per shower [99% Wilson]"].startswith(
        f"{m['event_level']['accuracy']['value']:.3f}"
    )
    reporting.write_tables(table, tmp_path / "results", "Accuracy (99 % interval) & more")
    tex = (tmp_path / "results.tex").read_text()
    assert r"\caption{Accuracy (99 \% interval) \& more}" in tex


def test_one_model_summary_renders_with_an_empty_comparison_table(tmp_path):
    """models.enabled: [xgboost] is schema-valid: no figure or table may assume a pair."""
    m = _metrics(np.random.default_rng(4))
    (tmp_path / "xgboost").mkdir()
    metrics_path = tmp_path / "xgboost" / "metrics.json"
    metrics_path.write_text(json.dumps(m, default=float))
    best_path = tmp_path / "xgboost" / "best_params.json"
    best_path.write_text(json.dumps({"params": {"max_depth": 3}}))
    evaluation.reference_comparison({"xgboost": m}).to_csv(tmp_path / "ref.csv", index=False)
    pd.DataFrame([], columns=COMPARISON_COLUMNS).to_csv(tmp_path / "pairs.csv", index=False)
    table = pd.DataFrame({"lg_energy": [19.0, 19.5], "primary": ["proton", "iron"]})
    table.to_parquet(tmp_path / "stations.parquet")
    out = tmp_path / "out"
    reporting.render_summary(
        [metrics_path],
        [best_path],
        tmp_path / "ref.csv",
        tmp_path / "pairs.csv",
        tmp_path / "stations.parquet",
        ["lg_energy"],
        {
            "accuracy": [out / "acc.png"],
            "binned": [out / "binned.png"],
            "features": [out / "features.png"],
            "results_table": out / "results",
            "parameters_table": out / "best_parameters",
            "comparisons_table": out / "pairs",
        },
    )
    assert "Model A" in (out / "pairs.md").read_text()
    assert "max_depth" in (out / "best_parameters.md").read_text()
    assert (out / "acc.png").stat().st_size > 0
