"""Figures and tables draw the numbers they are given (checked through the plotted data)."""

import json

import numpy as np
import pandas as pd
import pytest

from uhecr import evaluation, reporting
from uhecr.evaluation import COMPARISON_COLUMNS, IntervalSettings
from uhecr.reporting.style import error_bars

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
    metrics["binned"] = evaluation.binned_accuracy(frame, label, pred == label, INTERVALS)
    metrics["intervals"] = {"label": INTERVALS.label}
    metrics["split_method"] = "shower"
    proba = np.full((len(label), 4), 0.1)
    proba[np.arange(len(label)), pred] = 0.7
    preds = frame.assign(label=label, prediction=pred, station_id=np.tile(np.arange(m), n_showers))
    for k, c in enumerate(evaluation.CLASSES):
        preds[f"p_{c}"] = proba[:, k]
    metrics["event_level"] = evaluation.event_metrics(evaluation.combine_stations(preds), 0.99)
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


def test_binned_figure_draws_values_and_each_bins_chance_level(tmp_path):
    m = _metrics(np.random.default_rng(2))
    axes = reporting.plot_binned_accuracy({"svm": m}, tmp_path / "binned.png")
    for ax, column in zip(axes, m["binned"], strict=True):
        rows = [r for r in m["binned"][column] if r["n"] > 0]
        (chance,) = [p for p in ax.patches if p.get_label().startswith("chance")]
        np.testing.assert_allclose(chance.get_data().values, [r["chance_accuracy"] for r in rows])
        drawn = [ln for ln in ax.lines if ln.get_linestyle() == "-"][0]
        np.testing.assert_allclose(
            np.asarray(drawn.get_ydata(), dtype=float), [r["value"] for r in rows]
        )


def test_binned_chance_is_the_bins_own_largest_class_share():
    frame = pd.DataFrame(
        {
            "shower_id": [f"s{i}" for i in range(8)],
            "lg_energy": [18.6, 18.6, 18.6, 18.6, 19.9, 19.9, 19.9, 19.9],
            "zenith_deg": 10.0,
            "core_distance_m": 800.0,
        }
    )
    y = np.array([0, 0, 0, 1, 2, 3, 1, 0])
    binned = evaluation.binned_accuracy(frame, y, np.ones(8, bool), INTERVALS)
    energy = [r for r in binned["lg_energy"] if r["n"]]
    assert [r["chance_accuracy"] for r in energy] == [0.75, 0.25]


def test_results_table_columns_and_latex_caption(tmp_path):
    m = _metrics(np.random.default_rng(3))
    table = reporting.results_table(evaluation.reference_comparison({"xgboost": m}))
    row = table.iloc[0]
    acc = m["accuracy"]
    assert row["99% CI (shower bootstrap, BCa)"] == f"[{acc['lower']:.3f}, {acc['upper']:.3f}]"
    assert row["Design effect"] == f"{acc['design_effect']:.2g}"
    lo, hi = acc["wilson_independent"]
    assert (
        row["99% Wilson as if stations were independent (study's convention)"]
        == f"[{lo:.3f}, {hi:.3f}]"
    )
    assert row["Accuracy per shower [99% Wilson]"].startswith(
        f"{m['event_level']['accuracy']['value']:.3f}"
    )
    reporting.write_tables(
        table, tmp_path / "results.md", tmp_path / "results.tex", "Accuracy (99 % interval) & more"
    )
    tex = (tmp_path / "results.tex").read_text()
    assert r"\caption{Accuracy (99 \% interval) \& more}" in tex


def test_one_model_tables_and_figures_with_an_empty_comparison_table(tmp_path):
    """models.enabled: [xgboost] is schema-valid: no figure or table may assume a pair."""
    m = _metrics(np.random.default_rng(4))
    reference = evaluation.reference_comparison({"xgboost": m})
    comparisons = pd.DataFrame([], columns=COMPARISON_COLUMNS)
    comparisons.to_csv(tmp_path / "pairs.csv", index=False)
    comparisons = pd.read_csv(tmp_path / "pairs.csv")  # header-only CSV, as the rule writes it
    out = tmp_path / "out"
    reporting.render_tables(
        reference,
        {"xgboost": {"params": {"max_depth": 3}}},
        comparisons,
        {
            "results": (out / "results.md", out / "results.tex"),
            "parameters": (out / "params.md", out / "params.tex"),
            "comparisons": (out / "pairs.md", out / "pairs.tex"),
        },
    )
    assert "Model A" in (out / "pairs.md").read_text()
    assert r"\begin{tabularx}" in (out / "pairs.tex").read_text()
    assert "max_depth" in (out / "params.md").read_text()
    assert "XGBoost" in (out / "results.md").read_text()
    ax = reporting.plot_accuracy_comparison(reference, out / "acc.png")
    assert (out / "acc.png").stat().st_size > 0 and len(ax.get_yticklabels()) == 5
    reporting.plot_binned_accuracy({"xgboost": m}, out / "binned.png")


def test_paper_main_includes_every_table_and_figure(tmp_path):
    (tmp_path / "figures").mkdir()
    (tmp_path / "tables").mkdir()
    figures = [tmp_path / "figures" / f"{n}.pdf" for n in ("a_b", "c")]
    tables = [tmp_path / "tables" / "results.tex"]
    reporting.write_paper_main(tmp_path / "main.tex", figures, tables, "Run 100% quick")
    tex = (tmp_path / "main.tex").read_text()
    assert r"\input{tables/results.tex}" in tex
    assert "{figures/a_b.pdf}" in tex and "{figures/c.pdf}" in tex
    assert tex.count(r"\includegraphics") == 2
    assert r"\title{Run 100\% quick}" in tex


def _trials():
    return pd.DataFrame(
        {
            "number": [0, 1, 2, 3, 4],
            "value": [0.30, 0.26, 0.33, 0.25, np.nan],
            "state": ["COMPLETE", "PRUNED", "COMPLETE", "PRUNED", "FAIL"],
            "params_C": [0.1, 1.0, 10.0, 100.0, 5.0],
            "params_kernel": ["rbf", "poly", "rbf", "linear", "rbf"],
        }
    )


def test_optimisation_history_draws_complete_and_pruned_trials(tmp_path):
    ax = reporting.plot_optimisation_history(_trials(), tmp_path / "h.png", "t")
    by_label = {ln.get_label(): ln for ln in ax.lines}
    np.testing.assert_allclose(by_label["complete trial"].get_ydata(), [0.30, 0.33])
    pruned = by_label["pruned trial (last reported accuracy)"]
    np.testing.assert_array_equal(pruned.get_xdata(), [1, 3])
    np.testing.assert_allclose(pruned.get_ydata(), [0.26, 0.25])
    np.testing.assert_allclose(by_label["best so far"].get_ydata(), [0.30, 0.33])


def test_params_panels_draw_every_complete_and_pruned_trial(tmp_path):
    axes = reporting.plot_params_vs_accuracy(_trials(), tmp_path / "p.png", "t")
    c_axis, kernel_axis = axes.ravel()[:2]
    drawn = {ln.get_label(): ln for ln in c_axis.lines}
    np.testing.assert_allclose(drawn["complete"].get_xdata(), [0.1, 10.0])
    np.testing.assert_allclose(drawn["pruned (last report)"].get_xdata(), [1.0, 100.0])
    assert c_axis.get_xscale() == "log"
    labels = [t.get_text() for t in kernel_axis.get_xticklabels()]
    assert labels == ["linear", "poly", "rbf"]
    kernel_pruned = {ln.get_label(): ln for ln in kernel_axis.lines}["pruned (last report)"]
    np.testing.assert_array_equal(kernel_pruned.get_xdata(), [1, 0])  # poly, linear


def test_confusion_figure_draws_row_fractions(tmp_path):
    m = _metrics(np.random.default_rng(5))
    ax = reporting.plot_confusion(m, tmp_path / "c.png", "t")
    cm = np.asarray(m["confusion_matrix"], dtype=float)
    np.testing.assert_allclose(ax.images[0].get_array(), cm / cm.sum(axis=1, keepdims=True))


def test_validation_figures_draw_the_checked_numbers(tmp_path):
    rows = [
        {
            "primary": p,
            "lg_energy": lg,
            "mean_target": 750 + 10 * lg - 50 * k,
            "mean_sampled": 751 + 10 * lg - 50 * k,
            "sigma_target": 60 - 10 * k,
            "sigma_sampled": 61 - 10 * k,
        }
        for k, p in enumerate(("proton", "iron"))
        for lg in (18.5, 19.0, 19.5)
    ]
    ax_mean, ax_sigma = reporting.plot_xmax_check(rows, tmp_path / "x.png")
    sampled = {ln.get_label(): ln for ln in ax_mean.lines}["iron (sampled)"]
    np.testing.assert_allclose(sampled.get_ydata(), [r["mean_sampled"] for r in rows[3:]])
    flucts = [{"sec_zenith": s, "sigma_over_sqrt_s": 0.32 + 0.42 * s} for s in (1.0, 1.5, 2.0)]
    ax = reporting.plot_fluctuation_check(flucts, tmp_path / "f.png")
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [r["sigma_over_sqrt_s"] for r in flucts])


def test_latex_tables_compile_and_fit_article_and_two_column_pages(tmp_path):
    from latex import compile_pdf, latex_problems

    m = _metrics(np.random.default_rng(6))
    reference = evaluation.reference_comparison({"xgboost": m, "svm": m})
    rows = [
        {
            "model_a": "svm", "model_b": "xgboost", "accuracy_a": 0.3, "accuracy_b": 0.2,
            "difference": 0.1, "difference_lower": 0.01, "difference_upper": 0.2,
            "design_effect": 5.0, "p_value": 0.001, "p_holm": 0.001, "significant": True,
            "p_mcnemar_independent": 1e-9, "alpha": 0.01,
        }
    ]  # fmt: skip
    out = tmp_path / "tables"
    reporting.render_tables(
        reference,
        {"svm": {"params": {"C": 0.5, "kernel": "rbf_with_a_long_name"}}},
        pd.DataFrame(rows),
        {
            "results": (out / "results.md", out / "results.tex"),
            "parameters": (out / "params.md", out / "params.tex"),
            "comparisons": (out / "pairs.md", out / "pairs.tex"),
        },
    )
    tables = sorted(out.glob("*.tex"))
    for cls in ("article", "article,twocolumn"):
        folder = tmp_path / cls.replace(",", "_")
        folder.mkdir()
        reporting.write_paper_main(folder / "main.tex", [], [], "100% & more_test")
        main = folder / "main.tex"
        text = main.read_text().replace(
            r"\documentclass{article}", rf"\documentclass[{cls}]{{article}}"
        )
        text = text.replace(r"\clearpage", "\n".join(rf"\input{{{t}}}" for t in tables))
        main.write_text(text)
        pdf, log = compile_pdf(main)
        assert latex_problems(log) == [], cls
        assert pdf.stat().st_size > 1000


def _every_figure(folder, style) -> dict[str, object]:
    """Each figure function once, as PDF, with ``style``; name -> the figure object."""
    m = _metrics(np.random.default_rng(7))
    rng = np.random.default_rng(8)
    ranges = {  # the default features, with the value ranges of a real run (tick label widths)
        "lg_energy": (18.5, 20.0), "zenith_deg": (0, 60), "zeta_rad": (-np.pi, np.pi),
        "core_distance_m": (200, 4500), "lg_total_signal": (0.3, 3.8),
        "trace_length_ns": (500, 11000), "rise_time_ns": (50, 1600), "fall_time_ns": (50, 4000),
        "area_over_peak": (1, 12),
    }  # fmt: skip
    table = pd.DataFrame({f: rng.uniform(lo, hi, 400) for f, (lo, hi) in ranges.items()})
    table["primary"] = np.repeat(["proton", "helium", "oxygen", "iron"], 100)
    xmax = [
        {"primary": p, "lg_energy": lg, "mean_target": 750.0, "mean_sampled": 751.0,
         "sigma_target": 50.0, "sigma_sampled": 51.0}
        for p in ("proton", "iron") for lg in (18.5, 19.5)
    ]  # fmt: skip
    multiplicity = [
        {"zenith_deg": z, "lg_energy": lg, "mean_stations": 5.0 + lg - 18, "error": 0.3,
         "target": 5.0 + lg - 18}
        for z in (0.0, 38.0) for lg in (18.5, 19.5)
    ]  # fmt: skip
    calls = {
        "accuracy": lambda p: reporting.plot_accuracy_comparison(
            evaluation.reference_comparison({"svm": m, "xgboost": m}), p, style=style
        ),
        "binned": lambda p: reporting.plot_binned_accuracy({"svm": m}, p, style=style),
        "confusion": lambda p: reporting.plot_confusion(m, p, "SVM\nsecond line", style=style),
        "history": lambda p: reporting.plot_optimisation_history(_trials(), p, "t", style=style),
        "params": lambda p: reporting.plot_params_vs_accuracy(_trials(), p, "t", style=style),
        "features": lambda p: reporting.plot_feature_distributions(
            table, list(ranges), p, style=style
        ),
        "xmax": lambda p: reporting.plot_xmax_check(xmax, p, style=style),
        "multiplicity": lambda p: reporting.plot_multiplicity_check(multiplicity, p, style=style),
    }
    figures = {}
    for name, call in calls.items():
        drawn = call(folder / f"{name}.pdf")
        first = np.ravel(np.asarray(drawn, dtype=object))[0]
        figures[name] = first.figure
    return figures


def _fonts(page) -> list:
    fonts = page["/Resources"].get("/Font", {})
    return [f.get_object() for f in fonts.values()]


@pytest.mark.slow
@pytest.mark.parametrize(
    "style",
    [
        reporting.FigureStyle(),
        reporting.FigureStyle(column_width_in=3.3, text_width_in=6.9, font_size_pt=7.5),
    ],
)
def test_paper_figures_have_the_configured_size_fonts_and_embedded_truetype(tmp_path, style):
    """One column or the text width, every text at the caption size and inside the figure,
    TrueType fonts embedded (no Type 3): what a journal's production checks."""
    import matplotlib.text
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from pypdf import PdfReader

    figures = _every_figure(tmp_path, style)
    text_wide = {"accuracy", "binned", "params", "features", "xmax"}
    for name, fig in figures.items():
        width_in = style.text_width_in if name in text_wide else style.column_width_in
        page = PdfReader(tmp_path / f"{name}.pdf").pages[0]
        assert float(page.mediabox.width) == pytest.approx(72 * width_in, abs=0.5), name
        fonts = _fonts(page)
        assert fonts, name
        for font in fonts:
            assert font["/Subtype"] in ("/Type0", "/TrueType"), (name, font["/Subtype"])
            descendant = (
                font["/DescendantFonts"][0].get_object() if "/Type0" == font["/Subtype"] else font
            )
            assert "/FontFile2" in descendant["/FontDescriptor"].get_object(), (name, font)
        for t in fig.findobj(matplotlib.text.Text):
            if t.get_visible() and t.get_text().strip():
                assert t.get_fontsize() == pytest.approx(style.font_size_pt), (name, t.get_text())
        canvas = FigureCanvasAgg(fig)  # the figure was saved and closed: draw it once more
        canvas.draw()
        renderer = canvas.get_renderer()
        for t in _drawn_texts(fig):
            extent = t.get_window_extent(renderer)
            assert fig.bbox.x0 - 1 <= extent.x0 and extent.x1 <= fig.bbox.x1 + 1, (name, t)
            assert fig.bbox.y0 - 1 <= extent.y0 and extent.y1 <= fig.bbox.y1 + 1, (name, t)


def _drawn_texts(fig) -> list:
    """Texts that are drawn: labels, titles, legends, annotations, ticks inside the view."""
    texts = list(fig.texts) + [t for legend in fig.legends for t in legend.get_texts()]
    for ax in fig.axes:
        if not ax.get_visible() or not ax.axison:
            continue
        texts += [ax.xaxis.label, ax.yaxis.label, ax.title, *ax.texts]
        if ax.get_legend():
            texts += ax.get_legend().get_texts()
        for axis in (ax.xaxis, ax.yaxis):
            low, high = sorted(axis.get_view_interval())
            texts += [
                tick.label1
                for tick in axis.get_major_ticks()
                if low <= tick.get_loc() <= high and tick.label1.get_visible()
            ]
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def test_validation_table_lists_every_check_and_counts_failures(tmp_path):
    from uhecr import simulation_validation as val

    rows = [
        val.check_row("multiplicity", "lg E 19.0, 0 deg", 5.9, 6.8, 0.06, 300),
        val.check_row("multiplicity", "lg E 19.0, 38 deg", 5.0, 9.2, 0.08, 300),
        val.check_row("risetime_1000m", "proton, 0 deg", 340.0, 335.0, 9.0, 3),
    ]
    checks_path = tmp_path / "checks.json"
    checks_path.write_text(json.dumps({"table": rows}))
    md, tex = tmp_path / "v.md", tmp_path / "v.tex"
    reporting.render_validation_table(checks_path, md, tex)
    full, per_check = reporting.validation_tables({"table": rows})
    assert full["status"].tolist() == ["pass", "fail", "not measured"]
    counts = per_check.set_index("check")
    assert counts.loc["multiplicity", ["cases", "passed", "failed"]].tolist() == [2, 1, 1]
    assert counts.loc["risetime 1000m", "passed"] == 0
    text = md.read_text()
    assert "lg E 19.0, 38 deg" in text and "| fail" in text
    assert "multiplicity" in tex.read_text() and "tabularx" in tex.read_text()


def test_composition_figure_draws_the_fitted_fractions_and_the_truth(tmp_path):
    from uhecr import composition as comp

    rng = np.random.default_rng(0)
    label = np.repeat(np.arange(4), 120)
    showers = pd.DataFrame(
        {
            "shower_id": [f"s:{k}" for k in range(len(label))],
            "label": label,
            "lg_energy": rng.uniform(18.5, 20.0, len(label)),
            "ln_a_score": rng.normal(np.array([1.6, 1.9, 2.2, 2.5])[label], 0.15),
            "xmax": 750.0,
        }
    )
    settings = comp.CompositionSettings(
        lg_energy_bins=(18.5, 19.25, 20.0), showers_per_experiment=20, pseudo_experiments=5
    )
    experiments = comp.run_pseudo_experiments(showers, settings, seed=2)
    summary = comp.summarise(experiments).join(
        experiments.groupby("lg_energy_bin")[["lg_energy_min", "lg_energy_max"]].first(),
        on="lg_energy_bin",
    )
    axes = reporting.plot_composition(summary, tmp_path / "c.png", "test")
    assert (tmp_path / "c.png").stat().st_size > 0
    mixtures = list(dict.fromkeys(summary["mixture"]))
    first = summary[(summary["mixture"] == mixtures[0]) & (summary["quantity"] == "f_proton")]
    proton_line, truth_line = axes[0].get_lines()[:2]
    np.testing.assert_allclose(proton_line.get_xdata(), [18.875, 19.625])
    np.testing.assert_allclose(proton_line.get_ydata(), first.sort_values("lg_energy_bin")["mean"])
    np.testing.assert_allclose(truth_line.get_ydata(), first["truth"])
    assert axes[0].get_title() == mixtures[0].replace("_", " ")
    table = reporting.composition_table({"svm": summary})
    assert len(table) == len(mixtures) and {"fit bias", "Xmax coverage"} <= set(table.columns)


def test_shower_accuracy_figure_draws_the_per_shower_values(tmp_path):
    m = _metrics(np.random.default_rng(3))
    axes = reporting.plot_shower_accuracy({"svm": m}, tmp_path / "showers.png")
    binned = m["event_level"]["binned"]
    assert [ax.get_xlabel() for ax in axes] == [
        reporting.FEATURE_LABELS[c] for c in ("lg_energy", "zenith_deg")
    ]
    for ax, column in zip(axes, binned, strict=True):
        rows = [r for r in binned[column] if r["n"] > 0]
        drawn = [ln for ln in ax.lines if ln.get_linestyle() == "-"][0]
        np.testing.assert_allclose(np.asarray(drawn.get_ydata(), float), [r["value"] for r in rows])
        (chance,) = [p for p in ax.patches if p.get_label().startswith("chance")]
        np.testing.assert_allclose(chance.get_data().values, [r["chance_accuracy"] for r in rows])


def test_a_bin_with_no_right_shower_is_drawn(tmp_path):
    """0 of 13 showers right in a bin: statsmodels' Wilson lower bound is 2.8e-17, above the
    value 0 (a negative bar, which matplotlib refuses: a two-model run on a user's files
    failed in rule summary_figures). The point is drawn at 0 with its upper bar."""
    m = _metrics(np.random.default_rng(3))
    row = next(r for r in m["event_level"]["binned"]["zenith_deg"] if r["n"] > 0)
    row.update(value=0.0, lower=2.7755575615628914e-17, upper=0.3379, n=13)
    axes = reporting.plot_shower_accuracy({"xgboost": m}, tmp_path / "showers.png")
    drawn = [ln for ln in axes[1].lines if ln.get_linestyle() == "-"][0]
    assert drawn.get_ydata()[0] == 0.0
    bars = error_bars([0.0, 0.5, np.nan], [2.8e-17, 0.6, np.nan], [0.34, 0.7, np.nan])
    np.testing.assert_allclose(bars[:, :2], [[0.0, 0.0], [0.34, 0.2]])
    assert np.isnan(bars[:, 2]).all()  # no interval, no bar


def test_shower_level_models_show_only_per_shower_numbers(tmp_path):
    """A shower-level model (not in the study) gets a row, no per-station numbers and no
    reference; the figure draws only its per-shower point."""
    station, shower = _metrics(np.random.default_rng(5)), _metrics(np.random.default_rng(6))
    shower["unit"] = "shower"
    reference = evaluation.reference_comparison({"svm": station, "deepsets": shower})
    table = reporting.results_table(reference).set_index("Model")
    deep = table.loc["Deep Sets (shower)"]
    assert (
        deep["Classifies"] == "showers"
        and deep["Reference (Table 7.13, 99%)"] == "not in the study"
    )
    assert deep["Accuracy per station"] == "n/a (classifies showers)"
    assert deep["Accuracy per shower [99% Wilson]"].startswith(
        f"{shower['event_level']['accuracy']['value']:.3f}"
    )
    assert table.loc["SVM", "Classifies"] == "stations"
    ax = reporting.plot_accuracy_comparison(reference, tmp_path / "acc.png")
    row = list(reference["model"]).index("deepsets")
    station_points = [c for c in ax.containers if c.get_label().startswith("per station, split")]
    (points,) = station_points
    assert row not in np.round(points.lines[0].get_ydata()).astype(int)
    shower_points = [c for c in ax.containers if c.get_label().startswith("per shower")]
    y_drawn = np.asarray(shower_points[0].lines[0].get_ydata()) - 0.4
    assert row in np.round(y_drawn).astype(int)
    # Only shower-level models: the per-station binned figure says so instead of failing.
    axes = reporting.plot_binned_accuracy(
        {"deepsets": {**shower, "binned": None}}, tmp_path / "b.png"
    )
    assert "no station-level model" in axes[0].texts[0].get_text()


def test_one_colour_per_primary_in_every_figure():
    """The validation and composition figures draw a primary in one colour: one map from the
    primaries to colours, which the composition figure uses too (it once had its own, protons
    blue and iron red against red and blue elsewhere)."""
    import inspect

    from uhecr.showers import CLASSES

    maps = [
        name
        for name, value in vars(reporting).items()
        if isinstance(value, dict) and set(value) == set(CLASSES)
    ]
    assert maps == ["PRIMARY_COLORS"], maps
    assert "PRIMARY_COLORS[cls]" in inspect.getsource(reporting.plot_composition)
