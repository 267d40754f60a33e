"""Figures of the mass composition of the test mixtures."""

from __future__ import annotations

import pandas as pd

from uhecr.reporting.style import (
    FEATURE_LABELS,
    MIXTURE_COLOURS,
    PRIMARY_COLORS,
    FigureStyle,
    new_figure,
    save_figure,
    styled,
)


@styled
def plot_composition(summary: pd.DataFrame, path, title: str, *, style: FigureStyle):
    """One panel per test mixture: the fitted fractions vs lg E (mean over pseudo-experiments,
    band = the spread of one experiment, the RMS) with the truth dashed; the last panel
    compares <ln A> of the template fit with the true-Xmax reference."""
    from uhecr.showers import CLASSES

    mixtures = list(dict.fromkeys(summary["mixture"]))
    ncols = 3
    nrows = -(-(len(mixtures) + 1) // ncols)
    fig, axes = new_figure(style, "text", ncols=ncols, nrows=nrows, height=2.3 * nrows)
    flat = axes.ravel()
    centre = 0.5 * (summary["lg_energy_min"] + summary["lg_energy_max"])
    summary = summary.assign(lg_energy=centre)
    for ax, mixture in zip(flat, mixtures, strict=False):
        rows = summary[summary["mixture"] == mixture]
        for cls in CLASSES:
            q = rows[rows["quantity"] == f"f_{cls}"].sort_values("lg_energy")
            colour = PRIMARY_COLORS[cls]
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
    save_figure(fig, path)
    return flat
