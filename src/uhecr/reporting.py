"""Figures and tables. Every plotting function writes one figure file (PNG, or PDF by suffix)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

PRIMARY_COLORS = {
    "proton": "tab:red",
    "helium": "tab:orange",
    "oxygen": "tab:green",
    "iron": "tab:blue",
}


def _figure(ncols: int = 1, width: float = 6.4):
    plt.style.use(mplhep.style.ROOT)
    fig, axes = plt.subplots(1, ncols, figsize=(width * ncols, 5.0), squeeze=False)
    return fig, axes[0]


def _save(fig, path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_xmax_check(rows: list[dict], path) -> None:
    df = pd.DataFrame(rows)
    fig, (ax_m, ax_s) = _figure(2)
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
    ax_m.legend(fontsize=9, ncol=2)
    _save(fig, path)


def plot_multiplicity_check(rows: list[dict], path) -> None:
    df = pd.DataFrame(rows)
    fig, (ax,) = _figure()
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
    ax.legend(fontsize=9)
    _save(fig, path)


def plot_risetime_check(table: pd.DataFrame, rows: list[dict], path) -> None:
    fig, (ax,) = _figure()
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
                ms=14,
                color=PRIMARY_COLORS[r["primary"]],
                markeredgecolor="k",
                label=f"sheet target {r['primary']} @ 1000 m",
            )
    ax.set(xlabel="distance to shower axis [m]", ylabel=r"median rise time $t_{1/2}$ [ns]")
    ax.legend(fontsize=9)
    _save(fig, path)


def plot_fluctuation_check(rows: list[dict], path) -> None:
    df = pd.DataFrame(rows)
    fig, (ax,) = _figure()
    ax.plot(df["sec_zenith"], df["sigma_over_sqrt_s"], "o", label="toy MC (10 < S < 300 VEM)")
    sec = np.linspace(1.0, 2.1, 50)
    ax.plot(sec, 0.32 + 0.42 * sec, "--", label=r"$\sigma_S/\sqrt{S} = 0.32 + 0.42\,\sec\theta$")
    ax.set(xlabel=r"$\sec\theta$", ylabel=r"$\sigma_S / \sqrt{S}$ [$\sqrt{\mathrm{VEM}}$]")
    ax.legend(fontsize=10)
    _save(fig, path)
