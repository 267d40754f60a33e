"""What every rule script shares: logging into the rule's log file, fault injection, and
results written as valid JSON (NaN and inf as null).

A script reads ``snakemake.input/output/params`` itself and calls the package inside
``with rule_job(snakemake):``, which logs to ``snakemake.log[0]``, records a failure's traceback
there and re-raises it.
"""

from __future__ import annotations

import json
import logging
import math
import os
import sys
from contextlib import contextmanager
from pathlib import Path

import numpy as np

log = logging.getLogger("uhecr")


def _setup_logging(log_file: Path) -> None:
    log_file.parent.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(
        filename=log_file,
        filemode="w",
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    logging.captureWarnings(True)


def inject_failure_once(rule: str, wildcards, spec: str | None = None) -> None:
    """Fault injection for the retry tests: ``UHECR_FAIL_ONCE=<rule>:<marker folder>`` makes the
    first attempt of each job of that rule fail (a marker file records the attempt)."""
    spec = os.environ.get("UHECR_FAIL_ONCE") if spec is None else spec
    if not spec:
        return
    target, _, folder = spec.partition(":")
    if target != rule:
        return
    job = "-".join(str(v) for v in wildcards) or "job"
    marker = Path(folder) / f"{rule}-{job}.failed"
    if not marker.exists():
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("failed once on purpose\n")
        raise RuntimeError(f"injected failure of rule {rule} (UHECR_FAIL_ONCE), marker {marker}")


@contextmanager
def rule_job(smk):
    """Run a rule's body with logging to its log file; errors are logged, then re-raised."""
    _setup_logging(Path(str(smk.log[0])))
    rule = smk.rule
    log.info("rule %s: inputs %s -> outputs %s", rule, list(smk.input), list(smk.output))
    try:
        inject_failure_once(rule, smk.wildcards)
        yield log
    except Exception as exc:
        log.exception("rule %s failed: %s", rule, exc)
        print(f"ERROR in rule {rule}: {exc}", file=sys.stderr)
        raise


def read_json_per_model(models: list[str], paths) -> dict[str, dict]:
    """Model -> content of its JSON file; ``paths`` were expanded in the order of ``models``."""
    return {m: json.loads(Path(f).read_text()) for m, f in zip(models, paths, strict=True)}


def write_json(path, value, default=None) -> None:
    """Write a result as JSON with NaN/inf as null (``json_safe``), never invalid JSON."""
    text = json.dumps(json_safe(value), indent=2, default=default, allow_nan=False)
    Path(path).write_text(text)


def json_safe(value):
    """NaN and inf become null, so JSON files stay valid (``json.dumps(allow_nan=False)``)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, np.floating | np.integer):
        return json_safe(value.item())
    return value
