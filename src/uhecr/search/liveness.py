"""Which worker jobs are alive: process identities (/proc), SLURM jobs (squeue, scancel),
worker claims and the recovery of a restarted worker's trials."""

from __future__ import annotations

import logging
import os
import socket
import time
from pathlib import Path

log = logging.getLogger(__name__)


def process_start(pid: int) -> str | None:
    """Start time of a live process (clock ticks since boot): with the pid, it names the
    process (a pid alone may be reused). None when there is no such process, or a zombie."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] in ("Z", "X") else fields[19]


def job_of_this_process() -> dict:
    """This process: host, pid and start time, and the SLURM job it runs in, if any. Local
    jobs inside one allocation (``snakemake --cores N`` in ``salloc``) share the job id: the
    pid tells them apart."""

    pid = os.getpid()
    job = {"host": socket.gethostname(), "pid": pid, "start": process_start(pid)}
    if os.environ.get("SLURM_JOB_ID"):
        job["slurm_job"] = os.environ["SLURM_JOB_ID"]
    return job


def other_slurm_job(job: dict) -> bool:
    """Is ``job`` a SLURM job other than the one this process runs in?"""
    return "slurm_job" in job and job["slurm_job"] != os.environ.get("SLURM_JOB_ID")


def still_running(job: dict) -> bool:
    import subprocess

    if other_slurm_job(job):
        out = subprocess.run(
            ["squeue", "-h", "-j", job["slurm_job"], "-o", "%T"], capture_output=True, text=True
        )
        if out.returncode == 0:
            return bool(out.stdout.strip())
        if "invalid job id" in out.stderr.lower():  # long finished: no longer known
            return False
        log.warning("squeue failed (%s): job %s taken as running", out.stderr.strip(), job)
        return True

    if job.get("host") != socket.gethostname():
        # Another node of this allocation: no pid to look at from here. Taken as running;
        # a worker restarted there re-opens its own trials.
        return "slurm_job" in job
    start = process_start(int(job["pid"]))
    return start is not None and start == job.get("start")


def stop_job(job: dict) -> None:
    import signal
    import subprocess

    if other_slurm_job(job):
        subprocess.run(["scancel", job["slurm_job"]], check=False)
    else:  # never scancel the allocation this process runs in
        os.kill(int(job["pid"]), signal.SIGTERM)


def claim_worker(study, worker: str, timeout_s: float = 120.0) -> dict | None:
    """Make this job the only one running worker ``worker`` of the study.

    When Snakemake itself is killed (SIGKILL, a lost login node), the worker job it started
    (a SLURM job, or a local process) keeps running; the rerun starts the same worker again.
    The job recorded for the worker is stopped first (scancel / SIGTERM) and waited for, so
    its unfinished trial is recovered once and no trial is evaluated twice. Returns the job
    that was stopped, if any."""
    key = f"worker_{worker}_job"
    previous = study.user_attrs.get(key)
    me = job_of_this_process()
    stopped = None
    if previous and previous != me and still_running(previous):
        log.warning("worker %s: stopping the earlier job %s that still runs", worker, previous)
        stop_job(previous)
        deadline = time.time() + timeout_s
        while still_running(previous):
            if time.time() > deadline:
                raise RuntimeError(f"worker {worker}: earlier job {previous} did not stop")
            time.sleep(1)
        stopped = previous
    study.set_user_attr(key, me)
    return stopped
