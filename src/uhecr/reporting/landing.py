"""The HTML report's landing page: the workflow description and a results table narrow
enough to sit beside the workflow graph."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from uhecr.reporting.formatting import percent
from uhecr.reporting.tables import results_table

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
    conf = percent(reference["confidence"].dropna().iloc[0]) if len(full) else ""
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
