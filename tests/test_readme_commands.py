"""Every command the README shows works as typed, on the quick configuration.

The commands are read from the README itself (its code spans and ``bash`` blocks), so the README
and this test cannot drift apart: a command added to the README without an entry here fails the
test, and so does an entry here that the README no longer shows. The overrides that put a command
on the quick configuration are the ones the README documents ("Running it"). The commands run in
a copy of the working tree (a fresh git checkout with an http(s) ``origin``, as a user's clone
has), sharing the project's installed venvs, in the order a user would type them.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from conftest import CODE_URL, copy_workspace, free_port, workspace_env

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from render_performance import fmt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
COMMAND_WORDS = ("make", "snakemake", "python", "apptainer")
# The README's documented overrides ("Running it"): the quick configuration and its folders.
OVERRIDES = [
    ("config/config.yaml", "config/quick.yaml"),
    ("results/default", "results/quick"),
    ("reports/default", "reports/quick"),
]


def readme_commands(text: str) -> list[str]:
    """Commands in the README: code spans and ``bash`` block lines that start with a command
    (optionally after environment assignments such as ``ZENODO_TOKEN=...``)."""
    found = []
    for block in re.findall(r"```bash\n(.*?)```", text, flags=re.S):
        found += [line.split("#")[0].strip() for line in block.splitlines()]
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    found += re.findall(r"`([^`\n]+)`", prose)
    commands = []
    for candidate in found:
        words = re.sub(r"^([A-Z_]+=\S+\s+)+", "", candidate).split()
        command = words and (words[0] in COMMAND_WORDS or words[0].startswith(".venv/bin/"))
        if command and candidate not in commands:
            commands.append(candidate)
    return commands


@dataclass
class Run:
    """Run the command (with the overrides); ``check`` inspects the workspace afterwards."""

    check: object = None
    env: dict = field(default_factory=dict)


@dataclass
class Serve:
    """A server command: started, queried over HTTP, stopped (``_serve``)."""


@dataclass
class NotHere:
    """The command cannot run on a test machine, for ``reason``."""

    reason: str


def on_quick(command: str) -> str:
    if command.startswith("make"):
        return command if "CONFIG=" in command else f"{command} CONFIG=config/quick.yaml"
    for default, quick in OVERRIDES:
        command = command.replace(default, quick)
    return command


def _exists(*paths):
    def check(ws: Path, out: str):
        for path in paths:
            assert (ws / path).exists(), f"{path} missing"

    return check


def _bench(ws: Path, out: str):
    """The issue's keys, measured (finite, positive) in this run of the benchmarks."""
    extraction = json.loads((ws / "results/bench/extraction.json").read_text())
    keys = ["project_s", "uproot_read_s", "root_asnumpy_s", "root_compiled_s", "codec_limit_s"]
    keys += ["project_over_uproot", "project_over_root_asnumpy"]
    assert all(np.isfinite(extraction[k]) and extraction[k] > 0 for k in keys), extraction
    search = json.loads((ws / "results/bench/search.json").read_text())
    for model in ("xgboost", "dae"):
        for key in ("two_over_one_workers", "two_over_one_processes_ceiling"):
            assert search[f"{model}_{key}"] > 0, (model, key)
        # The batch schedule's wall time over free-running on the same trials, per worker count.
        cost = search["models"][model]["schedule_cost"]
        assert set(cost) == {"1", "2"} and all(c["median"] > 0 for c in cost.values()), cost
        # "config": the model's configured pruner, run unless it equals another variant
        expected = {"none", "median", "hyperband"} | ({"config"} if model == "dae" else set())
        assert {r["pruner"] for r in search["models"][model]["pruning"]} == expected
        medians = search["models"][model]["pruning_medians"]
        assert medians["none"]["wall_ratio"] == 1.0 and medians["none"]["reached_target"] >= 1
        # Replays: every pruner (live ones too) on each seed's unpruned trials; none beats the
        # oracle floor, and one that prunes nothing takes the unpruned sweep's own time.
        result = search["models"][model]
        replayed = set(result["replayed_pruners"])
        assert expected - {"none"} <= replayed and len(replayed) > len(expected)
        seeds = {c["seed"]: c for c in result["rank_correlations"]}
        assert len(result["replays"]) == len(replayed) * len(seeds) and seeds
        for r in result["replays"]:
            own = seeds[r["seed"]]
            assert 0 < own["oracle_target_ratio"] <= own["unpruned_target_ratio"] + 1e-6, own
            assert own["unpruned_target_ratio"] <= 1, own
            if r["target_ratio"] is not None:
                assert r["target_ratio"] >= own["oracle_target_ratio"] - 1e-6, (r, own)
            if r["pruned"] == 0:
                assert r["target_ratio"] == pytest.approx(own["unpruned_target_ratio"]), r
        assert any(r["pruned"] == 0 for r in result["replays"])
    assert "trials per hour" in out and "pruning vs none" in out and "medians over" in out


def _bench_rendered(ws: Path, out: str):
    """The short bench, and docs/performance.md regenerated from its JSON."""
    _bench(ws, out)
    page = (ws / "docs/performance.md").read_text()
    extraction = json.loads((ws / "results/bench/extraction.json").read_text())
    search = json.loads((ws / "results/bench/search.json").read_text())
    assert "Generated, never typed" in page
    assert fmt(extraction["project_over_uproot"]) in page
    assert fmt(search["models"]["xgboost"]["two_over_one_workers"]["median"]) in page


def _quick_results(ws: Path, out: str):
    for model in ("svm", "xgboost", "dae", "sdae", "vae", "deepsets", "xgboost_shower"):
        metrics = json.loads((ws / f"results/quick/evaluation/{model}/metrics.json").read_text())
        assert 0 <= metrics["accuracy"]["value"] <= 1
    assert (ws / "reports/quick/report.html").stat().st_size > 100_000


def _nothing_to_do(ws: Path, out: str):
    assert "Nothing to be done" in out, out[-2000:]


def _paper(ws: Path, out: str):
    from latex import compile_pdf, latex_problems

    main = ws / "reports/quick/paper/main.tex"
    pdf, log = compile_pdf(main)
    assert latex_problems(log) == [] and pdf.stat().st_size > 10_000


def _bundle(ws: Path, out: str):
    from uhecr import archive

    bundle = ws / "reports/quick/zenodo"
    assert archive.verify_manifest(bundle) == []
    metadata = json.loads((bundle / ".zenodo.json").read_text())
    assert archive.zenodo_metadata_problems(metadata) == []
    assert {"identifier": CODE_URL, "relation": "isSupplementTo", "resource_type": "software",
            "scheme": "url"} in metadata["related_identifiers"]  # fmt: skip
    readme = (bundle / "README.md").read_text()
    commit = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ws, capture_output=True, text=True
    ).stdout.strip()
    assert f"git clone {CODE_URL}" in readme and f"git checkout {commit}" in readme


def _dry_run(ws: Path, out: str):
    assert "manifest OK" in out


def _repro(ws: Path, out: str):
    report = json.loads((ws / "results/repro/reproducibility.json").read_text())
    assert report["identical"], report["differences"]
    a, b = report["run_a"], report["run_b"]
    assert a["split_ids_sha256"] == b["split_ids_sha256"]
    assert set(a["models"]) == {
        "svm",
        "xgboost",
        "dae",
        "sdae",
        "vae",
        "deepsets",
        "xgboost_shower",
    }


def _unchanged(ws: Path, out: str):
    status = subprocess.run(
        ["git", "status", "--porcelain"], cwd=ws, capture_output=True, text=True
    ).stdout
    assert status == "", f"the command changed tracked files:\n{status}"


def _cleaned(ws: Path, out: str):
    assert not (ws / "results/quick").exists() and not (ws / ".snakemake").exists()


OWN_FILES = (
    "needs the user's files and overlay; tests/test_root_layouts.py runs the workflow, paper and "
    "zenodo targets on ROOT-written files with such an overlay"
)
NO_CONDA = "conda cannot be installed here (no conda channel access); envs/ are checked instead"
NO_APPTAINER = "Apptainer cannot be installed here"
# In the order a user runs them: the quick run first, the other targets on its results, then
# the development targets (the short bench after those that check an unchanged tree), `make
# clean` last.
PLAN: dict[str, Run | Serve | NotHere] = {
    "make quick": Run(_quick_results),
    "make run": Run(_nothing_to_do),
    "make setup": Run(),
    ".venv/bin/snakemake --cores 2 --configfile config/config.yaml": Run(_nothing_to_do),
    "make report": Run(_exists("reports/report.html")),
    "make report CONFIG=config/quick.yaml REPORT=reports/quick/report.html": Run(
        _exists("reports/quick/report.html")
    ),
    "snakemake --configfile config/config.yaml --report reports/report.html": Run(
        _exists("reports/report.html")
    ),
    "make paper": Run(_paper),
    "make zenodo": Run(_bundle),
    "python tools/zenodo_upload.py reports/default/zenodo --dry-run": Run(_dry_run),
    "make citation": Run(),
    "make repro": Run(_repro),
    "make ui": Serve(),
    "make envs": Run(_unchanged),
    "make format": Run(_unchanged),
    "make lint": Run(),
    "snakemake --lint": Run(lambda ws, out: "Congratulations" in out or pytest.fail(out[-2000:])),
    # After make envs and make format: it rewrites docs/performance.md, a tracked file.
    "make bench BENCH_STATIONS=2000 BENCH_ROUNDS=1 BENCH_TRIALS=2 BENCH_REPEATS=1 BENCH_WORKER_TRIALS=2 BENCH_WORKER_ROUNDS=1 BENCH_WORKER_EPOCHS=1 BENCH_SCHEDULE_WORKERS=2 BENCH_TRAIN=2000 BENCH_EPOCHS=2": Run(
        _bench_rendered
    ),
    "make clean": Run(_cleaned),
    "make run CONFIG=mine.yaml": NotHere(OWN_FILES),
    "make paper CONFIG=mine.yaml": NotHere(OWN_FILES),
    "make apply CONFIG=mine-apply.yaml": NotHere(
        "needs the user's files and overlay; tests/test_workflow_e2e.py runs target apply on an "
        "unlabelled ROOT file with such an overlay"
    ),
    "make test": NotHere("runs this test suite, which contains this test; .ci/run runs it"),
    "make results-doc": NotHere(
        "reruns the default configuration (tens of minutes on 2 cores); tests/test_findings.py "
        "checks that docs/results.md was made by this code and config"
    ),
    "make test-fast": NotHere(
        "runs this test suite's fast tier, which contains this file's fast tests; make test runs it"
    ),
    "make bench": NotHere(
        "the full benchmark takes about 10 minutes; the short one of the README runs here"
    ),
    "make lock": NotHere(
        "re-resolves requirements.in against the live index (downloads about 1 GB; the result "
        "depends on the day's releases); tests/test_environments.py checks lock and envs agree"
    ),
    "snakemake --cores 2 --sdm conda": NotHere(NO_CONDA),
    "snakemake --sdm conda --conda-create-envs-only": NotHere(NO_CONDA),
    "snakemake --sdm conda --conda-create-envs-only --cores 1": NotHere(NO_CONDA),
    "snakemake --archive workflow.tar.gz": NotHere(f"packs conda packages: {NO_CONDA}"),
    "snakemake --containerize apptainer": NotHere(f"needs conda: {NO_CONDA}"),
    "apptainer build uhecr.sif containers/uhecr.def": NotHere(NO_APPTAINER),
    "snakemake --sdm apptainer --config container=uhecr.sif --cores 2": NotHere(NO_APPTAINER),
    "snakemake --profile profiles/slurm --default-resources slurm_account=<account> slurm_partition=<partition>": NotHere(  # noqa: E501
        "placeholders for the site's account and partition; tests/test_slurm.py runs "
        "--profile profiles/slurm on a real cluster"
    ),
    "ZENODO_TOKEN=... python tools/zenodo_upload.py reports/default/zenodo": NotHere(
        "uploads to zenodo.org with a personal token; the --dry-run form runs here"
    ),
}


@pytest.fixture(scope="module")
def workspace(shared_quick_run, tmp_path_factory):
    """A copy of the session's fresh checkout after its ``make quick`` (the commands here change
    it: ``make clean`` last)."""
    return copy_workspace(shared_quick_run.ws, tmp_path_factory.mktemp("readme") / "uhecr-workflow")


def test_lint_runs_in_this_test():
    """.ci/run lints only through the README's make lint, run by test_readme_commands_run_as_typed."""
    assert isinstance(PLAN["make lint"], Run) and isinstance(PLAN["make format"], Run)
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert not [line for line in ci if line.strip().startswith("make lint")]  # not twice


def test_readme_lists_exactly_the_planned_commands():
    shown = readme_commands((ROOT / "README.md").read_text())
    planned = set(PLAN)
    assert set(shown) - planned == set(), "README commands without a plan in this test"
    assert planned - set(shown) == set(), "planned commands the README no longer shows"


README_MAX_LINES = 220
COMMIT_HASH = re.compile(r"\b(?=[0-9a-f]*\d)[0-9a-f]{7,40}\b")  # hex words with a digit
RESULT_NUMBER = re.compile(r"\b0\.\d{2,}\b")  # e.g. an accuracy typed from a run


def readme_problems(text: str) -> list[str]:
    """Why a README is not a README: too long, or commit hashes or typed result numbers outside
    its code blocks (they belong in CHANGELOG.md, docs/results.md and docs/performance.md)."""
    problems = []
    if len(text.splitlines()) > README_MAX_LINES:
        problems.append(f"{len(text.splitlines())} lines (at most {README_MAX_LINES})")
    prose = re.sub(r"```.*?```", "", text, flags=re.S)
    for name, pattern in (("commit hash", COMMIT_HASH), ("result number", RESULT_NUMBER)):
        found = pattern.findall(prose)
        if found:
            problems.append(f"{len(found)} {name}(s), e.g. {found[:5]}")
    return problems


def test_readme_is_short_without_hashes_or_typed_results():
    assert readme_problems((ROOT / "README.md").read_text()) == []
    # The checks bite: the README before it was slimmed fails each of them.
    old = "\n".join(["# x", *["line"] * README_MAX_LINES])
    old += "\nNumbers of a `make run` at commit 92cf722: SVM 0.355 [0.328, 0.383]\n"
    assert [p.split()[1] for p in readme_problems(old)] == ["lines", "commit", "result"]
    fenced = "```bash\ngit checkout 92cf722  # 0.355\n```\n"
    assert readme_problems(fenced) == []


@pytest.mark.slow
@pytest.mark.workflow
def test_readme_commands_run_as_typed(workspace, shared_quick_run, capsys):
    timings, failures = [], []
    env = workspace_env(workspace)
    for command, plan in PLAN.items():
        if isinstance(plan, NotHere):
            continue
        typed = on_quick(command)
        start = time.perf_counter()
        text, rc = "", None
        try:
            if typed == shared_quick_run.command:
                # The session's shared run is this command, typed in a fresh checkout of the
                # same tree: its output is checked here (the workspace is a copy of it).
                text, rc = shared_quick_run.output, 0
                start -= shared_quick_run.seconds
                if plan.check:
                    plan.check(workspace, text)
            elif isinstance(plan, Serve):
                typed, text, rc = _serve(workspace, typed)
            else:
                out = subprocess.run(
                    ["bash", "-c", typed],
                    cwd=workspace,
                    capture_output=True,
                    text=True,
                    timeout=1800,
                    env={**env, **plan.env},
                )
                text, rc = out.stdout + out.stderr, out.returncode
                assert rc == 0, f"exit {rc}"
                if plan.check:
                    plan.check(workspace, text)
        except AssertionError as error:
            failures.append(f"{typed}: {error}\n{text[-3000:]}")
        timings.append((typed, time.perf_counter() - start, rc))
    with capsys.disabled():
        print("\nREADME commands on the quick configuration (seconds, exit code):")
        for typed, seconds, rc in timings:
            print(f"  {seconds:7.1f}  {rc}  {typed}")
    assert failures == [], "\n\n".join(failures)


def _get_json(url: str, body: dict | None = None):
    """GET ``url`` (POST ``body`` as JSON when given) and decode the JSON answer."""
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = urllib.request.Request(url, data=data, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


def _serve(ws: Path, typed: str) -> tuple[str, str, int]:
    """``make ui`` on the finished quick run, on free ports: both servers answer with the
    run's sweeps, and SIGTERM (what Ctrl-C sends the group, too) stops both."""
    ui_port, dashboard_port = free_port(), free_port()
    typed = f"{typed} UI_PORT={ui_port} DASHBOARD_PORT={dashboard_port}"
    server = subprocess.Popen(
        ["bash", "-c", typed],
        cwd=ws,
        env=workspace_env(ws),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    experiments = studies = None
    try:
        deadline = time.time() + 120
        while time.time() < deadline and (experiments is None or studies is None):
            assert server.poll() is None, f"exited {server.returncode}"
            try:
                experiments = _get_json(
                    f"http://127.0.0.1:{ui_port}/api/2.0/mlflow/experiments/search?max_results=10"
                )
                studies = _get_json(f"http://127.0.0.1:{dashboard_port}/api/studies")
            except OSError:
                time.sleep(1)
        assert experiments is not None and studies is not None, "no answer within 120 s"
        assert "quick-sweeps" in {e["name"] for e in experiments["experiments"]}
        sweep = json.loads((ws / "results/quick/search/svm/study.json").read_text())
        assert [s["study_name"] for s in studies["study_summaries"]] == [sweep["study_name"]]
        # The trials themselves, in both UIs: the dashboard lists every trial of the sweep, and
        # MLflow has one run per evaluated trial under the sweep's parent run.
        study_id = studies["study_summaries"][0]["study_id"]
        detail = _get_json(f"http://127.0.0.1:{dashboard_port}/api/studies/{study_id}")
        numbers = [int(line.split(",", 1)[0]) for line in
                   (ws / "results/quick/search/svm/trials.csv").read_text().splitlines()[1:]]  # fmt: skip
        assert sorted(t["number"] for t in detail["trials"]) == sorted(numbers)
        experiment = next(e for e in experiments["experiments"] if e["name"] == "quick-sweeps")
        runs = _get_json(
            f"http://127.0.0.1:{ui_port}/api/2.0/mlflow/runs/search",
            {
                "experiment_ids": [experiment["experiment_id"]],
                "filter": f"tags.mlflow.parentRunId = '{sweep['mlflow_parent_run_id']}'",
                "max_results": 1000,
            },
        )["runs"]
        logged = sorted(
            int(tag["value"])
            for run in runs
            for tag in run["data"]["tags"]
            if tag["key"] == "optuna.trial"
        )
        completed = [t["number"] for t in detail["trials"] if t["state"] == "Complete"]
        assert set(completed) <= set(logged) and len(logged) == len(set(logged))
    finally:
        if server.poll() is None:
            os.killpg(server.pid, signal.SIGTERM)
        rc = server.wait(timeout=60)
        output = server.stdout.read()
        server.stdout.close()
    deadline = time.time() + 30  # tools/ui.py stops both servers on SIGTERM
    while time.time() < deadline and any(_served(p) for p in (ui_port, dashboard_port)):
        time.sleep(0.5)
    assert not any(_served(p) for p in (ui_port, dashboard_port)), "a server outlived make ui"
    return typed, output, rc


def _served(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_readme_config_examples_are_valid_overlays():
    """Each YAML example of "Your own ROOT files" merges into a schema-valid configuration with
    known logical branch names (the file paths are the user's)."""
    import yaml
    from snakemake.utils import validate

    from uhecr import configuration
    from uhecr.io import InputLayout

    blocks = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    assert len(blocks) == 4
    base = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    for block in blocks:
        config = configuration.merge(base, yaml.safe_load(block))
        validate(config, str(ROOT / "config" / "schema.yaml"))
        InputLayout.from_config(config["extraction"])
