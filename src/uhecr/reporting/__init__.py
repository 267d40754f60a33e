"""Figures and tables. Every plotting function writes one figure file (PNG, or PDF by suffix).

Modules: ``style`` (paper sizes and fonts, one colour per primary, figure helpers),
``formatting`` (numbers and intervals as printed), ``validation_figures`` (simulation against
the physics sheet), ``model_figures`` (sweeps, confusion, accuracies), ``composition_figures``,
``tables`` (Markdown and LaTeX tables with captions), ``latex`` (the paper), ``landing`` (the
HTML report's first page). The names below are the ones scripts and tests use.
"""

import matplotlib

matplotlib.use("Agg")  # before any submodule imports pyplot: figures are written, never shown

from uhecr.reporting.composition_figures import plot_composition  # noqa: E402
from uhecr.reporting.landing import landing_page, landing_table  # noqa: E402
from uhecr.reporting.latex import latex_escape, latex_table, write_paper_main  # noqa: E402
from uhecr.reporting.model_figures import (  # noqa: E402
    plot_accuracy_comparison,
    plot_binned_accuracy,
    plot_confusion,
    plot_optimisation_history,
    plot_params_vs_accuracy,
    plot_shower_accuracy,
    render_model_figures,
)
from uhecr.reporting.style import FEATURE_LABELS, PRIMARY_COLORS, FigureStyle  # noqa: E402
from uhecr.reporting.tables import (  # noqa: E402
    APPLIED_CAPTION,
    COMPARISONS_CAPTION,
    COMPOSITION_CAPTION,
    RESULTS_CAPTION,
    VALIDATION_CAPTION,
    applied_fractions_table,
    comparisons_table,
    composition_table,
    leakage_table,
    parameters_table,
    render_applied_fractions,
    render_composition_table,
    render_leakage,
    render_tables,
    render_validation_table,
    results_table,
    validation_tables,
    write_tables,
)
from uhecr.reporting.validation_figures import (  # noqa: E402
    plot_feature_distributions,
    plot_fluctuation_check,
    plot_multiplicity_check,
    plot_risetime_check,
    plot_xmax_check,
    render_validation_figures,
)

__all__ = [
    "APPLIED_CAPTION", "COMPARISONS_CAPTION", "COMPOSITION_CAPTION", "FEATURE_LABELS",
    "PRIMARY_COLORS", "RESULTS_CAPTION", "VALIDATION_CAPTION", "FigureStyle",
    "applied_fractions_table", "comparisons_table", "composition_table", "landing_page",
    "landing_table", "latex_escape", "latex_table", "leakage_table", "parameters_table",
    "plot_accuracy_comparison", "plot_binned_accuracy", "plot_composition", "plot_confusion",
    "plot_feature_distributions", "plot_fluctuation_check", "plot_multiplicity_check",
    "plot_optimisation_history", "plot_params_vs_accuracy", "plot_risetime_check",
    "plot_shower_accuracy", "plot_xmax_check", "render_applied_fractions",
    "render_composition_table", "render_leakage", "render_model_figures", "render_tables",
    "render_validation_figures", "render_validation_table", "results_table", "validation_tables",
    "write_paper_main", "write_tables",
]  # fmt: skip
