from __future__ import annotations

import contextlib

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
