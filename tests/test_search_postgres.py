"""Sweep workers sharing one study in a real PostgreSQL server (the multi-node storage).

The server is a throw-away cluster in a temporary folder (Debian's PostgreSQL binaries); the
password reaches the storage URL only through an environment variable. CI=true: a missing
PostgreSQL is a failure; elsewhere the test is skipped.
"""

import multiprocessing as mp
import os
import time

import optuna
import pytest
from optuna.trial import TrialState
from test_search import SVM_CFG, _blobs

from conftest import PG_PASSWORD as PASSWORD
from conftest import postgres_cluster
from uhecr import search

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


@pytest.fixture(scope="module")
def postgres_url():
    with postgres_cluster(["optuna"]) as port:
        yield f"postgresql+psycopg2://uhecr:${{UHECR_OPTUNA_DB_PASSWORD}}@127.0.0.1:{port}/optuna"


def _worker(args):
    url, info, worker, tracking = args
    os.environ["UHECR_OPTUNA_DB_PASSWORD"] = PASSWORD
    storage = search.storage_for(url, "unused")
    return search.run_worker(
        "svm",
        {**SVM_CFG, "n_trials": 6},
        _blobs(),
        storage,
        info,
        worker,
        {"sampler": {"name": "tpe", "n_startup_trials": 2}, "pruner": {"name": "none"}},
        5,
        tracking,
    )


def test_two_workers_share_a_postgres_study(postgres_url, tmp_path, monkeypatch):
    monkeypatch.setenv("UHECR_OPTUNA_DB_PASSWORD", PASSWORD)
    storage = search.storage_for(postgres_url, "unused")
    assert "postgresql" in type(storage).__name__.lower() or hasattr(storage, "engine")
    tracking = f"sqlite:///{tmp_path / 'mlflow.db'}"
    search.init_tracking(tracking, "pg", tmp_path / "artifacts")
    info = search.create_study(
        "svm", f"pg-{time.time_ns()}", storage, tracking, "pg", {**SVM_CFG, "n_trials": 6}, 5
    )
    with mp.get_context("spawn").Pool(2) as pool:
        results = pool.map(_worker, [(postgres_url, info, w, tracking) for w in ("00", "01")])
    assert sum(len(r["trials"]) for r in results) == 6
    study = optuna.load_study(study_name=info["study_name"], storage=storage)
    assert len(study.get_trials(states=(TrialState.COMPLETE,))) == 6
    assert str(storage.engine.url).startswith("postgresql")
    assert PASSWORD not in postgres_url  # the URL in config carries only the variable's name


def test_missing_password_variable_is_an_error(postgres_url, monkeypatch):
    monkeypatch.delenv("UHECR_OPTUNA_DB_PASSWORD", raising=False)
    with pytest.raises(ValueError, match="unset environment variable"):
        search.storage_for(postgres_url, "unused")
