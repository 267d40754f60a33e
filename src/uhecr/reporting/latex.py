"""LaTeX: escaped text, tables and the paper's main file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


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
