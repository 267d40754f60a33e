"""Figure style: sizes and fonts of a paper, one colour per primary, the figure helpers."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path

import matplotlib
import matplotlib.pyplot as plt
import numpy as np

# One colour per primary in every figure (light red, heavy blue, as in Auger's plots).
PRIMARY_COLORS = {
    "proton": "tab:red",
    "helium": "tab:orange",
    "oxygen": "tab:green",
    "iron": "tab:blue",
}


MIXTURE_COLOURS = ("C4", "C5", "C6", "C7", "C8", "C9")  # not the primaries' colours (C0-C3)


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


def styled(plot):
    """Run a plotting function with ``style`` (keyword, default FigureStyle()) applied."""

    @functools.wraps(plot)
    def wrapper(*args, style: FigureStyle | None = None, **kwargs):
        style = style or FigureStyle()
        with matplotlib.rc_context(style.rc()):
            return plot(*args, style=style, **kwargs)

    return wrapper


def new_figure(
    style: FigureStyle, span: str = "column", ncols: int = 1, nrows: int = 1, height=None
):
    """A figure one column or the text width wide; panel height from the panel width."""
    width = style.width(span)
    height = height or min(0.75 * width / ncols, 2.6) * nrows
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width, height), squeeze=False, layout="constrained"
    )
    return fig, axes


def save_figure(fig, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)


def error_bars(value, lower, upper):
    """Asymmetric error bars; NaN where no interval exists (such a point gets no bar). A bar is
    never negative (matplotlib refuses one): a Wilson bound at 0 or 1 carries float noise
    (0 successes in 13: lower 2.8e-17 > 0), and a bootstrap interval may exclude its
    estimate; such a bar is drawn to the point (the tables give the interval)."""
    value, lower, upper = (np.asarray(v, dtype=float) for v in (value, lower, upper))
    bars = np.vstack([value - lower, upper - value])
    with np.errstate(invalid="ignore"):
        return np.where(bars < 0, 0.0, bars)  # NaN stays NaN
