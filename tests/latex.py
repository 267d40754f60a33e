"""Compile a LaTeX document with pdflatex and check it like a journal's submission system."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest


def require_pdflatex() -> str:
    exe = shutil.which("pdflatex")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdflatex is needed in CI (Debian texlive-latex-base/-recommended)")
        pytest.skip("pdflatex not installed here")
    return exe


def compile_pdf(main: Path) -> tuple[Path, str]:
    """Run pdflatex twice in ``main``'s folder; return the PDF and the log text."""
    exe = require_pdflatex()
    for _ in range(2):
        run = subprocess.run(
            [exe, "-interaction=nonstopmode", "-halt-on-error", main.name],
            cwd=main.parent,
            capture_output=True,
            text=True,
            timeout=300,
        )
    log = main.with_suffix(".log").read_text(errors="ignore")
    assert run.returncode == 0, log[-3000:]
    return main.with_suffix(".pdf"), log


def latex_problems(log: str) -> list[str]:
    """Errors, overfull boxes and missing references or characters in a pdflatex log."""
    patterns = [r"^! .*", r"Overfull \\[hv]box.*", r"LaTeX Warning: Reference .*undefined.*"]
    patterns.append(r"Missing character.*")
    return [m.group(0) for p in patterns for m in re.finditer(p, log, flags=re.M)]


def blank_pages(pdf: Path) -> list[int]:
    """Pages whose rendering (pdftoppm) is a single colour."""
    exe = shutil.which("pdftoppm")
    if exe is None:
        if os.environ.get("CI") == "true":
            pytest.fail("pdftoppm is needed in CI (Debian poppler-utils)")
        pytest.skip("pdftoppm not installed here")
    out = pdf.parent / "pages"
    out.mkdir(exist_ok=True)
    subprocess.run([exe, "-r", "20", "-gray", str(pdf), str(out / "p")], check=True)
    blank = []
    for k, page in enumerate(sorted(out.glob("p-*.pgm")), start=1):
        data = page.read_bytes()
        pixels = data.split(b"\n", 3)[3]  # P5 header: magic, size, maxval
        if len(set(pixels)) <= 1:
            blank.append(k)
    return blank
