"""Result tables (Markdown and LaTeX, with their captions): results, hyper-parameters,
comparisons, leakage, composition, applied datasets, simulation validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from uhecr.models import LABELS
from uhecr.reporting.formatting import interval_text, number_text, parameter_text, percent
from uhecr.reporting.latex import latex_table


def results_table(comparison: pd.DataFrame) -> pd.DataFrame:
    """Per model: per-station accuracy with its shower-bootstrap interval, design effect,
    the Wilson interval as if stations were independent, and the per-shower accuracy.
    Shower-level models classify whole showers: their per-station cells say so."""
    rows = []
    for _, r in comparison.iterrows():
        if pd.isna(r.get("accuracy")):
            continue
        conf = percent(r["confidence"])
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
                "Accuracy per station": number_text(r["accuracy"]) if stations else none,
                r["interval_label"]: interval_text(r["lower"], r["upper"]) if stations else none,
                "Design effect": number_text(r["design_effect"], ".2g") if stations else none,
                "n stations (effective)": (
                    f"{int(r['n_test'])} ({number_text(r['n_effective'], '.0f')})"
                    if stations
                    else none
                ),
                "n showers": int(r["n_test_showers"]),
                f"{conf} Wilson as if stations were independent (study's convention)": (
                    interval_text(r["wilson_independent_lower"], r["wilson_independent_upper"])
                    if stations
                    else none
                ),
                f"Accuracy per shower [{conf} Wilson]": (
                    f"{number_text(r['event_accuracy'])} {interval_text(r['event_lower'], r['event_upper'])}"
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
            rows.append(
                {"Model": LABELS.get(name, name), "Parameter": key, "Value": parameter_text(value)}
            )
    return pd.DataFrame(rows, columns=["Model", "Parameter", "Value"])


def comparisons_table(comparisons: pd.DataFrame) -> pd.DataFrame:
    """Paired comparisons, formatted; an empty table (one model) keeps its header."""
    alpha = comparisons["alpha"].iloc[0] if len(comparisons) else 0.01
    columns = {
        "Compared per": lambda r: r.get("unit", "station"),
        "Model A": lambda r: LABELS.get(r["model_a"], r["model_a"]),
        "Model B": lambda r: LABELS.get(r["model_b"], r["model_b"]),
        "Accuracy A - B": lambda r: number_text(r["difference"], "+.3f"),
        f"{percent(1 - alpha)} CI (shower bootstrap)": lambda r: interval_text(
            r["difference_lower"], r["difference_upper"]
        ),
        "Design effect": lambda r: number_text(r["design_effect"], ".2g"),
        "p (shower permutation)": lambda r: number_text(r["p_value"], ".2e"),
        "p Holm": lambda r: number_text(r["p_holm"], ".2e"),
        f"Significant (Holm, alpha {alpha:g})": lambda r: "yes" if r["significant"] else "no",
        "p McNemar as if the units were independent": lambda r: number_text(
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
                    f"{percent(r['confidence'])} CI (shower bootstrap)": interval_text(
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
                f"{percent(r['confidence'])} CI (shower bootstrap)": "",
                "n stations": "",
                "Test stations whose shower is in training": "",
            }
        )
    return pd.DataFrame(rows)


def write_tables(df: pd.DataFrame, markdown, latex, caption: str) -> None:
    """One table as Markdown (``markdown``) and LaTeX (``latex``), with the same caption."""
    for path in (markdown, latex):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    body = df.to_markdown(index=False) if len(df) else "| " + " | ".join(df.columns) + " |"
    Path(markdown).write_text(f"{caption}\n\n{body}\n")
    Path(latex).write_text(latex_table(df, caption, Path(latex).stem))


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
    conf = percent(measured.iloc[0]) if len(measured) else "99%"
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
    from uhecr.showers import CLASSES

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
