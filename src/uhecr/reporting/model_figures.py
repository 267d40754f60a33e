"""Figures of the models: sweeps, confusion matrices, accuracies and their comparison."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd

from uhecr.models import LABELS
from uhecr.reporting.formatting import interval_text, percent
from uhecr.reporting.style import (
    FEATURE_LABELS,
    FigureStyle,
    error_bars,
    new_figure,
    save_figure,
    styled,
)


@styled
def plot_confusion(metrics: dict, path, title: str, *, style: FigureStyle):
    cm = np.asarray(metrics["confusion_matrix"], dtype=float)
    frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ((ax,),) = new_figure(style, height=0.95 * style.column_width_in)
    im = ax.imshow(frac, cmap="Blues", vmin=0, vmax=1)
    classes = metrics["classes"]
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.minorticks_off()
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                f"{frac[i, j]:.2f}\n({int(cm[i, j])})",
                ha="center",
                va="center",
                color="white" if frac[i, j] > 0.5 else "black",
            )
    ax.set_xlabel("predicted primary")
    ax.set_ylabel("true primary")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04).set_label("fraction of true class")
    save_figure(fig, path)
    return ax


@styled
def plot_accuracy_comparison(table: pd.DataFrame, path, *, style: FigureStyle):
    """Per-station test accuracy (shower bootstrap; Wilson as if independent) and per-shower
    accuracy, next to the reference study's Table 7.13. Returns the axes (for tests)."""
    fig, ((ax,),) = new_figure(style, "text", height=1.9 + 0.35 * len(table))
    y = np.arange(len(table))
    has = table["accuracy"].notna() if "accuracy" in table else pd.Series(False, index=table.index)
    # Shower-level models have no per-station accuracy: only their per-shower point is drawn.
    per_station = has & (table["unit"] == "station") if "unit" in table else has
    if has.any():
        t = table[has]
        conf = percent(t["confidence"].iloc[0])
        split = t["split_method"].iloc[0]
        # (rows, value, interval columns, row offset, style, legend label) of each series.
        series = [
            (per_station, "accuracy", ("lower", "upper"), 0.0, {"fmt": "o", "color": "k"},
             f"per station, split by {split}: {t['interval_label'].iloc[0]}"),
            (per_station, "accuracy", ("wilson_independent_lower", "wilson_independent_upper"),
             -0.2, {"fmt": "none", "ecolor": "grey"},
             f"per station: {conf} Wilson as if stations were independent"),
            (has, "event_accuracy", ("event_lower", "event_upper"), 0.4,
             {"fmt": "D", "color": "tab:blue"},
             f"per shower (shower models, or stations combined): {conf} Wilson, n = showers"),
        ]  # fmt: skip
        for which, value, (lower, upper), offset, style, label in series:
            if not which.any():
                continue
            t = table[which]
            ax.errorbar(
                t[value],
                y[which.to_numpy()] + offset,
                xerr=error_bars(t[value], t[lower], t[upper]),
                label=label,
                **style,
            )
        if per_station.any():
            ax.axvline(
                float(table.loc[per_station, "chance_accuracy"].max()),
                ls=":",
                color="grey",
                label="chance: largest class share of the test stations",
            )
    if "reference_accuracy" in table and table["reference_accuracy"].notna().any():
        ax.errorbar(
            table["reference_accuracy"],
            y + 0.2,
            xerr=table["reference_halfwidth_n_test"],
            fmt="s",
            color="tab:red",
            label="reference study, 99% interval recomputed with n = 16,016",
        )
    ax.set_yticks(y + 0.1, table["label"])
    ax.minorticks_off()
    ax.set(xlabel="test accuracy", xlim=(0, 1))
    fig.legend(loc="outside lower center", ncol=1)
    save_figure(fig, path)
    return ax


def _binned_panels(binned: dict[str, dict], path, ylabel: str, style: FigureStyle):
    """One panel per binning column: each model's accuracy with its interval bars, and the
    bins' chance level (a step line: the classes are not balanced within bins).
    ``binned``: model -> column -> rows (low, high, value, lower, upper, n, chance_accuracy);
    an open last bin (core distance) is drawn up to 1.5 x the last lower edge + 1."""
    first = next(iter(binned.values()))
    columns = list(first)
    fig, (axes,) = new_figure(style, "text", ncols=len(columns), height=2.9)
    for ax, column in zip(axes, columns, strict=True):
        for name, per_column in binned.items():
            rows = pd.DataFrame(per_column[column])
            rows = rows[rows["n"] > 0]
            x = 0.5 * (rows["low"] + rows["high"].clip(upper=rows["low"].max() * 1.5 + 1))
            ax.errorbar(
                x,
                rows["value"],
                yerr=error_bars(rows["value"], rows["lower"], rows["upper"]),
                fmt="o-",
                label=LABELS.get(name, name),
            )
        bins = pd.DataFrame(first[column])
        bins = bins[bins["n"] > 0]
        high = bins["high"].clip(upper=bins["low"].max() * 1.5 + 1)
        ax.stairs(
            bins["chance_accuracy"].to_numpy(),
            np.r_[bins["low"].to_numpy(), high.to_numpy()[-1]],
            baseline=None,
            ls=":",
            color="grey",
            label="chance (largest class share in the bin)",
        )
        ax.set(xlabel=FEATURE_LABELS.get(column, column), ylabel=ylabel, ylim=(0, 1))
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3)
    save_figure(fig, path)
    return axes


@styled
def plot_binned_accuracy(metrics: dict[str, dict], path, *, style: FigureStyle):
    """Accuracy in bins with shower-bootstrap intervals and each bin's chance level."""
    binned = {name: m["binned"] for name, m in metrics.items() if m.get("binned")}
    if not binned:  # only shower-level models: nothing is scored per station
        fig, ((ax,),) = new_figure(style, "text", height=1.5)
        ax.text(0.5, 0.5, "no station-level model enabled", ha="center", va="center")
        ax.set_axis_off()
        save_figure(fig, path)
        return [ax]
    return _binned_panels(binned, path, "test accuracy per station", style)


@styled
def plot_shower_accuracy(metrics: dict[str, dict], path, *, style: FigureStyle):
    """Per-shower accuracy (stations' probabilities combined) in bins of lg E and zenith, with
    Wilson intervals over showers; chance = each bin's largest class share."""
    binned = {name: m["event_level"]["binned"] for name, m in metrics.items()}
    return _binned_panels(binned, path, "test accuracy per shower", style)


@styled
def plot_optimisation_history(trials: pd.DataFrame, path, title: str, *, style: FigureStyle):
    """Validation accuracy per trial; pruned trials at their last reported accuracy."""
    fig, ((ax,),) = new_figure(style)
    done = trials[trials["state"] == "COMPLETE"].sort_values("number")
    pruned = trials[(trials["state"] == "PRUNED") & trials["value"].notna()]
    ax.plot(done["number"], done["value"], "o", label="complete trial")
    if len(pruned):
        ax.plot(
            pruned["number"],
            pruned["value"],
            "x",
            color="grey",
            label="pruned trial (last reported accuracy)",
        )
    ax.step(
        done["number"], done["value"].cummax(), where="post", color="tab:red", label="best so far"
    )
    ax.set(xlabel="trial number", ylabel="validation accuracy", title=title)
    ax.legend()
    save_figure(fig, path)
    return ax


@styled
def plot_params_vs_accuracy(trials: pd.DataFrame, path, title: str, *, style: FigureStyle):
    """Validation accuracy against each hyper-parameter (the study's Figs. 7.5-7.26); pruned
    trials are drawn too, as crosses at their last reported accuracy. Returns the axes."""
    shown = trials[trials["state"].isin(["COMPLETE", "PRUNED"]) & trials["value"].notna()]
    params = [c for c in trials.columns if c.startswith("params_")]
    n = max(len(params), 1)
    ncols = min(4, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = new_figure(style, "text", ncols=ncols, nrows=nrows, height=0.5 + 1.6 * nrows)
    for ax, p in zip(axes.ravel(), params, strict=False):
        x = shown[p]
        categorical = not pd.api.types.is_numeric_dtype(x) or pd.api.types.is_bool_dtype(x)
        if categorical:
            cats = sorted(x.dropna().astype(str).unique())
            x = x.astype(str).map({c: i for i, c in enumerate(cats)})
            ax.set_xticks(range(len(cats)), cats, rotation=20)
            ax.minorticks_off()
        elif p.replace("params_", "") in ("C", "learning_rate", "lr", "min_child_weight"):
            ax.set_xscale("log")
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        for state, marker, color, label in (
            ("COMPLETE", "o", "tab:blue", "complete"),
            ("PRUNED", "x", "grey", "pruned (last report)"),
        ):
            sel = (shown["state"] == state).to_numpy() & x.notna().to_numpy()
            ax.plot(
                x[sel], shown["value"][sel], marker, color=color, alpha=0.8, ls="none", label=label
            )
        ax.set_xlabel(p.replace("params_", ""))
        ax.set_ylabel("val. accuracy")
    for ax in axes.ravel()[len(params) :]:
        ax.axis("off")
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2)
    fig.suptitle(title)
    save_figure(fig, path)
    return axes


def render_model_figures(
    name: str, metrics_path, trials_path, outputs: dict[str, list], style: FigureStyle
) -> None:
    """Optimisation history, hyper-parameters vs accuracy and test confusion matrix of one model."""
    label = LABELS.get(name, name)
    metrics = json.loads(Path(metrics_path).read_text())
    trials = pd.read_csv(trials_path)
    acc = metrics["accuracy"]
    for path in outputs["history"]:
        plot_optimisation_history(trials, path, f"{label}: optimisation history", style=style)
    for path in outputs["params"]:
        plot_params_vs_accuracy(trials, path, f"{label}: hyper-parameters", style=style)
    unit = metrics.get("unit", "station")
    title = (
        f"{label}: test accuracy per {unit} {acc['value']:.3f}\n"
        f"{percent(acc['confidence'])} CI {interval_text(acc['lower'], acc['upper'])} (shower bootstrap)"
    )
    for path in outputs["confusion"]:
        plot_confusion(metrics, path, title, style=style)
