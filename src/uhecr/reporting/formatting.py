"""Numbers and intervals as the tables, figure titles and findings print them."""

from __future__ import annotations

import pandas as pd


def percent(confidence: float) -> str:
    return f"{confidence:.0%}"


def number_text(value, fmt: str = ".3f") -> str:
    return "n/a" if value is None or pd.isna(value) else format(value, fmt)


def interval_text(lo, hi, digits: int = 3) -> str:
    if lo is None or hi is None or pd.isna(lo) or pd.isna(hi):
        return "n/a"
    return f"[{lo:.{digits}f}, {hi:.{digits}f}]"


def parameter_text(v) -> str:
    if isinstance(v, float):
        return f"{v:.3g}"
    return str(v)
