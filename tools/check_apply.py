"""Refuse an apply configuration that would rerun the training run (``make apply`` runs this
first). Target apply needs only rules apply_extract, apply_model and applied_fractions_table;
any other rule in its dry run means the configuration changed a setting of the training run
(for example extraction.tree set globally for the new files), and Snakemake would rerun, and
on failure delete, what the training produced. Settings of the new files belong under
apply.datasets.<name>.extraction (docs/apply.md).

Usage: python tools/check_apply.py CONFIG [CONFIG ...] [--cores N]
       (exit 1: the training would rerun; several configs merge in order, as Snakemake's
       --configfile does: make apply CONFIG="config/quick.yaml my-apply.yaml")
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
APPLY_RULES = {"apply", "apply_extract", "apply_model", "applied_fractions_table"}


def planned(log: str) -> dict[str, set[str]]:
    """Rule -> the reasons Snakemake gives for its jobs, from a dry run's output."""
    rules: dict[str, set[str]] = {}
    for block in re.split(r"\n(?=\s*(?:local)?rule \w+:)", log):
        name = re.match(r"\s*(?:local)?rule (\w+):", block)
        if name:
            reason = re.search(r"reason: (.*)", block)
            rules.setdefault(name.group(1), set()).add(reason.group(1) if reason else "")
    return rules


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("config", nargs="+", help="config files, merged in order")
    parser.add_argument("--cores", default="2")
    args = parser.parse_args()
    cmd = [sys.executable, "-m", "snakemake", "apply", "--dry-run", "--cores", args.cores]
    cmd += ["--configfile", *args.config]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    log = out.stdout + out.stderr
    if out.returncode:
        print(log[-4000:], file=sys.stderr)
        return out.returncode
    training = {r: why for r, why in planned(log).items() if r not in APPLY_RULES}
    if not training:
        return 0
    lines = "\n".join(
        f"  {rule}: {'; '.join(sorted(why))}" for rule, why in sorted(training.items())
    )
    print(
        f"{' '.join(args.config)}: target apply would rerun rules of the training run:\n{lines}\n"
        "Nothing was run. The configuration changes a setting the training used; set what "
        "differs for the new files under apply.datasets.<name>.extraction (docs/apply.md), "
        "or finish the training run first (make run).",
        file=sys.stderr,
    )
    return 1


if __name__ == "__main__":
    sys.exit(main())
