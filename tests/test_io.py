import json
import shutil
from pathlib import Path

import awkward as ak
import numpy as np
import pytest
import uproot

from conftest import rewrite_events
from uhecr import io
from uhecr import simulation as sim
from uhecr.io import InputDataError, InputLayout

LAYOUT = InputLayout()


def _all_stations(path, layout=LAYOUT, step_size="1 MB"):
    return list(io.iterate_stations(path, layout, step_size=step_size))


def test_ttree_round_trip(small_root):
    path, counts = small_root
    with uproot.open(path) as f:
        tree = f["Events"]
        assert isinstance(tree, uproot.TTree)
        assert tree.num_entries == counts["events"]
        n_st = ak.num(tree["station_id"].array())
        assert ak.sum(n_st) == counts["stations"]
        traces = tree["trace_hg"].array()
        assert np.array_equal(ak.to_numpy(ak.num(traces)), ak.to_numpy(n_st) * 3 * 768)
    assert io.read_metadata(path)["seed"] == 7


def test_chunked_reading_is_bounded_and_complete(small_root):
    path, counts = small_root
    chunks = _all_stations(path, step_size=3)  # 3 events per chunk
    assert len(chunks) > 1
    assert sum(len(c) for c in chunks) == counts["stations"]
    entries = np.concatenate([c.columns["entry"] for c in chunks])
    assert np.all(np.diff(entries) >= 0) and entries.max() == counts["events"] - 1
    assert all(c.traces["trace_hg"].shape[1:] == (3, 768) for c in chunks)


def test_rntuple_round_trip_gives_same_layout(small_rntuple):
    path, counts = small_rntuple
    with uproot.open(path) as f:
        assert "RNTuple" in type(f["Events"]).__name__
    chunks = _all_stations(path)
    assert sum(len(c) for c in chunks) == counts["stations"]
    assert set(chunks[0].pmt) == set(io.PMT_LEVEL)


def test_branch_mapping_reads_renamed_branches(small_root, tmp_path):
    path, counts = small_root

    def rename(a):
        a["Trace_HighGain"] = a.pop("trace_hg")
        a["MCEnergy"] = a.pop("mc_energy")
        return a

    dst = rewrite_events(path, tmp_path / "renamed.root", rename)
    with pytest.raises(
        InputDataError,
        match=r"no branch 'mc_energy' \(config key extraction.branches.energy\), 'trace_hg' \(config key extraction.branches.trace_hg\)",
    ):
        _all_stations(dst)
    layout = InputLayout.from_config(
        {"branches": {"trace_hg": "Trace_HighGain", "energy": "MCEnergy"}}
    )
    assert sum(len(c) for c in _all_stations(dst, layout)) == counts["stations"]


def test_unknown_logical_branch_name_in_config():
    with pytest.raises(ValueError, match="extraction.branches has unknown logical name"):
        InputLayout.from_config({"branches": {"tracehg": "x"}})


def test_missing_file_empty_file_and_garbage(tmp_path):
    with pytest.raises(InputDataError, match="does not exist"):
        _all_stations(tmp_path / "nope.root")
    empty = tmp_path / "empty.root"
    empty.write_bytes(b"")
    with pytest.raises(InputDataError, match="empty.root: file is empty"):
        _all_stations(empty)
    garbage = tmp_path / "garbage.root"
    garbage.write_bytes(b"this is not a ROOT file" * 100)
    with pytest.raises(InputDataError, match="garbage.root: not a readable ROOT file"):
        _all_stations(garbage)


def test_truncated_file_names_file(small_root, tmp_path):
    path, _ = small_root
    data = Path(path).read_bytes()
    for fraction in (0.5, 0.9):
        cut = tmp_path / f"truncated_{fraction}.root"
        cut.write_bytes(data[: int(len(data) * fraction)])
        with pytest.raises(InputDataError, match=f"truncated_{fraction}.root"):
            _all_stations(cut)


@pytest.mark.parametrize("fraction", [0.1, 0.3, 0.6, 0.9, 0.99])
def test_truncated_rntuple_names_file_and_tree(small_rntuple, tmp_path, fraction):
    """uproot opens a truncated RNTuple and fails later (footer, pages) with a raw OSError."""
    data = Path(small_rntuple[0]).read_bytes()
    cut = tmp_path / f"cut_{fraction}.root"
    cut.write_bytes(data[: int(len(data) * fraction)])
    with pytest.raises(
        InputDataError, match=rf"cut_{fraction}.root: .*tree 'Events'.* truncated or corrupt"
    ):
        _all_stations(cut)


def test_corrupted_basket_names_file_and_tree(small_root, tmp_path):
    path, _ = small_root
    data = bytearray(Path(path).read_bytes())
    # Overwrite a block in the middle (inside compressed trace baskets).
    mid = len(data) // 2
    data[mid : mid + 4000] = b"\x00" * 4000
    bad = tmp_path / "corrupt.root"
    bad.write_bytes(bytes(data))
    with pytest.raises(InputDataError, match="corrupt.root"):
        _all_stations(bad)


def test_missing_tree_lists_available(small_root):
    path, _ = small_root
    with pytest.raises(InputDataError, match=r"tree 'Showers' not found .*extraction.tree.*Events"):
        _all_stations(path, InputLayout(tree="Showers"))


def test_wrong_dtype_is_reported(small_root, tmp_path):
    path, _ = small_root

    def retype(a):
        a["station_id"] = ak.values_astype(a["station_id"], np.float64)
        return a

    dst = rewrite_events(path, tmp_path / "float_ids.root", retype)
    with pytest.raises(InputDataError, match=r"branch 'station_id' .*dtype float64"):
        _all_stations(dst)


def test_inconsistent_trace_length_is_reported(small_root, tmp_path):
    path, _ = small_root

    def shorten(a):
        a["trace_lg"] = a["trace_lg"][:, :-5]
        return a

    dst = rewrite_events(path, tmp_path / "short.root", shorten)
    with pytest.raises(
        InputDataError, match=r"branch 'trace_lg' .*at entry 0 .*extraction.n_bins=768"
    ):
        _all_stations(dst)


def test_tree_without_entries(tmp_path):
    dst = tmp_path / "noentries.root"
    with uproot.recreate(dst) as f:
        f.mktree("Events", {"event_id": np.int64})
    with pytest.raises(InputDataError, match="has no entries"):
        _all_stations(dst)


def test_unknown_output_format(tmp_path):
    with pytest.raises(ValueError, match="unknown ROOT output format"):
        io.write_detector_file(tmp_path / "x.root", [], 2212, {}, fmt="hdf5")


def test_no_partial_file_left_when_writing_fails(tmp_path):
    def failing():
        raise RuntimeError("simulation died")
        yield  # pragma: no cover

    with pytest.raises(RuntimeError):
        io.write_detector_file(tmp_path / "x.root", failing(), 2212, {})
    assert not (tmp_path / "x.root").exists()


ROOT_CLUSTERS = r"""
import json, sys
import ROOT
f = ROOT.TFile.Open(sys.argv[1])
t = f.Get("Events")
it, starts, start = t.GetClusterIterator(0), [], 0
start = it()
while start < t.GetEntries():
    starts.append(int(start))
    start = it()
total = ROOT.RDataFrame(t).Define("n", "(int)station_id.size()").Sum("n").GetValue()
print(json.dumps({"entries": int(t.GetEntries()), "starts": starts, "stations": int(total)}))
"""


def test_simulated_ttree_is_written_in_clusters_root_sees(tmp_path):
    """Baskets of every branch end at multiples of cluster_events and ROOT's cluster iterator
    reports those clusters (uproot alone writes none, so ROOT saw one per file); the content is
    the same as a file written in one piece."""
    import subprocess
    import sys

    from conftest import SMALL

    def batches():
        return sim.simulate_primary_file("proton", 150, 7, 0, SMALL)

    clustered, whole = tmp_path / "clustered.root", tmp_path / "whole.root"
    counts = io.write_detector_file(clustered, batches(), 2212, {}, cluster_events=7)
    io.write_detector_file(whole, batches(), 2212, {}, cluster_events=10**6)
    out = subprocess.run(
        [sys.executable, "-c", ROOT_CLUSTERS, str(clustered)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    seen = json.loads(out.stdout.strip().splitlines()[-1])
    n = counts["events"]
    assert n > 14 and seen["entries"] == n and seen["stations"] == counts["stations"]
    assert seen["starts"] == list(range(0, n, 7))
    with uproot.open(clustered) as a, uproot.open(whole) as b:
        assert a["Events"]["trace_hg"].num_baskets == -(-n // 7)
        for name in a["Events"].keys():
            assert ak.all(a["Events"][name].array() == b["Events"][name].array(), axis=None)


def _real_root_files():
    import skhep_testdata  # pinned in requirements.lock: a missing package is a failure

    return sorted((Path(skhep_testdata.__file__).parent / "data").glob("*.root"))


def test_real_root_files_written_by_root_give_clear_errors(tmp_path):
    """scikit-hep-testdata 0.3.3 ships files written by many ROOT versions. None has our
    layout: each must be rejected with an InputDataError naming the file (missing tree or
    branch), never a crash or a silently wrong table."""
    files = _real_root_files()
    assert len(files) > 100, "scikit-hep-testdata==0.3.3 should ship 120+ ROOT files"
    opened = 0
    for path in files:
        for tree in ("events", "tree", "Events", "ntuple"):
            layout = InputLayout(tree=tree)
            with pytest.raises(InputDataError) as err:
                _all_stations(path, layout)
            assert path.name in str(err.value)
            opened += "no branch" in str(err.value)
    assert opened > 20  # many real trees were opened and their branches listed


def test_real_root_file_with_mapping_reads_real_jagged_branches(tmp_path):
    """Map the logical names onto a real ROOT-written file (uproot-HZZ.root): every check runs on
    real baskets, and the per-station length check fires with a message naming the branch."""
    files = {p.name: p for p in _real_root_files()}
    path = files["uproot-HZZ.root"]
    with uproot.open(path) as f:
        keys = set(f["events"].keys())
    mapping = {
        "event_id": "NMuon",
        "primary": "NJet",
        "energy": "MET_px",
        "zenith": "MET_py",
        "azimuth": "MET_px",
        "core_x": "MET_px",
        "core_y": "MET_py",
        "station_id": "Muon_Charge",
        "station_x": "Muon_Px",
        "station_y": "Muon_Py",
        "pmt_ok": "Muon_Charge",
        "baseline_hg": "Muon_Px",
        "baseline_lg": "Muon_Py",
        "vem_peak": "Muon_Pz",
        "vem_charge": "Muon_E",
        "da_ratio": "Muon_Iso",
        "trace_hg": "Muon_Charge",
        "trace_lg": "Muon_Charge",
    }
    assert set(mapping.values()) <= keys
    layout = InputLayout(
        tree="events", branches={**io.DEFAULT_BRANCHES, **mapping}, n_pmts=1, n_bins=1
    )
    chunks = list(io.iterate_stations(path, layout, step_size=500))
    assert len(chunks) > 1 and sum(len(c) for c in chunks) > 0
    bad = InputLayout(
        tree="events", branches={**io.DEFAULT_BRANCHES, **mapping}, n_pmts=3, n_bins=1
    )
    with pytest.raises(
        InputDataError, match=r"uproot-HZZ.root: tree 'events' branch 'Muon_Charge'"
    ):
        list(io.iterate_stations(path, bad, step_size=500))


def test_copy_of_file_reads_identically(small_root, tmp_path):
    path, _ = small_root
    dst = tmp_path / "copy.root"
    shutil.copy(path, dst)
    a = _all_stations(path)
    b = _all_stations(dst)
    np.testing.assert_array_equal(a[0].traces["trace_hg"], b[0].traces["trace_hg"])


def test_chunks_carry_per_entry_event_arrays(small_root, tmp_path):
    """One value per entry, entries without stations included (duplicate ids among them must be
    visible to the extraction)."""

    def empty_entry_4(a):
        for name, v in a.items():
            if isinstance(v, ak.Array) and v.ndim > 1:
                a[name] = ak.concatenate([v[:4], v[4:5][:, :0], v[5:]])
        return a

    dst = rewrite_events(small_root[0], tmp_path / "empty4.root", empty_entry_4)
    chunks = _all_stations(dst, step_size=3)
    entries = np.concatenate([c.events["entry"] for c in chunks])
    np.testing.assert_array_equal(entries, np.arange(small_root[1]["events"]))
    with uproot.open(dst) as f:
        ids = f["Events"]["event_id"].array(library="np")
    np.testing.assert_array_equal(np.concatenate([c.events["event_id"] for c in chunks]), ids)
    assert 4 not in np.concatenate([c.columns["entry"] for c in chunks])


@pytest.mark.parametrize(
    ("branch", "logical"),
    [("mc_energy", "energy"), ("mc_azimuth", "azimuth"), ("station_x", "station_x")],
)
def test_non_finite_value_is_reported_at_reading(small_root, tmp_path, branch, logical):
    def corrupt(a):
        if a[branch].ndim > 1:
            flat = ak.to_numpy(ak.flatten(a[branch])).copy()
            flat[int(ak.sum(ak.num(a[branch])[:7]))] = np.inf  # first station of entry 7
            a[branch] = ak.unflatten(flat, ak.num(a[branch]))
        else:
            v = ak.to_numpy(a[branch]).copy()
            v[7] = np.nan
            a[branch] = v
        return a

    dst = rewrite_events(small_root[0], tmp_path / "nonfinite.root", corrupt)
    with pytest.raises(
        InputDataError,
        match=rf"nonfinite.root: tree 'Events' branch '{branch}' \(config key "
        rf"extraction.branches.{logical}\) has a non-finite value: -?(nan|inf) at entry 7",
    ):
        _all_stations(dst, step_size=5)


@pytest.mark.parametrize(
    ("logical", "value", "unit"),
    [("energy", 10.0, "eV"), ("energy", 0.0, "eV"), ("zenith", 38.0, "radians")],
)
def test_energy_and_zenith_in_wrong_units_are_reported_at_reading(
    small_root, tmp_path, logical, value, unit
):
    """An energy in EeV (or zero) or a zenith in degrees would become nonsense features."""
    branch = io.DEFAULT_BRANCHES[logical]

    def corrupt(arrays):
        values = np.asarray(arrays[branch]).copy()
        values[3] = value
        arrays[branch] = values
        return arrays

    bad = rewrite_events(small_root[0], tmp_path / "units.root", corrupt)
    with pytest.raises(
        io.InputDataError,
        match=rf"branch '{branch}' \(config key extraction.branches.{logical}\) has a value "
        rf"outside .*{unit}.* at entry 3",
    ):
        for chunk in io.iterate_stations(bad, io.InputLayout(), "1 GB"):
            io.check_physical_ranges(bad, io.InputLayout(), chunk)


@pytest.mark.parametrize(
    ("entry", "station_id", "means"),
    [("station", "station_id", "event"), ("event", "event_id", "station")],
)
def test_entry_setting_that_contradicts_the_station_id_type_is_explained(
    small_root, entry, station_id, means
):
    """A per-event file read as one entry per station, or a scalar station id read as one
    entry per event, is an error naming the setting and what the type means."""
    from uhecr.io import DEFAULT_BRANCHES, iterate_stations

    layout = InputLayout(branches={**DEFAULT_BRANCHES, "station_id": station_id}, entry=entry)
    with pytest.raises(
        InputDataError, match=rf"extraction.entry is '{entry}'.*one entry per {means}"
    ):
        list(iterate_stations(small_root[0], layout))


def test_isal_decompression_is_used_and_reads_the_same_arrays(small_root):
    import uproot.compression

    root, _ = small_root
    branches = list(io.InputLayout().branches.values())
    try:
        io.use_zlib_library("zlib")
        with uproot.open(root) as f:
            reference = f["Events"].arrays(branches, library="np")
        io.use_zlib_library("isal")
        assert uproot.compression._decompress_ZLIB.library == "isal"  # what reads the baskets
        with uproot.open(root) as f:
            fast = f["Events"].arrays(branches, library="np")
    finally:
        io.use_zlib_library("zlib")
    for name in branches:
        for a, b in zip(reference[name], fast[name], strict=True):
            np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="extraction.zlib_library must be one of"):
        io.use_zlib_library("deflate")
