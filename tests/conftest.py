from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from uhecr import io, physics
from uhecr import simulation as sim

SMALL = sim.SimulationSettings(showers_per_batch=20)


def write_small_file(path, primary="proton", n_stations=150, seed=7, fmt="ttree", first_event_id=0):
    batches = sim.simulate_primary_file(primary, n_stations, seed, 0, SMALL, first_event_id)
    counts = io.write_detector_file(
        path, batches, physics.PRIMARY_PDG[primary], {"seed": seed}, fmt=fmt
    )
    return counts


@pytest.fixture(scope="session")
def small_root(tmp_path_factory):
    """A small simulated TTree file (proton) and its write counts."""
    path = tmp_path_factory.mktemp("raw") / "proton_00.root"
    counts = write_small_file(path)
    return path, counts


@pytest.fixture(scope="session")
def small_rntuple(tmp_path_factory):
    path = tmp_path_factory.mktemp("raw") / "iron_00.root"
    counts = write_small_file(path, primary="iron", fmt="rntuple", first_event_id=10**7)
    return path, counts


def rewrite_events(src, dst, transform):
    """Copy a detector file's Events tree, letting ``transform`` edit the arrays (rename, drop,
    retype, corrupt) before writing them back as a TTree."""
    with uproot.open(src) as f:
        arrays = {k: f["Events"][k].array() for k in f["Events"].keys() if not k.startswith("n")}
    arrays = transform(arrays)
    write_events(dst, arrays)
    return dst


def write_events(path, arrays: dict) -> None:
    """Write per-event arrays (jagged per station) as the Events TTree of a new file."""
    with uproot.recreate(path) as out:
        types = {
            k: v.type.content if isinstance(v, ak.Array) and v.ndim > 1 else np.asarray(v).dtype
            for k, v in arrays.items()
        }
        out.mktree("Events", types)
        out["Events"].extend(arrays)


def write_unlabelled_mixture(path, stations: dict[str, int], seed: int, tmp_dir) -> dict:
    """One TTree file of showers of several primaries, interleaved, without the primary branch
    (as real data): returns the number of events per primary (the truth, kept outside)."""
    parts, truth = [], {}
    for k, (primary, n) in enumerate(stations.items()):
        src = tmp_dir / f"{primary}_{seed}.root"
        write_small_file(src, primary, n, seed=seed + k, first_event_id=(k + 1) * 10**6)
        with uproot.open(src) as f:
            tree = f["Events"]
            keys = [b for b in tree.keys() if not b.startswith("n") and b != "mc_primary_pdg"]
            parts.append({b: tree[b].array() for b in keys})
        truth[primary] = len(parts[-1]["event_id"])
    arrays = {b: ak.concatenate([p[b] for p in parts]) for b in parts[0]}
    order = np.random.default_rng(seed).permutation(len(arrays["event_id"]))
    arrays = {b: v[order] for b, v in arrays.items()}
    write_events(path, arrays)
    return truth


def free_port() -> int:
    """A loopback port no one listens on now (tests never use fixed ports)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="session")
def browser():
    """Headless Debian Chromium driven by Selenium (chromedriver from Debian's chromium-driver;
    .ci/run installs both). A missing browser fails the test: it is a real check, not optional."""
    import shutil

    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    assert chromium and driver, "install Debian's chromium and chromium-driver (see .ci/run)"
    options = webdriver.ChromeOptions()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.add_argument("--window-size=1600,1200")
    options.binary_location = chromium
    session = webdriver.Chrome(service=Service(driver), options=options)
    session.implicitly_wait(10)  # the report is a React app: elements appear after rendering
    yield session
    session.quit()


PG_PASSWORD = "uhecr-test-pw-7f3a"  # local throw-away servers only


def _pg_bin():
    from pathlib import Path

    for version in ("17", "16", "15"):
        path = Path(f"/usr/lib/postgresql/{version}/bin")
        if (path / "initdb").exists():
            return path
    return None


@contextlib.contextmanager
def postgres_cluster(databases: list[str]):
    """A throw-away PostgreSQL server (Debian's binaries, run as the postgres user) on a free
    loopback port, with user ``uhecr`` (password ``PG_PASSWORD``) owning ``databases``; yields
    the port. CI=true: missing binaries or root are a failure; elsewhere the test is skipped."""
    import os
    import shutil
    import subprocess
    import tempfile
    from pathlib import Path

    pg = _pg_bin()
    if pg is None or not shutil.which("runuser") or os.geteuid() != 0:
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL server binaries (package postgresql) and root are needed in CI")
        pytest.skip("no PostgreSQL server binaries here")

    def as_postgres(*cmd):
        command = ["runuser", "-u", "postgres", "--", *map(str, cmd)]
        return subprocess.run(command, check=True, capture_output=True, text=True)

    # pytest's temporary folders are private to root; the server runs as the postgres user.
    base = Path(tempfile.mkdtemp(prefix="uhecr-pg-"))
    base.chmod(0o755)
    data, pwfile = base / "data", base / "pw"
    data.mkdir()
    pwfile.write_text(PG_PASSWORD)
    for path in (base, data, pwfile):
        shutil.chown(path, "postgres", "postgres")
    as_postgres(pg / "initdb", "-D", data, "-U", "uhecr", "--pwfile", pwfile, "-A", "scram-sha-256")
    port = free_port()
    options = f"-p {port} -k {base} -c listen_addresses=127.0.0.1"
    as_postgres(pg / "pg_ctl", "-D", data, "-o", options, "-l", base / "log", "-w", "start")
    try:
        env = {**os.environ, "PGPASSWORD": PG_PASSWORD}
        for db in databases:
            createdb = [pg / "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "uhecr", db]
            subprocess.run(createdb, check=True, env=env, capture_output=True)
        yield port
    finally:
        as_postgres(pg / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(base, ignore_errors=True)


@contextlib.contextmanager
def mlflow_server(postgres_port: int, artifacts):
    """A real ``mlflow server`` on a free loopback port with its backend store in the
    PostgreSQL database ``mlflow`` and artifacts proxied to ``artifacts``; yields its URI. The
    store's password goes through the environment, not the command line."""
    import os
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    port = free_port()
    store = f"postgresql+psycopg2://uhecr:{PG_PASSWORD}@127.0.0.1:{postgres_port}/mlflow"
    env = {**os.environ, "MLFLOW_BACKEND_STORE_URI": store}
    command = [
        str(Path(sys.executable).parent / "mlflow"),
        "server",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        "1",
    ]
    command += ["--artifacts-destination", str(artifacts)]
    server = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(f"{uri}/health", timeout=2).read()
                break
            except OSError:
                if server.poll() is not None or time.time() > deadline:
                    output = server.stdout.read()
                    raise RuntimeError(f"mlflow server did not start: {output}") from None
                time.sleep(0.5)
        yield uri
    finally:
        if server.poll() is None:
            os.killpg(server.pid, 15)
        server.wait(timeout=60)
        server.stdout.close()


# --------------------------------------------------------------------------- the shared run
ROOT = Path(__file__).resolve().parents[1]
CODE_URL = "https://example.org/uhecr/uhecr-workflow.git"  # a user's clone has an http origin
QUICK_RESULTS = "results/quick"  # config/quick.yaml's results_dir, relative to the checkout
QUICK_REPORTS = "reports/quick"


def make_workspace(ws: Path) -> Path:
    """A fresh checkout of the working tree (tracked and untracked, not ignored, files) at
    ``ws``, a git repository with an http(s) ``origin`` as a user's clone has, sharing the
    project's installed venvs (symlinks)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        if (ROOT / name).is_file():
            (ws / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, ws / name)
    for venv in (".venv", ".venv-citation"):
        assert (ROOT / venv).is_dir(), f"{venv} missing: make test installs it"
        (ws / venv).symlink_to(ROOT / venv)
    (ws / ".git").mkdir()
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=ws, check=True)
    (ws / ".git/info/exclude").write_text(".venv\n.venv-citation\n")  # links, not directories
    for args in (["add", "-A"], ["commit", "-qm", "checkout"]):
        subprocess.run([*git, *args], cwd=ws, check=True)
    subprocess.run(["git", "remote", "add", "origin", CODE_URL], cwd=ws, check=True)
    return ws


def workspace_env(ws: Path) -> dict:
    """The environment of a user who activated the workspace's venv."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env["PATH"] = f"{ws / '.venv/bin'}:{env['PATH']}"  # `source .venv/bin/activate`
    env["VIRTUAL_ENV"] = str(ws / ".venv")
    return env


def copy_workspace(src: Path, dest: Path) -> Path:
    """A copy of a workspace with its run, for a test that changes it. Results and Snakemake's
    metadata use paths relative to the checkout, so the copy's run is complete as it stands
    (modification times kept: nothing is scheduled again)."""
    shutil.copytree(src, dest, symlinks=True)
    return dest


@dataclass(frozen=True)
class SharedRun:
    """``make quick`` run once per test session in a fresh workspace (``ws``): every test that
    only reads a quick run's outputs reads these; a test that changes them copies the
    workspace first (``copy_workspace``)."""

    ws: Path
    command: str
    output: str
    seconds: float

    @property
    def results(self) -> Path:
        return self.ws / QUICK_RESULTS

    @property
    def reports(self) -> Path:
        return self.ws / QUICK_REPORTS


@pytest.fixture(scope="session")
def shared_quick_run(tmp_path_factory) -> SharedRun:
    ws = make_workspace(tmp_path_factory.mktemp("shared") / "uhecr-workflow")
    command = "make quick"  # exactly as the README shows it
    start = time.perf_counter()
    out = subprocess.run(
        ["bash", "-c", command],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=1800,
        env=workspace_env(ws),
    )
    output = out.stdout + out.stderr
    assert out.returncode == 0, f"{command} failed (exit {out.returncode}):\n{output[-6000:]}"
    return SharedRun(ws, command, output, time.perf_counter() - start)


def rules_run(log: str) -> set[str]:
    """The rules of the jobs in a Snakemake log (its "rule NAME:" / "localrule NAME:" lines; a
    rule's name elsewhere, e.g. a script among a job's inputs, is not a job)."""
    import re

    return set(re.findall(r"^\s*(?:local)?rule (\w+):", log, flags=re.M))


def snakemake_in(ws: Path, *args, target=None, env=None, timeout=1800):
    """Snakemake on the quick configuration in workspace ``ws``; ``target`` goes first
    (``--configfile`` and ``--config`` take several values)."""
    cmd = [sys.executable, "-m", "snakemake", *([target] if target else []), "--cores", "2"]
    cmd += ["--configfile", "config/quick.yaml", *args]
    return subprocess.run(cmd, cwd=ws, capture_output=True, text=True, timeout=timeout, env=env)


# --------------------------------------------------------------------------- sweep schedule
# The quick configuration with an SVM sweep longer than the sampler's random start-up (2
# trials) and its batch (2 trials): slots 4 and 5 are drawn by TPE from the earlier batches.
SCHEDULE_OVERLAY = {"models": {"svm": {"n_trials": 6}}}
SCHEDULE_TARGET = f"{QUICK_RESULTS}/evaluation/svm/metrics.json"
SCHEDULE_FILES = (
    "search/svm/trials.csv",
    "search/svm/best_params.json",
    "evaluation/svm/metrics.json",
)


def schedule_command(ws: Path, n_workers: int, *extra: str) -> list[str]:
    """The command that sweeps and evaluates the SVM with ``n_workers`` workers in ``ws``."""
    import yaml

    overlay = ws / f"schedule_{n_workers}.yaml"
    overlay.write_text(
        yaml.safe_dump({**SCHEDULE_OVERLAY, "search": {"n_workers": int(n_workers)}})
    )
    return [
        sys.executable, "-m", "snakemake", SCHEDULE_TARGET, *extra,
        "--configfile", "config/quick.yaml", str(overlay),
    ]  # fmt: skip


def schedule_outputs(ws: Path) -> dict[str, bytes]:
    return {name: (ws / QUICK_RESULTS / name).read_bytes() for name in SCHEDULE_FILES}


@pytest.fixture(scope="session")
def schedule_reference(shared_quick_run, tmp_path_factory) -> dict[str, bytes]:
    """The SVM sweep of SCHEDULE_OVERLAY with one worker, on the shared run's data (a copy):
    what every other number of workers, scheduler and interruption must reproduce byte for
    byte."""
    ws = copy_workspace(shared_quick_run.ws, tmp_path_factory.mktemp("one") / "uhecr-workflow")
    out = subprocess.run(
        [*schedule_command(ws, 1), "--cores", "2"],
        cwd=ws,
        capture_output=True,
        text=True,
        timeout=1800,
    )
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    assert "rule simulate" not in out.stdout + out.stderr  # the shared run's data
    return schedule_outputs(ws)


# --------------------------------------------------------------------------- tiers
# A test that uses one of these fixtures (directly or through another) must carry the marker:
# the parallel tiers must never start a workflow run, a browser or depend on the SLURM cluster.
FIXTURE_MARKERS = {
    "shared_quick_run": "workflow",
    "schedule_reference": "workflow",
    "browser": "browser",
    "cluster": "slurm",
}


def pytest_collection_modifyitems(config, items):
    missing = [
        f"{item.nodeid} uses fixture {fixture} but is not marked {marker}"
        for item in items
        for fixture, marker in FIXTURE_MARKERS.items()
        if fixture in getattr(item, "fixturenames", ()) and item.get_closest_marker(marker) is None
    ]
    missing += [  # a workflow test is slow too: make test-fast never starts one
        f"{item.nodeid} is marked workflow but not slow"
        for item in items
        if item.get_closest_marker("workflow") and not item.get_closest_marker("slow")
    ]
    if missing:
        raise pytest.UsageError("test tiers:\n" + "\n".join(missing))
