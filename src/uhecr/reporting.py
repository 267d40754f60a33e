"""Figures and tables. Every plotting function writes one figure file (PNG, or PDF by suffix)."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from uhecr.models import LABELS  # noqa: E402

PRIMARY_COLORS = {
    "proton": "tab:red",
    "helium": "tab:orange",
    "oxygen": "tab:green",
    "iron": "tab:blue",
}


@dataclass(frozen=True)
class FigureStyle:
    """Figure sizes and fonts for a paper (config ``figures``): one column or the full text
    width, every text (ticks, labels, legends, titles) at the caption's font size, TrueType
    fonts embedded in PDFs (journals reject Type 3 fonts)."""

    column_width_in: float = 3.4
    text_width_in: float = 7.0
    font_size_pt: float = 8.0
    png_dpi: int = 200

    @classmethod
    def from_config(cls, figures: dict | None) -> FigureStyle:
        return cls(**(figures or {}))

    def width(self, span: str) -> float:
        return {"column": self.column_width_in, "text": self.text_width_in}[span]

    def rc(self) -> dict:
        size = self.font_size_pt
        sizes = ("font.size", "axes.labelsize", "axes.titlesize", "figure.titlesize")
        sizes += ("xtick.labelsize", "ytick.labelsize", "legend.fontsize", "legend.title_fontsize")
        return {
            **dict.fromkeys(sizes, size),
            "pdf.fonttype": 42,
            "ps.fonttype": 42,
            "font.family": "sans-serif",
            "mathtext.fontset": "dejavusans",
            "axes.linewidth": 0.6,
            "lines.linewidth": 1.0,
            "lines.markersize": 3.5,
            "errorbar.capsize": 2.0,
            "xtick.direction": "in",
            "ytick.direction": "in",
            "xtick.top": True,
            "ytick.right": True,
            "xtick.minor.visible": True,
            "ytick.minor.visible": True,
            "legend.frameon": False,
            "savefig.dpi": self.png_dpi,
        }


def _styled(plot):
    """Run a plotting function with ``style`` (keyword, default FigureStyle()) applied."""

    @functools.wraps(plot)
    def wrapper(*args, style: FigureStyle | None = None, **kwargs):
        style = style or FigureStyle()
        with matplotlib.rc_context(style.rc()):
            return plot(*args, style=style, **kwargs)

    return wrapper


def _figure(style: FigureStyle, span: str = "column", ncols: int = 1, nrows: int = 1, height=None):
    """A figure one column or the text width wide; panel height from the panel width."""
    width = style.width(span)
    height = height or min(0.75 * width / ncols, 2.6) * nrows
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained"
    )
    return fig, axes


def _save(fig, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


@_styled
def plot_xmax_check(rows: list[dict], path, *, style: FigureStyle):
    df = pd.DataFrame(rows)
    fig, ((ax_m, ax_s),) = _figure(style, "text", ncols=2)
    for primary, g in df.groupby("primary", sort=False):
        c = PRIMARY_COLORS[primary]
        ax_m.plot(g["lg_energy"], g["mean_target"], color=c, label=f"{primary} (parametrisation)")
        ax_m.plot(g["lg_energy"], g["mean_sampled"], "o", color=c, label=f"{primary} (sampled)")
        ax_s.plot(g["lg_energy"], g["sigma_target"], color=c)
        ax_s.plot(g["lg_energy"], g["sigma_sampled"], "o", color=c)
    ax_m.set(
        xlabel=r"$\lg(E/\mathrm{eV})$", ylabel=r"$\langle X_\mathrm{max}\rangle$ [g cm$^{-2}$]"
    )
    ax_s.set(xlabel=r"$\lg(E/\mathrm{eV})$", ylabel=r"$\sigma(X_\mathrm{max})$ [g cm$^{-2}$]")
    fig.legend(loc="outside lower center", ncol=4)
    _save(fig, path)
    return ax_m, ax_s


@_styled
def plot_multiplicity_check(rows: list[dict], path, *, style: FigureStyle):
    df = pd.DataFrame(rows)
    fig, ((ax,),) = _figure(style, height=0.75 * style.column_width_in + 0.6)
    for zen, g in df.groupby("zenith_deg"):
        line = ax.errorbar(
            g["lg_energy"],
            g["mean_stations"],
            yerr=g["error"],
            fmt="o",
            label=rf"toy MC, $\theta={zen:.0f}^\circ$",
        )
        ax.plot(
            g["lg_energy"],
            g["target"],
            "--",
            color=line[0].get_color(),
            label=rf"sheet target, $\theta={zen:.0f}^\circ$",
        )
    ax.set(xlabel=r"$\lg(E/\mathrm{eV})$", ylabel="triggered stations per event", yscale="log")
    ax.yaxis.set_major_formatter(matplotlib.ticker.ScalarFormatter())
    ax.yaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_yticks([3, 5, 10, 20, 40])
    fig.legend(loc="outside lower center", ncol=2)
    _save(fig, path)
    return ax


@_styled
def plot_risetime_check(table: pd.DataFrame, rows: list[dict], path, *, style: FigureStyle):
    fig, ((ax,),) = _figure(style, height=0.75 * style.column_width_in + 0.6)
    bins = np.linspace(300, 3000, 19)
    centers = 0.5 * (bins[1:] + bins[:-1])
    band = table[(table["zenith_deg"] - 38).abs() < 8]
    for primary, g in band.groupby("primary", observed=True):
        idx = np.digitize(g["core_distance_m"], bins) - 1
        med = [
            g["rise_time_ns"][idx == i].median() if (idx == i).sum() >= 5 else np.nan
            for i in range(len(centers))
        ]
        ax.plot(
            centers,
            med,
            "o-",
            color=PRIMARY_COLORS[primary],
            label=rf"{primary}, $\theta=38\pm8^\circ$",
        )
    for r in rows:
        if r["zenith_deg"] == 38.0:
            ax.plot(
                [1000],
                [r["target"]],
                "*",
                ms=9,
                color=PRIMARY_COLORS[r["primary"]],
                markeredgecolor="k",
                label=f"sheet target {r['primary']} @ 1000 m",
            )
    ax.set(xlabel="distance to shower axis [m]", ylabel=r"median rise time $t_{1/2}$ [ns]")
    fig.legend(loc="outside lower center", ncol=2)
    _save(fig, path)
    return ax


@_styled
def plot_fluctuation_check(rows: list[dict], path, *, style: FigureStyle):
    df = pd.DataFrame(rows)
    fig, ((ax,),) = _figure(style)
    ax.plot(df["sec_zenith"], df["sigma_over_sqrt_s"], "o", label="toy MC (10 < S < 300 VEM)")
    sec = np.linspace(1.0, 2.1, 50)
    ax.plot(sec, 0.32 + 0.42 * sec, "--", label=r"$\sigma_S/\sqrt{S} = 0.32 + 0.42\,\sec\theta$")
    ax.set(xlabel=r"$\sec\theta$", ylabel=r"$\sigma_S / \sqrt{S}$ [$\sqrt{\mathrm{VEM}}$]")
    ax.legend()
    _save(fig, path)
    return ax


# --------------------------------------------------------------------------- study figures
FEATURE_LABELS = {
    "lg_energy": r"$\lg(E/\mathrm{eV})$",
    "zenith_deg": r"zenith $\theta$ [deg]",
    "azimuth_rad": r"shower azimuth $\phi$ [rad]",
    "zeta_rad": r"shower-plane azimuth $\zeta$ [rad]",
    "core_distance_m": "core distance $r$ [m]",
    "lg_total_signal": r"$\lg(S/\mathrm{VEM})$",
    "total_signal_vem": "total signal $S$ [VEM]",
    "trace_length_ns": "trace length [ns]",
    "rise_time_ns": r"rise time $t_{1/2}$ [ns]",
    "fall_time_ns": "fall time [ns]",
    "area_over_peak": "area over peak",
}


@_styled
def plot_confusion(metrics: dict, path, title: str, *, style: FigureStyle):
    cm = np.asarray(metrics["confusion_matrix"], dtype=float)
    frac = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    fig, ((ax,),) = _figure(style, height=0.95 * style.column_width_in)
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
    _save(fig, path)
    return ax


def _pct(confidence: float) -> str:
    return f"{confidence:.0%}"


def _bars(value, lower, upper):
    """Asymmetric error bars; NaN where no interval exists (such a point gets no bar). A bar is
    never negative (matplotlib refuses one): a Wilson bound at 0 or 1 carries float noise
    (0 successes in 13: lower 2.8e-17 > 0), and a bootstrap interval may exclude its
    estimate; such a bar is drawn to the point (the tables give the interval)."""
    value, lower, upper = (np.asarray(v, dtype=float) for v in (value, lower, upper))
    bars = np.vstack([value - lower, upper - value])
    with np.errstate(invalid="ignore"):
        return np.where(bars < 0, 0.0, bars)  # NaN stays NaN


@_styled
def plot_accuracy_comparison(table: pd.DataFrame, path, *, style: FigureStyle):
    """Per-station test accuracy (shower bootstrap; Wilson as if independent) and per-shower
    accuracy, next to the reference study's Table 7.13. Returns the axes (for tests)."""
    fig, ((ax,),) = _figure(style, "text", height=1.9 + 0.35 * len(table))
    y = np.arange(len(table))
    has = table["accuracy"].notna() if "accuracy" in table else pd.Series(False, index=table.index)
    # Shower-level models have no per-station accuracy: only their per-shower point is drawn.
    per_station = has & (table["unit"] == "station") if "unit" in table else has
    if has.any():
        t = table[has]
        conf = _pct(t["confidence"].iloc[0])
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
                xerr=_bars(t[value], t[lower], t[upper]),
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
    _save(fig, path)
    return ax


def _binned_panels(binned: dict[str, dict], path, ylabel: str, style: FigureStyle):
    """One panel per binning column: each model's accuracy with its interval bars, and the
    bins' chance level (a step line: the classes are not balanced within bins).
    ``binned``: model -> column -> rows (low, high, value, lower, upper, n, chance_accuracy);
    an open last bin (core distance) is drawn up to 1.5 x the last lower edge + 1."""
    first = next(iter(binned.values()))
    columns = list(first)
    fig, (axes,) = _figure(style, "text", ncols=len(columns), height=2.9)
    for ax, column in zip(axes, columns, strict=True):
        for name, per_column in binned.items():
            rows = pd.DataFrame(per_column[column])
            rows = rows[rows["n"] > 0]
            x = 0.5 * (rows["low"] + rows["high"].clip(upper=rows["low"].max() * 1.5 + 1))
            ax.errorbar(
                x,
                rows["value"],
                yerr=_bars(rows["value"], rows["lower"], rows["upper"]),
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
    _save(fig, path)
    return axes


@_styled
def plot_binned_accuracy(metrics: dict[str, dict], path, *, style: FigureStyle):
    """Accuracy in bins with shower-bootstrap intervals and each bin's chance level."""
    binned = {name: m["binned"] for name, m in metrics.items() if m.get("binned")}
    if not binned:  # only shower-level models: nothing is scored per station
        fig, ((ax,),) = _figure(style, "text", height=1.5)
        ax.text(0.5, 0.5, "no station-level model enabled", ha="center", va="center")
        ax.set_axis_off()
        _save(fig, path)
        return [ax]
    return _binned_panels(binned, path, "test accuracy per station", style)


@_styled
def plot_shower_accuracy(metrics: dict[str, dict], path, *, style: FigureStyle):
    """Per-shower accuracy (stations' probabilities combined) in bins of lg E and zenith, with
    Wilson intervals over showers; chance = each bin's largest class share."""
    binned = {name: m["event_level"]["binned"] for name, m in metrics.items()}
    return _binned_panels(binned, path, "test accuracy per shower", style)


@_styled
def plot_optimisation_history(trials: pd.DataFrame, path, title: str, *, style: FigureStyle):
    """Validation accuracy per trial; pruned trials at their last reported accuracy."""
    fig, ((ax,),) = _figure(style)
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
    _save(fig, path)
    return ax


@_styled
def plot_params_vs_accuracy(trials: pd.DataFrame, path, title: str, *, style: FigureStyle):
    """Validation accuracy against each hyper-parameter (the study's Figs. 7.5-7.26); pruned
    trials are drawn too, as crosses at their last reported accuracy. Returns the axes."""
    shown = trials[trials["state"].isin(["COMPLETE", "PRUNED"]) & trials["value"].notna()]
    params = [c for c in trials.columns if c.startswith("params_")]
    n = max(len(params), 1)
    ncols = min(4, n)
    nrows = int(np.ceil(n / ncols))
    fig, axes = _figure(style, "text", ncols=ncols, nrows=nrows, height=0.5 + 1.6 * nrows)
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
    _save(fig, path)
    return axes


@_styled
def plot_feature_distributions(
    table: pd.DataFrame, features: list[str], path, *, style: FigureStyle
):
    ncols = 3
    nrows = int(np.ceil(len(features) / ncols))
    fig, axes = _figure(style, "text", ncols=ncols, nrows=nrows, height=0.4 + 1.7 * nrows)
    for ax, f in zip(axes.ravel(), features, strict=False):
        values = table[f]
        lo, hi = np.nanpercentile(values, [0.5, 99.5])
        bins = np.linspace(lo, hi, 40)
        for primary, g in table.groupby("primary", observed=True):
            ax.hist(
                g[f].clip(lo, hi),
                bins=bins,
                histtype="step",
                density=True,
                color=PRIMARY_COLORS.get(str(primary)),
                label=str(primary),
            )
        ax.set_xlabel(FEATURE_LABELS.get(f, f))
        ax.set_ylabel("density")
    for ax in axes.ravel()[len(features) :]:
        ax.axis("off")
    handles, labels = axes[0, 0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=4)
    _save(fig, path)
    return axes


# --------------------------------------------------------------------------- tables
def _num(value, fmt: str = ".3f") -> str:
    return "n/a" if value is None or pd.isna(value) else format(value, fmt)


def _interval(lo, hi, digits: int = 3) -> str:
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return "n/a"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def results_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per model: per-station accuracy with its shower-bootstrap interval, design effect,
    the Wilson interval as if stations were independent, and the per-shower accuracy.
    Shower-level models classify whole showers: their per-station cells say so."""
    rows = []
    for _, r in comparison.iterrows():
        if pd.isna(r.get("accuracy")):
            continue
        conf = _pct(r["confidence"])
        stations = r.get("unit", "station") == "station"
        none = "n/a (classifies showers)"
        reference = (
            f"{r['reference_accuracy']:.3f} ± {r['reference_halfwidth_n_test']:.3f}"
            if pd.notna(r.get("reference_accuracy"))
            else "not in the study"
        )
        rows.append(
            {
                "Model": r["label"],
                "Classifies": "stations" if stations else "showers",
                "Accuracy per station": _num(r["accuracy"]) if stations else none,
                r["interval_label"]: _interval(r["lower"], r["upper"]) if stations else none,
                "Design effect": _num(r["design_effect"], ".2g") if stations else none,
                "n stations (effective)": (
                    f"{int(r['n_test'])} ({_num(r['n_effective'], '.0f')})" if stations else none
                ),
                "n showers": int(r["n_test_showers"]),
                f"{conf} Wilson as if stations were independent (study's convention)": (
                    _interval(r["wilson_independent_lower"], r["wilson_independent_upper"])
                    if stations
                    else none
                ),
                f"Accuracy per shower [{conf} Wilson]": (
                    f"{_num(r['event_accuracy'])} {_interval(r['event_lower'], r['event_upper'])}"
                ),
                "Reference (Table 7.13, 99%)": reference,
            }
        )
    return pd.DataFrame(rows)


def parameters_table(best: dict[str, dict]) -> pd.DataFrame:
    """The hyper-parameters each test model was trained with (one row per parameter)."""
    rows = []
    for name, chosen in best.items():
        # What the test model was trained with (early stopping may have cut XGBoost's rounds).
        params = chosen.get("refit_params", chosen.get("params", {}))
        for key, value in params.items():
            rows.append({"Model": LABELS.get(name, name), "Parameter": key, "Value": _fmt(value)})
    return pd.DataFrame(rows, columns=["Model", "Parameter", "Value"])


def comparisons_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Paired comparisons, formatted; an empty table (one model) keeps its header."""
    alpha = comparisons["alpha"].iloc[0] if len(comparisons) else 0.01
    columns = {
        "Compared per": lambda r: r.get("unit", "station"),
        "Model A": lambda r: LABELS.get(r["model_a"], r["model_a"]),
        "Model B": lambda r: LABELS.get(r["model_b"], r["model_b"]),
        "Accuracy A - B": lambda r: _num(r["difference"], "+.3f"),
        f"{_pct(1 - alpha)} CI (shower bootstrap)": lambda r: _interval(
            r["difference_lower"], r["difference_upper"]
        ),
        "Design effect": lambda r: _num(r["design_effect"], ".2g"),
        "p (shower permutation)": lambda r: _num(r["p_value"], ".2e"),
        "p Holm": lambda r: _num(r["p_holm"], ".2e"),
        f"Significant (Holm, alpha {alpha:g})": lambda r: "yes" if r["significant"] else "no",
        "p McNemar as if the units were independent": lambda r: _num(
            r["p_mcnemar_independent"], ".2e"
        ),
    }
    rows = [{k: f(r) for k, f in columns.items()} for _, r in comparisons.iterrows()]
    return pd.DataFrame(rows, columns=list(columns))


def leakage_table(leakage: dict) -> pd.DataFrame:
    """Station-split vs shower-split accuracy, with and without shower-constant features."""
    names = {
        "all_features": "all features",
        "without_shower_constant_features": "without "
        + ", ".join(leakage["shower_constant_features"]),
    }
    rows = []
    for variant, res in leakage["variants"].items():
        for split in ("station", "shower"):
            r = res[split]
            rows.append(
                {
                    "Features": names.get(variant, variant),
                    "Split": f"by {split}",
                    "Accuracy per station": f"{r['value']:.3f}",
                    f"{_pct(r['confidence'])} CI (shower bootstrap)": _interval(
                        r["lower"], r["upper"]
                    ),
                    "n stations": r["n"],
                    "Test stations whose shower is in training": (
                        f"{r['fraction_test_stations_with_shower_in_train']:.1%}"
                    ),
                }
            )
        rows.append(
            {
                "Features": names.get(variant, variant),
                "Split": "inflation (station - shower)",
                "Accuracy per station": f"{res['inflation']:+.3f}",
                f"{_pct(r['confidence'])} CI (shower bootstrap)": "",
                "n stations": "",
                "Test stations whose shower is in training": "",
            }
        )
    return pd.DataFrame(rows)


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)


def latex_escape(text: str) -> str:
    """Escape LaTeX special characters of plain text (captions)."""
    special = {
        "\\": r"\textbackslash{}",
        "%": r"\%",
        "&": r"\&",
        "#": r"\#",
        "_": r"\_",
        "$": r"\$",
        "{": r"\{",
        "}": r"\}",
        "~": r"\textasciitilde{}",
        "^": r"\textasciicircum{}",
    }
    return "".join(special.get(c, c) for c in text)


def latex_table(df: pd.DataFrame, caption: str, label: str) -> str:
    """A LaTeX table that fits the text width of ``article`` and of two-column journal classes:
    ``table*`` (spans both columns) with a ``tabularx`` whose columns after the first wrap."""
    if len(df.columns) == 0:
        raise ValueError("a table needs at least one column")
    body = df.to_latex(index=False, escape=True, column_format="l" * len(df.columns))
    body = body.replace("±", r"$\pm$")
    # \hspace{0pt} lets even a column's first word hyphenate (narrow columns, long words).
    wrap = r">{\raggedright\arraybackslash\hspace{0pt}}X"
    spec = "l" + wrap * (len(df.columns) - 1)
    start = body.index(r"\begin{tabular}")
    end = body.index("\n", start)
    body = (body[:start] + rf"\begin{{tabularx}}{{\textwidth}}{{{spec}}}" + body[end:]).replace(
        r"\end{tabular}", r"\end{tabularx}"
    )
    return (
        "\\begin{table*}[htbp]\n\\centering\n\\footnotesize\n"
        # Narrower gaps between columns: up to 10 columns and seven model names fit the width.
        + "\\setlength{\\tabcolsep}{3pt}\n"
        + rf"\caption{{{latex_escape(caption)}}}"
        + "\n"
        + rf"\label{{tab:{label}}}"
        + "\n"
        + body
        + "\\end{table*}\n"
    )


def write_tables(df: pd.DataFrame, markdown, latex, caption: str) -> None:
    """One table as Markdown (``markdown``) and LaTeX (``latex``), with the same caption."""
    for path in (markdown, latex):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    body = df.to_markdown(index=False) if len(df) else "| " + " | ".join(df.columns) + " |"
    Path(markdown).write_text(f"{caption}\n\n{body}\n")
    Path(latex).write_text(latex_table(df, caption, Path(latex).stem))


# --------------------------------------------------------------------------- assembled outputs
RESULTS_CAPTION = (
    "Test accuracy per station with its {conf} interval from resampling whole test showers "
    "(cluster bootstrap), the design effect (variance over the binomial one) and effective "
    "number of stations; the {conf} Wilson interval as if stations were independent (the "
    "reference study's convention); and the accuracy per shower, combining the stations' "
    "probabilities, with its {conf} Wilson interval over showers. n/a: no interval (too few "
    "showers or a degenerate resampling distribution). Shower-level models (Classifies: "
    "showers) predict once per shower and have only the per-shower accuracy."
)
COMPARISONS_CAPTION = (
    "Paired model comparisons: station models on the same test stations, and every model on "
    "the same test showers (station models with their stations' probabilities combined). "
    "Accuracy difference with its {conf} interval from resampling the same showers for both "
    "models, p-value of a shower-level sign-flip permutation test, Holm-corrected over all "
    "rows; McNemar's exact p-value, which treats the compared units as independent, for "
    "comparison only."
)


def render_tables(
    reference: pd.DataFrame, best: dict[str, dict], comparisons: pd.DataFrame, outputs: dict
) -> None:
    """Results, hyper-parameter and comparison tables; ``outputs`` maps each table to its
    (Markdown, LaTeX) paths."""
    measured = reference["confidence"].dropna() if "confidence" in reference else []
    conf = _pct(measured.iloc[0]) if len(measured) else "99%"
    write_tables(results_table(reference), *outputs["results"], RESULTS_CAPTION.format(conf=conf))
    write_tables(
        parameters_table(best),
        *outputs["parameters"],
        "Hyper-parameters of each test model (refit on training + validation data).",
    )
    write_tables(
        comparisons_table(comparisons),
        *outputs["comparisons"],
        COMPARISONS_CAPTION.format(conf=conf),
    )


def write_paper_main(main: Path, figures: list, tables: list, title: str) -> None:
    """A compilable ``main.tex`` that inputs every table and includes every figure."""
    main = Path(main)
    lines = [
        r"\documentclass{article}",
        r"\usepackage[T1]{fontenc}",
        r"\usepackage{graphicx}",
        r"\usepackage{booktabs}",
        r"\usepackage{array}",
        r"\usepackage{tabularx}",
        r"\usepackage[margin=2.5cm]{geometry}",
        rf"\title{{{latex_escape(title)}}}",
        r"\date{}",
        r"\begin{document}",
        r"\maketitle",
    ]
    for table in tables:
        lines.append(rf"\input{{{Path(table).relative_to(main.parent).as_posix()}}}")
    lines.append(r"\clearpage")
    for k, figure in enumerate(figures):
        rel = Path(figure).relative_to(main.parent).as_posix()
        lines += [
            r"\begin{figure}[p]",
            r"\centering",
            rf"\includegraphics[width=\linewidth,height=0.4\textheight,keepaspectratio]{{{rel}}}",
            rf"\caption{{{latex_escape(Path(figure).stem.replace('_', ' '))}}}",
            r"\end{figure}",
        ]
        if k % 2:
            lines.append(r"\clearpage")
    lines.append(r"\end{document}")
    main.write_text("\n".join(lines) + "\n")


CLASS_COLOURS = {"proton": "C0", "helium": "C1", "oxygen": "C2", "iron": "C3"}
MIXTURE_COLOURS = ("C4", "C5", "C6", "C7", "C8", "C9")  # not the class colours


@_styled
def plot_composition(summary: pd.DataFrame, path, title: str, *, style: FigureStyle):
    """One panel per test mixture: the fitted fractions vs lg E (mean over pseudo-experiments,
    band = the spread of one experiment, the RMS) with the truth dashed; the last panel
    compares <ln A> of the template fit with the true-Xmax reference."""
    from uhecr.features import CLASSES

    mixtures = list(dict.fromkeys(summary["mixture"]))
    ncols = 3
    nrows = -(-(len(mixtures) + 1) // ncols)
    fig, axes = _figure(style, "text", ncols=ncols, nrows=nrows, height=2.3 * nrows)
    flat = axes.ravel()
    centre = 0.5 * (summary["lg_energy_min"] + summary["lg_energy_max"])
    summary = summary.assign(lg_energy=centre)
    for ax, mixture in zip(flat, mixtures, strict=False):
        rows = summary[summary["mixture"] == mixture]
        for cls in CLASSES:
            q = rows[rows["quantity"] == f"f_{cls}"].sort_values("lg_energy")
            colour = CLASS_COLOURS[cls]
            ax.plot(q["lg_energy"], q["mean"], "o-", color=colour, label=cls)
            ax.fill_between(
                q["lg_energy"], q["mean"] - q["rms"], q["mean"] + q["rms"], color=colour, alpha=0.2
            )
            ax.plot(q["lg_energy"], q["truth"], "--", color=colour)
        ax.set(
            title=mixture.replace("_", " "), xlabel=FEATURE_LABELS["lg_energy"], ylim=(-0.05, 1.1)
        )
        ax.set_ylabel("fraction")
    ax = flat[len(mixtures)]
    for k, mixture in enumerate(mixtures):
        rows = summary[summary["mixture"] == mixture]
        for quantity, marker, label in (
            ("ln_a", "o-", "template fit"),
            ("ln_a_xmax", "s:", "true Xmax"),
        ):
            q = rows[rows["quantity"] == quantity].sort_values("lg_energy")
            if len(q):
                ax.errorbar(
                    q["lg_energy"] + 0.02 * (quantity == "ln_a_xmax"),
                    q["mean"],
                    yerr=q["rms"],
                    fmt=marker,
                    color=MIXTURE_COLOURS[k % len(MIXTURE_COLOURS)],
                    label=f"{mixture.replace('_', ' ')}: {label}",
                )
        truth = rows[rows["quantity"] == "ln_a"].sort_values("lg_energy")
        ax.plot(
            truth["lg_energy"],
            truth["truth"],
            "--",
            color=MIXTURE_COLOURS[k % len(MIXTURE_COLOURS)],
        )
    ax.set(xlabel=FEATURE_LABELS["lg_energy"], ylabel=r"$\langle \ln A \rangle$", ylim=(-0.5, 4.6))
    for extra in flat[len(mixtures) + 1 :]:
        extra.axis("off")
    handles, labels = flat[0].get_legend_handles_labels()
    h2, l2 = ax.get_legend_handles_labels()
    fig.legend(handles + h2, labels + l2, loc="outside lower center", ncol=4)
    fig.suptitle(title)
    _save(fig, path)
    return flat


COMPOSITION_CAPTION = (
    "Mass composition from a template fit of each model's shower-level ln A estimate "
    "(binned maximum likelihood, iminuit Template with Barlow-Beeston-lite), validated with "
    "pseudo-experiments of known mixtures drawn from held-out test showers (resampling unit: "
    "the shower; {n} experiments of {m} showers per lg E bin, averaged over the lg E bins). "
    "Bias and RMS of <ln A>; the bias's error combines the Monte Carlo error of the "
    "experiments and the fluctuation of the parent test set they share; coverage: share of experiments whose +-1 sigma HESSE interval "
    "contains the truth (0.683 expected). Reference: <ln A> from the true Xmax of the same "
    "showers. Fractions: the largest |bias| of the four and the range of their coverages."
)


def _bias_text(rows: pd.DataFrame) -> str:
    """Mean bias over the lg E bins +- its error: Monte Carlo and parent-set errors combined."""
    err = np.sqrt((rows["bias_error"] ** 2 + rows["parent_error"] ** 2).sum()) / len(rows)
    return f"{rows['bias'].mean():+.2f} ± {err:.2f}"


def composition_table(summaries: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Model x mixture: <ln A> bias, RMS and coverage of the fit and of the Xmax reference."""
    rows = []
    for model, summary in summaries.items():
        for mixture, g in summary.groupby("mixture", sort=False):
            ln_a = g[g["quantity"] == "ln_a"]
            frac = g[g["quantity"].str.startswith("f_")].groupby("quantity")
            row = {
                "model": LABELS.get(model, model),
                "mixture": mixture.replace("_", " "),
                "<ln A> true": f"{ln_a['truth'].iloc[0]:.2f}",
                "fit bias": _bias_text(ln_a),
                "fit RMS": f"{ln_a['rms'].mean():.2f}",
                "fit coverage": f"{ln_a['coverage_68'].mean():.2f}",
            }
            xmax = g[g["quantity"] == "ln_a_xmax"]
            if len(xmax):
                row["Xmax bias"] = _bias_text(xmax)
                row["Xmax RMS"] = f"{xmax['rms'].mean():.2f}"
                row["Xmax coverage"] = f"{xmax['coverage_68'].mean():.2f}"
            bias = frac["bias"].mean().abs().max()
            cover = frac["coverage_68"].mean()
            row["fractions max |bias|"] = f"{bias:.2f}"
            row["fractions coverage"] = f"{cover.min():.2f}-{cover.max():.2f}"
            rows.append(row)
    return pd.DataFrame(rows)


def render_composition_table(summary_paths: dict, markdown, latex, settings: dict) -> None:
    table = composition_table({m: pd.read_csv(p) for m, p in summary_paths.items()})
    caption = COMPOSITION_CAPTION.format(
        n=settings["pseudo_experiments"], m=settings["showers_per_experiment"]
    )
    write_tables(table, markdown, latex, caption)


# Snakemake's report shows the landing page in a column 32rem wide (Tailwind prose max-w-lg)
# with the workflow graph right next to it: a wider table runs under the graph. So the
# landing table keeps only narrow columns; what it leaves out is said in the text.
LANDING_NA = "n/a"

# Snakemake centres the landing page in its scroll area, so the part of a page taller than
# the window above its centre cannot be scrolled to (the description's first paragraphs, the
# graph's first rules). This style starts the page at the top instead; it is part of the
# page's HTML, so it applies only while the landing page is shown, and a browser without
# :has() ignores it (the page is then as Snakemake lays it out).
LANDING_STYLE = """

.. raw:: html

   <style>
   div:has(> div > div#rulegraph) { align-items: flex-start; justify-content: safe center; }
   </style>
"""


def _interval_column(table: pd.DataFrame) -> str | None:
    """The results table's per-station interval column, e.g. "99% CI (shower bootstrap, BCa)"."""
    return next((c for c in table.columns if c.startswith(("99", "95", "90")) and "CI" in c), None)


def landing_table(table: pd.DataFrame) -> pd.DataFrame:
    """The results table narrowed to fit the landing page: the interval's method and the
    number of test showers go to the text (landing_page; the number to the per-shower cells
    where models differ in it); an interval that does not exist is "n/a" (the per-station
    accuracy next to it says why)."""
    if table.empty:
        return table
    interval = _interval_column(table)
    shower = next(c for c in table.columns if c.startswith("Accuracy per shower"))
    keep = ["Model", "Classifies", "Accuracy per station", interval, shower]
    keep += ["Reference (Table 7.13, 99%)"]
    narrow = table[[c for c in keep if c in table.columns]].copy()
    if table["n showers"].nunique() > 1:  # no one number for the text: each in its cell
        narrow[shower] += ", " + table["n showers"].astype(str) + " showers"
    if interval is not None:
        stations = table["Classifies"] == "stations"
        narrow[interval] = narrow[interval].where(stations, LANDING_NA)
        narrow = narrow.rename(columns={interval: interval.partition(" (")[0]})
    return narrow


def landing_page(description_path, reference_csv, out_rst, run_name: str, categories: list[str]):
    """The HTML report's first page (reStructuredText): the workflow description, the test
    results of every model (the results table) and what each report category holds."""
    reference = pd.read_csv(reference_csv)
    full = results_table(reference)
    body = landing_table(full).to_markdown(index=False, tablefmt="grid")
    conf = _pct(reference["confidence"].dropna().iloc[0]) if len(full) else ""
    method = (_interval_column(full) or "").partition(" (")[2].rstrip(")")
    showers = sorted(set(full["n showers"])) if len(full) else []
    evaluation = next((c for c in categories if c.endswith("Test evaluation")), "Test evaluation")
    text = (
        Path(description_path).read_text().rstrip()
        + f"\n\nResults of run ``{run_name}``\n"
        + "-" * (len(run_name) + 19)
        + "\n\nTest accuracy of every model"
        + (f" on the {showers[0]} test showers" if len(showers) == 1 else "")
        + " (the full table, with design effects and the Wilson intervals as if stations were "
        f"independent, is under {evaluation}). Per station: {conf} interval from resampling "
        "whole test showers"
        + (f" ({method})" if method else "")
        + f"; per shower: {conf} Wilson interval over showers. Shower-level models classify "
        "whole showers.\n\n"
        + body
        + "\n\nSections of this report: "
        + "; ".join(categories)
        + ".\n"
        + LANDING_STYLE
    )
    Path(out_rst).parent.mkdir(parents=True, exist_ok=True)
    Path(out_rst).write_text(text)
    return text


APPLIED_CAPTION = (
    "Primary fractions and <ln A> of each applied dataset per lg E bin: binned maximum-"
    "likelihood template fit (iminuit, Barlow-Beeston-lite) of the model's shower-level ln A "
    "estimate, templates from the model's held-out test showers; errors: the larger of HESSE "
    "(propagated from the yields) and the SD of refits of pseudo-samples of the bin's size "
    "drawn from the fitted mixture (HESSE alone is far too tight for tens of showers and at "
    "fractions of 0 or 1). The method's bias and coverage at these settings are in the "
    "composition table. True values only where the files carry the primary. Showers: those "
    "fitted; left out: showers outside the model's training domain (uhecr.domain: a feature, "
    "lg E, zenith, core distance or the multiplicity outside the training range) or outside "
    "the lg E bins, counted per reason."
)


def applied_fractions_table(fractions: pd.DataFrame) -> pd.DataFrame:
    """Dataset x model x lg E bin: fitted fractions +- errors (and the truth where known)."""
    from uhecr.features import CLASSES

    rows = []
    for r in fractions.to_dict("records"):
        outside = r["lg_energy_bin"] < 0  # the showers outside every bin (application)
        row = {
            "dataset": r["dataset"],
            "model": LABELS.get(r["model"], r["model"]),
            "lg E": "outside the bins"
            if outside
            else f"{r['lg_energy_min']:g}-{r['lg_energy_max']:g}",
            "showers": r["showers"],
            "left out": r.get("left_out", 0),
            "why left out": r.get("left_out_reasons", "")
            if pd.notna(r.get("left_out_reasons"))
            else "",
        }
        row["status"] = r["status"]
        if not r["status"].startswith("fitted"):
            rows.append(row)
            continue
        row["<ln A>"] = f"{r['ln_a']:.2f} ± {r['ln_a_error']:.2f}"
        for c in CLASSES:
            row[c] = f"{r[f'f_{c}']:.2f} ± {r[f'f_{c}_error']:.2f}"
        if pd.notna(r.get("ln_a_true", np.nan)):
            row["<ln A> true"] = f"{r['ln_a_true']:.2f}"
        rows.append(row)
    return pd.DataFrame(rows).fillna("")


def render_applied_fractions(paths: list, markdown, latex) -> None:
    table = applied_fractions_table(pd.concat([pd.read_csv(p) for p in paths], ignore_index=True))
    write_tables(table, markdown, latex, APPLIED_CAPTION)


VALIDATION_CAPTION = (
    "The toy simulation against the physics parameter sheet. A check passes when "
    "|measured - target| <= tolerance + 3 x statistical error (of the measured value on this "
    "run's validation sample); the tolerance and its reason are in "
    "uhecr.simulation_validation.TOLERANCES. Not measured: fewer than 10 values."
)


def validation_tables(checks: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(every check row, one row per check kind) of the simulation validation."""
    rows = pd.DataFrame(checks["table"])
    full = pd.DataFrame(
        {
            "check": rows["check"],
            "case": rows["case"],
            "measured": rows["measured"].map(lambda v: f"{v:.4g}"),
            "target": rows["target"].map(lambda v: f"{v:.4g}"),
            "tolerance": rows["tolerance"].map(lambda v: f"{v:.3g}"),
            "stat. error": rows["stat_error"].map(lambda v: f"{v:.2g}"),
            "n": rows["n"],
            "status": rows["status"],
        }
    )
    rows["worst"] = (rows["measured"] - rows["target"]).abs() / (
        rows["tolerance"] + 3 * rows["stat_error"].fillna(0)
    )
    per_check = (
        rows.groupby("check", sort=False)
        .agg(
            cases=("case", "size"),
            passed=("status", lambda s: int((s == "pass").sum())),
            failed=("status", lambda s: int((s == "fail").sum())),
            worst=("worst", "max"),
            reason=("reason", "first"),
        )
        .reset_index()
    )
    per_check["worst"] = per_check["worst"].map(lambda v: f"{v:.2f}")
    per_check["check"] = per_check["check"].str.replace("_", " ")  # lets LaTeX wrap the name
    per_check = per_check.rename(columns={"worst": "max |dev| / allowed"})
    return full, per_check


def render_validation_table(checks_path, markdown, latex) -> None:
    """Markdown: every check (report); LaTeX: one row per kind of check (paper)."""
    full, per_check = validation_tables(json.loads(Path(checks_path).read_text()))
    Path(markdown).parent.mkdir(parents=True, exist_ok=True)
    Path(markdown).write_text(
        f"{VALIDATION_CAPTION}\n\n{per_check.to_markdown(index=False)}\n\n"
        f"{full.to_markdown(index=False)}\n"
    )
    Path(latex).write_text(latex_table(per_check, VALIDATION_CAPTION, Path(latex).stem))


def render_leakage(leakage_path, markdown, latex) -> None:
    leakage = json.loads(Path(leakage_path).read_text())
    write_tables(
        leakage_table(leakage),
        markdown,
        latex,
        "Split leakage: one fixed XGBoost, test accuracy with a station-level split (the "
        "reference study's) and with a split by shower, with all features and without the "
        "features that are constant within a shower; intervals from resampling test showers.",
    )


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
        f"{_pct(acc['confidence'])} CI {_interval(acc['lower'], acc['upper'])} (shower bootstrap)"
    )
    for path in outputs["confusion"]:
        plot_confusion(metrics, path, title, style=style)


def render_validation_figures(
    checks: dict, table: pd.DataFrame, outputs: dict[str, list], style: FigureStyle
) -> None:
    """The four simulation-vs-sheet figures from the checks record and the feature table."""
    for path in outputs["xmax"]:
        plot_xmax_check(checks["xmax"], path, style=style)
    for path in outputs["multiplicity"]:
        plot_multiplicity_check(checks["multiplicity"], path, style=style)
    for path in outputs["risetime"]:
        plot_risetime_check(table, checks["risetime"], path, style=style)
    for path in outputs["fluctuations"]:
        plot_fluctuation_check(checks["fluctuations"], path, style=style)
