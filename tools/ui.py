"""Open a finished run in the MLflow UI and the Optuna dashboard (``make ui``).

    python tools/ui.py --config config/quick.yaml [--port 5000] [--dashboard-port 8080]
                       [--model xgboost] [--host 127.0.0.1]

Both servers listen on ``--host`` (loopback by default; forward the ports on a cluster,
``ssh -L 5000:localhost:5000 -L 8080:localhost:8080 login-node``) until Ctrl-C or SIGTERM, which
stops both. The MLflow store is the run's (``search.tracking_uri``, or the SQLite file under
``results_dir``); the dashboard shows one model's sweep (``--model``, default the first enabled
model), from its journal file or from the ``search.storage`` database.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from uhecr import configuration, search  # noqa: E402


def commands(config: dict, args) -> list[list[str]]:
    results = Path(config["results_dir"])
    db = results / "mlflow" / "mlflow.db"
    uri = search.tracking_uri_for(config["search"]["tracking_uri"], db)
    if uri.startswith("sqlite:") and not db.exists():
        raise SystemExit(f"{db}: no MLflow store yet; run the workflow on this config first")
    model = args.model or config["models"]["enabled"][0]
    bin_dir = Path(sys.executable).parent
    mlflow = [str(bin_dir / "mlflow"), "ui", "--backend-store-uri", uri]
    mlflow += ["--host", args.host, "--port", str(args.port)]
    storage = config["search"]["storage"]
    if storage == "journal":
        journal = results / "search" / model / "optuna.journal"
        if not journal.exists():
            raise SystemExit(f"{journal}: no sweep of {model!r} yet (search.storage: journal)")
        dashboard = [str(bin_dir / "optuna-dashboard"), str(journal)]
        dashboard += ["--storage-class", "JournalFileStorage"]
    else:
        dashboard = [str(bin_dir / "optuna-dashboard"), os.path.expandvars(storage)]
    dashboard += ["--host", args.host, "--port", str(args.dashboard_port)]
    return [mlflow, dashboard]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="config/config.yaml", help="the run's config overlay")
    parser.add_argument("--port", type=int, default=5000, help="MLflow UI port")
    parser.add_argument("--dashboard-port", type=int, default=8080, help="Optuna dashboard port")
    parser.add_argument("--model", help="model whose sweep the dashboard shows")
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    config = configuration.load(args.config)
    servers = [subprocess.Popen(cmd, start_new_session=True) for cmd in commands(config, args)]
    print(f"MLflow UI:        http://{args.host}:{args.port}", flush=True)
    print(f"Optuna dashboard: http://{args.host}:{args.dashboard_port}", flush=True)

    def stop_all() -> None:
        for server in servers:
            if server.poll() is None:
                os.killpg(server.pid, signal.SIGTERM)
        for server in servers:
            server.wait(timeout=30)

    def stop(*_):
        stop_all()
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        while all(s.poll() is None for s in servers):
            time.sleep(0.5)
    except KeyboardInterrupt:
        stop()
    failed = [s.args[0] for s in servers if s.poll() not in (None, 0)]
    stop_all()  # one server ended on its own: stop the other
    if failed:
        print(f"server exited: {failed}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
