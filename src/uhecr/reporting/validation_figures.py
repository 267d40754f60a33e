"""Figures of the simulation against the physics sheet, and the feature distributions."""

from __future__ import annotations

import matplotlib
import numpy as np
import pandas as pd

from uhecr.reporting.style import (
    FEATURE_LABELS,
    PRIMARY_COLORS,
    FigureStyle,
    new_figure,
    save_figure,
    styled,
)


@styled
def plot_xmax_check(rows: list[dict], path, *, style: FigureStyle):
    df = pd.DataFrame(rows)
    fig, ((ax_m, ax_s),) = new_figure(style, "text", ncols=2)
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
    save_figure(fig, path)
    return ax_m, ax_s


@styled
def plot_multiplicity_check(rows: list[dict], path, *, style: FigureStyle):
    df = pd.DataFrame(rows)
    fig, ((ax,),) = new_figure(style, height=0.75 * style.column_width_in + 0.6)
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
    save_figure(fig, path)
    return ax


@styled
def plot_risetime_check(table: pd.DataFrame, rows: list[dict], path, *, style: FigureStyle):
    fig, ((ax,),) = new_figure(style, height=0.75 * style.column_width_in + 0.6)
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
    save_figure(fig, path)
    return ax


@styled
def plot_fluctuation_check(rows: list[dict], path, *, style: FigureStyle):
    df = pd.DataFrame(rows)
    fig, ((ax,),) = new_figure(style)
    ax.plot(df["sec_zenith"], df["sigma_over_sqrt_s"], "o", label="toy MC (10 < S < 300 VEM)")
    sec = np.linspace(1.0, 2.1, 50)
    ax.plot(sec, 0.32 + 0.42 * sec, "--", label=r"$\sigma_S/\sqrt{S} = 0.32 + 0.42\,\sec\theta$")
    ax.set(xlabel=r"$\sec\theta$", ylabel=r"$\sigma_S / \sqrt{S}$ [$\sqrt{\mathrm{VEM}}$]")
    ax.legend()
    save_figure(fig, path)
    return ax


@styled
def plot_feature_distributions(
    table: pd.DataFrame, features: list[str], path, *, style: FigureStyle
):
    ncols = 3
    nrows = int(np.ceil(len(features) / ncols))
    fig, axes = new_figure(style, "text", ncols=ncols, nrows=nrows, height=0.4 + 1.7 * nrows)
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
    save_figure(fig, path)
    return axes


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
