"""The ROOT layouts experiments write, written by CERN ROOT itself (PyPI ``root``, pinned in the
lock), give the same features as the project's own layout; and ROOT reads what the workflow
writes (TTree and RNTuple) with the values uproot reads.

Layouts (docs/data-format.md): one entry per event with per-PMT values and traces flattened per
event (the project's), as fixed-size arrays per station (``Short_t adc[nst][3][768]``), or as
nested vectors (``std::vector<std::vector<T>>``, written by ``RDataFrame::Snapshot`` as TTree and
RNTuple); and one entry per station (``Short_t trace[3][768]``, event values repeated).
"""

from __future__ import annotations

import json

import awkward as ak
import numpy as np
import pandas as pd
import pytest
import uproot
from root_writers import LAYOUTS, PROJECT, STATION_BRANCHES, read_project, run, station_columns

from conftest import rules_run, write_small_file
from uhecr import extraction as ex
from uhecr import features as feat
from uhecr.io import InputDataError, InputLayout

FS = feat.FeatureSettings()


@pytest.fixture(scope="module")
def project_file(tmp_path_factory):
    """The project's own layout (the simulation's writer): the reference content."""
    path = tmp_path_factory.mktemp("layouts") / "own.root"
    write_small_file(path, primary="iron", n_stations=400, seed=21)
    return path, read_project(path)


def _features(root, layout, folder, step_size="1 MB"):
    folder.mkdir()
    st, q = folder / "st.parquet", folder / "q.parquet"
    ex.extract_station_table(
        root, st, q, layout, FS, step_size=step_size, sample="run1", summary_path=None
    )
    out = folder / "features.parquet"
    ex.compute_feature_table(st, out, folder / "fq.parquet", FS, batch_size=100)
    table = pd.read_parquet(out).drop(columns=["source_file", "entry"])
    return table.sort_values(["shower_id", "station_id"]).reset_index(drop=True)


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["fixed", "station_major", "nested_ttree", "nested_rntuple"])
def test_foreign_layout_written_by_root_gives_the_projects_features(project_file, tmp_path, layout):
    source, _ = project_file
    path = tmp_path / f"{layout}.root"
    run(layout, source, path)
    mapping = LAYOUTS[layout]
    reference = _features(source, InputLayout(), tmp_path / "own")
    # A small step size: several chunks, so events cross chunk boundaries (station-major).
    got = _features(path, mapping, tmp_path / "foreign", step_size=20_000)
    assert len(reference) > 300
    # The foreign files carry no optional MC truth (Xmax, muon/EM signals): nothing else differs.
    assert set(reference.columns) - set(got.columns) == {
        "mc_xmax",
        "mc_signal_muon",
        "mc_signal_em",
    }
    pd.testing.assert_frame_equal(got, reference[got.columns], check_exact=True)


@pytest.mark.slow
def test_station_major_event_values_must_agree_and_stations_stay_together(project_file, tmp_path):
    _, arrays = project_file
    nst = ak.to_numpy(ak.num(arrays[PROJECT["station_id"]]))
    columns = station_columns(arrays)  # e0..e6: event values per station, s0..s10: station's
    first_multi = int(np.argmax(nst > 1))
    row = int(nst[:first_multi].sum()) + 1  # the second station of an event
    energy = columns["e2"].copy()
    energy[row] *= 1.5
    np.savez(tmp_path / "a.npz", **{**columns, "e2": energy})
    run("station_major", tmp_path / "a.npz", tmp_path / "a.root")
    layout = InputLayout(tree="stations", branches=STATION_BRANCHES)
    with pytest.raises(InputDataError, match=rf"'E' .*differs within event .* at entry {row}"):
        _features(tmp_path / "a.root", layout, tmp_path / "a")
    order = np.r_[np.arange(1, int(nst.sum())), 0]  # the first event's first station moved last
    moved = {k: c.reshape(int(nst.sum()), -1)[order].reshape(-1) for k, c in columns.items()}
    np.savez(tmp_path / "b.npz", **moved)
    run("station_major", tmp_path / "b.npz", tmp_path / "b.root")
    with pytest.raises(InputDataError, match="stations must be consecutive entries"):
        _features(tmp_path / "b.root", layout, tmp_path / "b")


def test_wrong_inner_size_names_branch_found_and_supported_layouts(project_file, tmp_path):
    run("fixed", project_file[0], tmp_path / "f.root")
    layout = LAYOUTS["fixed"]
    wrong = InputLayout(tree=layout.tree, branches=layout.branches, n_bins=700)
    with pytest.raises(
        InputDataError,
        match=r"(?s)'adc_hg' .*shape \[3, 768\] per station.*expected \[3, 700\].*fixed-size arrays per station",
    ):
        _features(tmp_path / "f.root", wrong, tmp_path / "x")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["ttree", "rntuple"])
def test_root_reads_what_the_workflow_writes(tmp_path, fmt):
    path = tmp_path / f"{fmt}.root"
    write_small_file(path, primary="helium", n_stations=200, seed=3, fmt=fmt)
    columns = ["event_id", "mc_energy", "station_id", "station_x", "pmt_vem_peak", "trace_hg"]
    read_by_root = json.loads(run("read", path, *columns))
    with uproot.open(path) as f:
        read_by_uproot = f["Events"].arrays(columns, library="ak")
    assert len(read_by_root["event_id"]) == len(read_by_uproot) > 5
    for column in columns:
        ours = read_by_uproot[column]
        theirs = read_by_root[column]
        if ours.ndim == 1:
            np.testing.assert_array_equal(np.asarray(theirs), ak.to_numpy(ours))
        else:
            assert len(theirs) == len(ours)
            for a, b in zip(theirs, ours, strict=True):
                np.testing.assert_array_equal(np.asarray(a), ak.to_numpy(b))


@pytest.mark.slow
@pytest.mark.workflow
def test_own_files_in_a_root_written_layout_through_every_target(tmp_path):
    """A user's data set: ROOT-written station-major files (one sample split over two files,
    given by a glob), mapped by a config file only, through the run, the paper and the bundle;
    nothing of the simulation is scheduled."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[1]
    data = tmp_path / "data"
    inputs = {}
    for k, primary in enumerate(("proton", "helium", "oxygen", "iron")):
        own = tmp_path / f"{primary}.own.root"
        write_small_file(
            own, primary=primary, n_stations=600, seed=40 + k, first_event_id=k * 10**6
        )
        arrays = read_project(own)
        halves = {"a": arrays[: len(arrays) // 2], "b": arrays[len(arrays) // 2 :]}
        folder = data / f"{primary}_run"
        folder.mkdir(parents=True)
        for part, chunk in halves.items():
            np.savez(tmp_path / "part.npz", **station_columns(chunk))
            run("station_major", tmp_path / "part.npz", folder / f"part_{part}.root")
        inputs[f"{primary}_run"] = str(folder / "part_*.root")
    overlay = {
        "results_dir": str(tmp_path / "results"),
        "reports_dir": str(tmp_path / "reports"),
        "data": {"source": "files", "input_files": inputs},
        "extraction": {"tree": "stations", "branches": STATION_BRANCHES, "step_size": "2 MB"},
        # One station-level and one shower-level model: what follows the feature table does
        # not see the layout, and the shared quick run takes every model and replicates through.
        "models": {"enabled": ["xgboost", "deepsets"]},
        "search": {"replicates": 1},
    }
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(overlay))
    base = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        "--configfile",
        "config/quick.yaml",
        str(tmp_path / "mine.yaml"),
    ]  # noqa: E501
    for target, runs in (([], "extract_stations"), (["paper"], "paper"), (["zenodo"], "zenodo")):
        out = subprocess.run(
            [*base[:3], *target, *base[3:]], cwd=repo, capture_output=True, text=True, timeout=1800
        )
        assert out.returncode == 0, out.stderr[-4000:]
        ran = rules_run(out.stdout + out.stderr)
        assert runs in ran, ran  # the job lines are read (a rule with a message: has none)
        assert not ran & {"simulate", "validate_simulation"}, ran
    results = tmp_path / "results"
    summary = json.loads((results / "stations" / "iron_run.summary.json").read_text())
    assert [Path(f["file"]).name for f in summary["files"]] == ["part_a.root", "part_b.root"]
    features = pd.read_parquet(results / "features" / "stations.parquet")
    assert set(features["shower_id"].str.split(":").str[0]) == set(inputs)
    assert {p.parent.name for p in (results / "evaluation").glob("*/metrics.json")} == {
        "xgboost",
        "deepsets",
    }
    assert (tmp_path / "reports" / "paper" / "main.tex").exists()
    assert not (tmp_path / "reports" / "paper" / "figures" / "validation_xmax_moments.pdf").exists()
    bundle = json.loads((tmp_path / "reports" / "zenodo" / "provenance.json").read_text())
    assert len(bundle["input_files"]) == 8  # every part of every sample, checksummed


@pytest.mark.slow
@pytest.mark.workflow
@pytest.mark.parametrize("layout", ["fixed", "nested_ttree", "nested_rntuple"])
def test_own_files_in_the_other_layouts_give_the_feature_table(tmp_path, layout):
    """The other ROOT-written layouts through the workflow's extraction and merge with a config
    file only (up to the feature table: the station-major test above takes its files through
    every model, the paper and the bundle; what follows the merge does not see the layout)."""
    import subprocess
    import sys
    from pathlib import Path

    import yaml

    repo = Path(__file__).resolve().parents[1]
    inputs = {}
    for k, primary in enumerate(("proton", "helium", "oxygen", "iron")):
        own = tmp_path / f"{primary}.own.root"
        write_small_file(
            own, primary=primary, n_stations=600, seed=60 + k, first_event_id=k * 10**6
        )
        run(layout, own, tmp_path / f"{primary}.root")
        inputs[primary] = str(tmp_path / f"{primary}.root")
    mapping = LAYOUTS[layout]
    overlay = {
        "results_dir": str(tmp_path / "results"),
        "reports_dir": str(tmp_path / "reports"),
        "data": {"source": "files", "input_files": inputs},
        "extraction": {"tree": mapping.tree, "branches": mapping.branches},
        "models": {"enabled": ["xgboost"]},
    }
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(overlay))
    command = [sys.executable, "-m", "snakemake", "--cores", "2", "--configfile"]
    command += ["config/quick.yaml", str(tmp_path / "mine.yaml"), "--until", "merge_features"]
    out = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=1800)
    assert out.returncode == 0, out.stderr[-4000:]
    ran = rules_run(out.stdout + out.stderr)
    assert "merge_features" in ran and "simulate" not in ran, ran
    results = tmp_path / "results"
    features = pd.read_parquet(results / "features" / "stations.parquet")
    summary = json.loads((results / "features" / "summary.json").read_text())
    assert summary["stations"] == len(features) > 100
    assert set(features["shower_id"].str.split(":").str[0]) == set(inputs)
    assert features.groupby("primary")["shower_id"].nunique().gt(10).all()
    # Each sample's stations are the ones the files hold, each read once.
    for primary in inputs:
        counts = json.loads((results / "stations" / f"{primary}.summary.json").read_text())
        assert counts["stations_read"] == counts["stations"] + sum(counts["quarantined"].values())
        assert counts["stations"] > 100
    assert not (results / "search").exists()


def _station_major_with_uproot(columns, path, trace_shape=(3, 768), extra=None):
    """A station-major TTree written by uproot (fixed-size arrays per entry)."""
    n = len(columns["e0"])
    names = ["event", "pdg", "E", "zenith", "azimuth", "xc", "yc", "id", "x", "y"]
    arrays = {name: columns[f"e{k}"] for k, name in enumerate(names[:7])}
    arrays.update({name: columns[f"s{k}"] for k, name in zip(range(3), names[7:], strict=True)})
    pmt = ["pmtOK", "blHG", "blLG", "vemPeak", "vemCharge", "daRatio"]
    arrays.update({name: columns[f"s{k + 3}"].reshape(n, 3) for k, name in enumerate(pmt)})
    arrays["pmtOK"] = arrays["pmtOK"].astype(bool)
    for key, name in (("s9", "trace"), ("s10", "traceLG")):
        arrays[name] = (
            columns[key]
            .reshape(n, 3, 768)
            .transpose((0, 2, 1) if trace_shape == (768, 3) else (0, 1, 2))
            .copy()
        )
    arrays.update(extra or {})
    with uproot.recreate(path) as f:
        f.mktree("stations", {k: (v.dtype, v.shape[1:]) for k, v in arrays.items()})
        f["stations"].extend(arrays)
    return path


@pytest.mark.slow
def test_station_major_checks_that_need_the_whole_event(project_file, tmp_path):
    """A station id twice in one event across a chunk boundary is an error; a NaN in an
    optional event-level value (here Xmax) is absent, not a value that differs."""
    _, arrays = project_file
    columns = station_columns(arrays)
    nst = ak.to_numpy(ak.num(arrays[PROJECT["station_id"]]))
    layout = InputLayout(tree="stations", branches={**STATION_BRANCHES, "xmax": "xm"})
    n = len(columns["e0"])
    nan_xmax = {"xm": np.full(n, np.nan)}
    ok = _features(
        _station_major_with_uproot(columns, tmp_path / "ok.root", extra=nan_xmax),
        layout, tmp_path / "ok", step_size=1,
    )  # fmt: skip
    assert len(ok) > 300
    last = int(np.flatnonzero(nst > 3)[0])
    first = int(nst[:last].sum())
    ids = columns["s0"].copy()
    ids[first + 3] = ids[first]  # the event's 4th station repeats its 1st
    dup = _station_major_with_uproot({**columns, "s0": ids}, tmp_path / "dup.root", extra=nan_xmax)
    with pytest.raises(
        InputDataError, match=rf"appears twice in event .*entries {first} and {first + 3}"
    ):
        _features(dup, layout, tmp_path / "dup", step_size=1)  # one entry per chunk


def test_bin_major_traces_are_refused_not_scrambled(project_file, tmp_path):
    _, arrays = project_file
    path = _station_major_with_uproot(
        station_columns(arrays), tmp_path / "bm.root", trace_shape=(768, 3)
    )
    layout = InputLayout(tree="stations", branches=STATION_BRANCHES)
    with pytest.raises(InputDataError, match=r"'trace' .*has shape \[768, 3\] per station"):
        _features(path, layout, tmp_path / "bm")


def test_a_chunk_without_stations_reads_as_empty():
    from uhecr import io

    rows = ak.Array(np.zeros((0, 3, 768), dtype=np.int16))
    values = io._rows_of("f.root", InputLayout(), "trace_hg", rows, (3, 768), np.array([]))
    assert values.shape == (0, 2304)
