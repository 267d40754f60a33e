"""Run notifications (start, success, failure) through apprise, which speaks e-mail, Slack,
Matrix, ntfy, Telegram, plain JSON/HTTP and more (https://github.com/caronc/apprise).

Off unless targets are given: apprise URLs from the environment variable named by
``notifications.env_var`` (default ``UHECR_NOTIFY_URLS``; whitespace-separated) and
from ``notifications.urls`` in the config. URLs carry tokens, so keep them in the environment:
they are never logged or written to a result file. A failing notification is logged and never
fails the run.
"""

from __future__ import annotations

import logging
import os
import re
from pathlib import Path

log = logging.getLogger(__name__)

EVENTS = ("start", "success", "error")


def targets(cfg: dict, environ=os.environ) -> list[str]:
    """Apprise URLs from the environment variable and the config, each once."""
    # Whitespace only: commas are part of apprise URLs (mailto://...?to=a@x.org,b@y.org).
    from_env = environ.get(cfg.get("env_var", "UHECR_NOTIFY_URLS"), "").split()
    urls = [u for u in [*from_env, *cfg.get("urls", [])] if u]
    return list(dict.fromkeys(urls))


def failed_jobs(snakemake_log) -> list[dict]:
    """Failing rules and their log files from Snakemake's main log ("Error in rule X:" blocks)."""
    if not snakemake_log or not Path(snakemake_log).exists():
        return []
    failed, current = [], None
    for line in Path(snakemake_log).read_text(errors="replace").splitlines():
        start = re.match(r"Error in rule (\S+):", line)
        if start:
            current = {"rule": start.group(1), "logs": []}
            failed.append(current)
            continue
        if current is not None:
            logs = re.match(r"\s+log: (.+?)(?: \(check log file\(s\) for error details\))?$", line)
            if logs:
                current["logs"] = [p.strip() for p in logs.group(1).split(",")]
            elif not line.startswith((" ", "\t")):
                current = None
    return failed


def message(event: str, run_name: str, results_dir: str, snakemake_log=None) -> tuple[str, str]:
    """(title, body) of one notification."""
    if event not in EVENTS:
        raise ValueError(f"unknown notification event {event!r}; choose from {EVENTS}")
    title = {
        "start": f"uhecr run {run_name!r} started",
        "success": f"uhecr run {run_name!r} finished",
        "error": f"uhecr run {run_name!r} FAILED",
    }[event]
    lines = [f"results: {results_dir}"]
    if event == "error":
        jobs = failed_jobs(snakemake_log)
        for job in jobs:
            lines.append(f"failed rule {job['rule']}, log: {', '.join(job['logs']) or 'none'}")
        if not jobs:
            lines.append("no failed rule in the log: the workflow itself failed")
    if snakemake_log:
        lines.append(f"snakemake log: {snakemake_log}")
    return title, "\n".join(lines)


def main_log(snakemake_log):
    """Snakemake hands its handlers the log as a path or a list of paths (its main log)."""
    if isinstance(snakemake_log, (list, tuple)):
        return str(snakemake_log[-1]) if snakemake_log else None
    return str(snakemake_log) if snakemake_log else None


def send(event: str, cfg: dict, run_name: str, results_dir: str, snakemake_log=None) -> bool:
    """Send one notification to every target; False when there is none or one failed. Never
    raises: a missing or failing apprise must not stop the run."""
    try:
        snakemake_log = main_log(snakemake_log)
        urls = targets(cfg)
        if not urls or event not in cfg.get("events", EVENTS):
            return False
        import apprise

        # apprise logs full URLs (tokens included) at DEBUG level: keep it at WARNING.
        logging.getLogger("apprise").setLevel(logging.WARNING)
        notifier = apprise.Apprise()
        for url in urls:
            if not notifier.add(url):
                log.warning("notifications: an apprise URL was not understood (not shown)")
        title, body = message(event, run_name, results_dir, snakemake_log)
        ok = bool(notifier.notify(title=title, body=body))
    except Exception as exc:  # a notification never fails the run
        log.warning("notifications: sending %s failed: %s", event, type(exc).__name__)
        return False
    if not ok:
        log.warning("notifications: %s was not delivered to every target", event)
    return ok
