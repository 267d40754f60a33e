import hashlib
import json
import shutil

import awkward as ak
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import uproot

from conftest import rewrite_events, write_small_file
from uhecr import extraction as ex
from uhecr import features as feat
from uhecr.io import InputDataError, InputLayout
from uhecr.table_schema import FEATURE_SCHEMA, SchemaError, validate_table

LAYOUT = InputLayout()
FS = feat.FeatureSettings()


def _extract(root, tmp_path, on_bad="quarantine", step_size="2 MB", sample=None, config_key=None):
    sample = sample or root.stem
    st, q = tmp_path / f"{sample}.parquet", tmp_path / f"{sample}.q.parquet"
    summary = ex.extract_station_table(
        root,
        st,
        q,
        LAYOUT,
        FS,
        step_size=step_size,
        on_bad_station=on_bad,
        sample=sample,
        config_key=config_key,
        summary_path=tmp_path / f"{sample}.summary.json",
    )
    return st, q, summary


def test_station_table_matches_root_file(small_root, tmp_path):
    root, counts = small_root
    st, q, summary = _extract(root, tmp_path)
    table = pq.read_table(st)
    assert table.num_rows == counts["stations"] == summary["stations"]
    assert table.schema.field(ex.TRACE_COLUMN).type.list_size == 768
    df = table.drop_columns([ex.TRACE_COLUMN]).to_pandas()
    assert set(df["primary"]) == {"proton"}
    assert df["shower_id"].str.startswith("proton_00:").all()
    assert pq.read_table(q).num_rows == 0
    # Energies come from the event-level branch, broadcast to every station of the event.
    with uproot.open(root) as f:
        energy = f["Events"]["mc_energy"].array(library="np")
        n_st = ak.to_numpy(ak.num(f["Events"]["station_id"].array()))
    np.testing.assert_allclose(df["lg_energy"], np.repeat(np.log10(energy), n_st))


def test_chunk_size_does_not_change_the_table(small_root, tmp_path):
    root, _ = small_root
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    a = pq.read_table(_extract(root, tmp_path / "a", step_size=2)[0])
    b = pq.read_table(_extract(root, tmp_path / "b", step_size="100 MB")[0])
    assert a.equals(b)


def _features(root, tmp_path, sample=None):
    st, q, _ = _extract(root, tmp_path, sample=sample)
    out, fq = tmp_path / "f.parquet", tmp_path / "fq.parquet"
    ex.compute_feature_table(st, out, fq, FS, batch_size=100)
    return out, [q, fq]


def test_features_and_merge_validate(small_root, small_rntuple, tmp_path):
    paths, quarantines = [], []
    for root in (small_root[0], small_rntuple[0]):
        d = tmp_path / root.stem
        d.mkdir()
        f, q = _features(root, d)
        paths.append(f)
        quarantines += q
    merged, mq, summary = tmp_path / "m.parquet", tmp_path / "mq.parquet", tmp_path / "s.json"
    summaries = [
        tmp_path / r.stem / f"{r.stem}.summary.json" for r in (small_root[0], small_rntuple[0])
    ]
    result = ex.merge_feature_tables(paths, quarantines, merged, mq, summary, summaries)
    assert set(result["inputs"]) == {"proton_00", "iron_00"}
    df = pd.read_parquet(merged)
    validate_table(df, FEATURE_SCHEMA)
    assert result["stations"] == len(df) == small_root[1]["stations"] + small_rntuple[1]["stations"]
    assert set(df["label"]) == {0, 3}
    assert (df["rise_time_ns"] > 0).all() and (df["total_signal_vem"] > 0).all()
    # Reconstructed total signal tracks the MC truth (saturated stations excluded).
    ok = ~df["saturated"]
    truth = df.loc[ok, "mc_signal_muon"] + df.loc[ok, "mc_signal_em"]
    ratio = df.loc[ok, "total_signal_vem"] / truth
    assert 0.93 < ratio.median() < 1.07


def test_selection_leaves_out_near_core_and_saturated_stations_and_counts_them(
    small_root, tmp_path
):
    f, q = _features(small_root[0], tmp_path)
    summaries = [tmp_path / f"{small_root[0].stem}.summary.json"]
    every = pd.read_parquet(f)
    cut = float(every.loc[every["saturated"], "core_distance_m"].median())
    near = every["core_distance_m"] < cut
    sat = every["saturated"] & ~near
    assert near.sum() > 0 and sat.sum() > 0  # the fixture has both kinds
    out = {k: tmp_path / f"{k}.x" for k in ("m", "mq", "s")}
    selection = {"min_core_distance_m": cut, "saturated": "exclude"}
    result = ex.merge_feature_tables([f], q, *out.values(), summaries, selection=selection)
    df = pd.read_parquet(out["m"])
    assert len(df) == len(every) - near.sum() - sat.sum() == result["stations"]
    assert (df["core_distance_m"] >= cut).all() and not df["saturated"].any()
    assert result["selection"]["left_out"] == {
        "near_core": int(near.sum()),
        "saturated": int(sat.sum()),
    }
    assert result["selection"]["stations_before"] == len(every)
    kept = ex.merge_feature_tables(
        [f], q, *out.values(), summaries, selection={**selection, "saturated": "keep"}
    )
    assert kept["stations"] == len(every) - near.sum()
    assert pd.read_parquet(out["m"])["saturated"].sum() == sat.sum()


def test_a_class_emptied_by_the_selection_says_so(small_root, tmp_path):
    f, q = _features(small_root[0], tmp_path)
    summaries = [tmp_path / f"{small_root[0].stem}.summary.json"]
    with pytest.raises(InputDataError, match=r"'proton'.*after the station selection"):
        ex.merge_feature_tables(
            [f],
            q,
            tmp_path / "m",
            tmp_path / "mq",
            tmp_path / "s",
            summaries,
            required_classes=("proton",),
            selection={"min_core_distance_m": 1e6, "saturated": "keep"},
        )


def test_duplicate_ids_across_files_are_an_error(small_root, tmp_path):
    f, q = _features(small_root[0], tmp_path)
    with pytest.raises(InputDataError, match="duplicate \\(shower_id, station_id\\)"):
        ex.merge_feature_tables(
            [f, f], q, tmp_path / "m.parquet", tmp_path / "mq.parquet", tmp_path / "s.json"
        )
    assert not (tmp_path / "m.parquet").exists()


def _duplicate_event_id(a, empty_entry=False):
    """Entry 5 gets the event id of entry 2 (and, optionally, no stations at all)."""
    ids = ak.to_numpy(a["event_id"]).copy()
    ids[5] = ids[2]
    a["event_id"] = ids
    if empty_entry:
        for name, v in a.items():
            if isinstance(v, ak.Array) and v.ndim > 1:
                a[name] = ak.concatenate([v[:5], v[5:6][:, :0], v[6:]])
    return a, int(ids[2])


@pytest.mark.parametrize("empty_entry", [False, True], ids=["stations", "no-stations"])
@pytest.mark.parametrize("step_size", [1, 2, "1 GB"], ids=["1-entry", "2-entries", "whole-file"])
def test_duplicate_event_ids_in_one_file(small_root, tmp_path, step_size, empty_entry):
    """Caught whatever the chunking: one entry per chunk, the two entries in different chunks,
    or both in one chunk; also when the repeated entry has no stations."""
    event_id = {}

    def dup(a):
        a, event_id["value"] = _duplicate_event_id(a, empty_entry)
        return a

    bad = rewrite_events(small_root[0], tmp_path / "dup.root", dup)
    with pytest.raises(
        InputDataError,
        match=rf"dup.root: tree 'Events' branch 'event_id' \(config key "
        rf"extraction.branches.event_id\): duplicate event id {event_id['value']} "
        r"at entries 2 and 5",
    ):
        _extract(bad, tmp_path, step_size=step_size)
    assert not (tmp_path / "dup.parquet").exists()  # no half-written table


def test_errors_name_the_input_config_key(small_root, tmp_path):
    bad = rewrite_events(small_root[0], tmp_path / "dup.root", lambda a: _duplicate_event_id(a)[0])
    with pytest.raises(InputDataError, match=r"^data.input_files.runA: .*dup.root: .*duplicate"):
        _extract(bad, tmp_path, sample="runA", config_key="data.input_files.runA")
    with pytest.raises(InputDataError, match=r"^data.input_files.runB: .*nope.root: file does not"):
        _extract(
            tmp_path / "nope.root", tmp_path, sample="runB", config_key="data.input_files.runB"
        )


def _first_entry_with_stations(a, start):
    n = ak.to_numpy(ak.num(a["station_id"]))
    k = int(np.flatnonzero((np.arange(len(n)) >= start) & (n > 0))[0])
    return k, int(n[:k].sum())


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf], ids=["nan", "inf", "-inf"])
@pytest.mark.parametrize(
    ("logical", "branch"),
    [
        ("energy", "mc_energy"),
        ("zenith", "mc_zenith"),
        ("core_x", "mc_core_x"),
        ("station_x", "station_x"),
        ("station_y", "station_y"),
    ],
)
def test_non_finite_event_or_station_value_is_an_extraction_error(
    small_root, tmp_path, logical, branch, value
):
    where = {}

    def corrupt(a):
        k, first = _first_entry_with_stations(a, 3)
        if a[branch].ndim > 1:  # station level: the first station of entry k
            flat = ak.to_numpy(ak.flatten(a[branch])).astype(np.float64)
            flat[first] = value
            a[branch] = ak.unflatten(flat, ak.num(a[branch]))
            where["text"] = (
                rf"entry {k} \(station id {ak.to_numpy(ak.flatten(a['station_id']))[first]}\)"
            )
        else:
            v = ak.to_numpy(a[branch]).astype(np.float64)
            v[k] = value
            a[branch] = v
            where["text"] = f"entry {k}"
        return a

    bad = rewrite_events(small_root[0], tmp_path / "nonfinite.root", corrupt)
    with pytest.raises(
        InputDataError,
        match=rf"^data.input_files.s: .*nonfinite.root: tree 'Events' branch '{branch}' "
        rf"\(config key extraction.branches.{logical}\) has a non-finite value: "
        rf"-?(nan|inf) at {where['text']}",
    ):
        _extract(bad, tmp_path, sample="s", config_key="data.input_files.s")
    assert not (tmp_path / "s.parquet").exists()


def test_bad_stations_are_quarantined_and_counted(small_root, tmp_path):
    def break_pmts(a):
        ok = ak.to_numpy(ak.flatten(a["pmt_ok"])).copy()
        ok[:3] = False  # first station: all PMTs flagged
        a["pmt_ok"] = ak.unflatten(ok, ak.num(a["pmt_ok"]))
        charge = ak.to_numpy(ak.flatten(a["pmt_vem_charge"])).copy()
        charge[4] = np.nan  # second station: NaN calibration
        a["pmt_vem_charge"] = ak.unflatten(charge, ak.num(a["pmt_vem_charge"]))
        return a

    bad = rewrite_events(small_root[0], tmp_path / "bad.root", break_pmts)
    st, q, summary = _extract(bad, tmp_path)
    assert summary["quarantined"] == {"no_working_pmt": 1, "non_finite_calibration": 1}
    assert summary["stations"] == small_root[1]["stations"] - 2
    qt = pd.read_parquet(q)
    assert sorted(qt["reason"]) == ["no_working_pmt", "non_finite_calibration"]
    assert (qt["source_file"] == str(bad)).all()  # the path, not only the base name
    (tmp_path / "strict").mkdir()
    with pytest.raises(InputDataError, match=r"bad.root: entry 0 station \d+: no_working_pmt"):
        _extract(bad, tmp_path / "strict", on_bad="error")


def test_zero_signal_station_is_quarantined_in_feature_step(small_root, tmp_path):
    def flatten_first_station(a):
        hg = ak.to_numpy(ak.flatten(a["trace_hg"])).copy()
        base = ak.to_numpy(ak.flatten(a["pmt_baseline_hg"]))
        for pmt in range(3):
            hg[pmt * 768 : (pmt + 1) * 768] = int(round(base[pmt]))
        a["trace_hg"] = ak.unflatten(hg, ak.num(a["trace_hg"]))
        return a

    bad = rewrite_events(small_root[0], tmp_path / "flat.root", flatten_first_station)
    st, q, _ = _extract(bad, tmp_path)
    out, fq = tmp_path / "f.parquet", tmp_path / "fq.parquet"
    summary = ex.compute_feature_table(st, out, fq, FS)
    assert summary["quarantined"] == {"zero_signal": 1}
    assert pd.read_parquet(fq)["reason"].tolist() == ["zero_signal"]
    # With on_bad_station: error the message names the ROOT file and the config key, not the
    # intermediate station table.
    with pytest.raises(
        InputDataError, match=r"^data.input_files.run: .*flat.root: entry 0 station .*zero_signal"
    ):
        ex.compute_feature_table(
            st, out, fq, FS, on_bad_station="error", config_key="data.input_files.run"
        )


def test_one_pass_extraction_equals_the_two_steps(small_root, tmp_path):
    """extract_features (the rule's single chunked pass) gives the same feature rows, the same
    quarantine (calibration reasons and no signal) and the same trace table, if asked for, as
    extract_station_table followed by compute_feature_table; an error leaves no output."""

    def break_stations(a):
        ok = ak.to_numpy(ak.flatten(a["pmt_ok"])).copy()
        ok[3:6] = False  # second station: all PMTs flagged
        a["pmt_ok"] = ak.unflatten(ok, ak.num(a["pmt_ok"]))
        hg = ak.to_numpy(ak.flatten(a["trace_hg"])).copy()
        base = ak.to_numpy(ak.flatten(a["pmt_baseline_hg"]))
        for pmt in range(3):  # first station: no signal
            hg[pmt * 768 : (pmt + 1) * 768] = int(round(base[pmt]))
        a["trace_hg"] = ak.unflatten(hg, ak.num(a["trace_hg"]))
        return a

    bad = rewrite_events(small_root[0], tmp_path / "bad.root", break_stations)
    st, q, two_step_summary = _extract(bad, tmp_path, step_size="1 MB", sample="s")
    f2, fq2 = tmp_path / "f2.parquet", tmp_path / "fq2.parquet"
    ex.compute_feature_table(st, f2, fq2, FS)
    f1, q1, traces = tmp_path / "f1.parquet", tmp_path / "q1.parquet", tmp_path / "t1.parquet"
    summary = ex.extract_features(
        bad, f1, q1, LAYOUT, FS, step_size="1 MB", sample="s", trace_path=traces,
        summary_path=tmp_path / "s1.json",
    )  # fmt: skip
    assert pq.read_table(f1).equals(pq.read_table(f2))
    assert pq.read_table(traces).equals(pq.read_table(st))
    quarantine = pd.read_parquet(q1).sort_values("reason").reset_index(drop=True)
    expected = pd.concat([pd.read_parquet(q), pd.read_parquet(fq2)]).sort_values("reason")
    pd.testing.assert_frame_equal(quarantine, expected.reset_index(drop=True))
    assert sorted(quarantine["reason"]) == ["no_working_pmt", "zero_signal"]
    assert summary["quarantined"] == {"no_working_pmt": 1, "zero_signal": 1}
    # stations: the featured ones, per file too; every station read is featured or quarantined.
    assert summary["stations"] == pq.read_metadata(f1).num_rows == two_step_summary["stations"] - 1
    assert summary["files"][0]["stations"] == summary["stations"]
    assert summary["stations_read"] == small_root[1]["stations"] == summary["stations"] + 2
    assert two_step_summary["stations_read"] == two_step_summary["stations"] + 1
    assert json.loads((tmp_path / "s1.json").read_text()) == summary
    # Without trace_path no trace table is written.
    (tmp_path / "lean").mkdir()
    ex.extract_features(bad, tmp_path / "lean" / "f.parquet", tmp_path / "lean" / "q.parquet",
                        LAYOUT, FS, sample="s")  # fmt: skip
    assert sorted(p.name for p in (tmp_path / "lean").iterdir()) == ["f.parquet", "q.parquet"]
    # on_bad_station: error stops at the first bad station, naming it; nothing is left behind.
    (tmp_path / "strict").mkdir()
    with pytest.raises(
        InputDataError, match=r"^data.input_files.s: (?!.*data.input_files).*bad.root: entry 0 st"
    ):
        ex.extract_features(
            bad, tmp_path / "strict" / "f.parquet", tmp_path / "strict" / "q.parquet", LAYOUT,
            FS, on_bad_station="error", sample="s", config_key="data.input_files.s",
            trace_path=tmp_path / "strict" / "t.parquet",
        )  # fmt: skip
    assert not list((tmp_path / "strict").iterdir())


def test_energy_in_eev_is_an_extraction_error(small_root, tmp_path):
    def in_eev(arrays):
        arrays["mc_energy"] = np.asarray(arrays["mc_energy"]) / 1e18
        return arrays

    bad = rewrite_events(small_root[0], tmp_path / "eev.root", in_eev)
    with pytest.raises(InputDataError, match=r"^data.input_files.s: .*mc_energy.*outside.*eV"):
        _extract(bad, tmp_path, sample="s", config_key="data.input_files.s")


def test_unknown_primary_code(tmp_path):
    root = tmp_path / "weird.root"
    write_small_file(root, n_stations=20)

    def recode(a):
        codes = np.asarray(a["mc_primary_pdg"]).copy()
        codes[2:] = 22  # photons from the third event (tree entry 2) on
        a["mc_primary_pdg"] = codes.astype(np.int32)
        return a

    bad = rewrite_events(root, tmp_path / "photon.root", recode)
    with pytest.raises(
        InputDataError,
        match=r"photon.root: .*branch 'mc_primary_pdg' .*unknown particle code\(s\) \[22\] "
        r"\(first at entry 2\)",
    ):
        _extract(bad, tmp_path)


def test_schema_catches_nan_range_and_missing_columns():
    df = pd.DataFrame({c: [1.0, 2.0] for c in FEATURE_SCHEMA})
    for c in ("shower_id", "source_file"):
        df[c] = ["a", "b"]
    df["primary"] = pd.Categorical(["proton", "iron"])
    df["saturated"] = [False, True]
    df["lg_energy"] = [19.0, 19.5]
    for c in ("event_id", "station_id", "label", "n_good_pmts"):
        df[c] = np.array([1, 2])
    validate_table(df, FEATURE_SCHEMA)
    bad = df.copy()
    bad.loc[1, "rise_time_ns"] = np.nan
    with pytest.raises(SchemaError, match="'rise_time_ns' has 1 missing/NaN"):
        validate_table(bad, FEATURE_SCHEMA, "t")
    bad = df.copy()
    bad.loc[0, "zenith_deg"] = 95.0
    with pytest.raises(SchemaError, match="'zenith_deg' has 1 value\\(s\\) outside"):
        validate_table(bad, FEATURE_SCHEMA, "t")
    with pytest.raises(SchemaError, match="missing column"):
        validate_table(df.drop(columns=["label"]), FEATURE_SCHEMA, "t")
    bad = df.copy()
    bad["station_id"] = bad["station_id"].astype(float)
    with pytest.raises(SchemaError, match="'station_id' has dtype float64"):
        validate_table(bad, FEATURE_SCHEMA, "t")


def test_zeta_is_per_station_and_phi_per_shower(small_root, tmp_path):
    """The azimuth feature is the station's shower-plane azimuth zeta: it varies between the
    stations of a shower (phi, the same for all of them, would identify the shower)."""
    st, _, _ = _extract(small_root[0], tmp_path)
    df = pd.read_parquet(st, columns=["shower_id", "azimuth_rad", "zeta_rad"])
    assert df["zeta_rad"].between(-np.pi, np.pi).all()
    per_shower = df.groupby("shower_id").agg(
        n=("zeta_rad", "size"), zeta=("zeta_rad", "nunique"), phi=("azimuth_rad", "nunique")
    )
    multi = per_shower[per_shower["n"] > 1]
    assert len(multi) > 3
    assert (multi["phi"] == 1).all()
    assert (multi["zeta"] == multi["n"]).all()
    # Stations all around the core: both the early and the late half are populated.
    assert (np.abs(df["zeta_rad"]) < np.pi / 2).mean() == pytest.approx(0.5, abs=0.2)


def test_shower_id_comes_from_the_sample_name_not_the_file_name(tmp_path):
    """runA/run.root and runB/run.root share a base name and event ids: two samples, distinct
    showers, nothing mixed at the merge."""
    paths, quarantines, summaries, events = [], [], [], {}
    for sample, primary, seed in (("runA", "proton", 1), ("runB", "iron", 2)):
        d = tmp_path / sample
        d.mkdir()
        root = d / "run.root"
        write_small_file(root, primary=primary, n_stations=40, seed=seed)
        with uproot.open(root) as f:
            events[sample] = set(f["Events"]["event_id"].array(library="np").tolist())
        f, q = _features(root, d, sample=sample)
        paths.append(f)
        quarantines += q
        summaries.append(d / f"{sample}.summary.json")
    assert events["runA"] & events["runB"]  # the event ids do overlap
    merged = tmp_path / "m.parquet"
    result = ex.merge_feature_tables(
        paths, quarantines, merged, tmp_path / "mq.parquet", tmp_path / "s.json", summaries
    )
    df = pd.read_parquet(merged)
    assert set(df["shower_id"].str.split(":").str[0]) == {"runA", "runB"}
    assert (df.groupby("shower_id", observed=True)["primary"].nunique() == 1).all()
    assert (df.groupby("shower_id")["source_file"].nunique() == 1).all()
    assert set(df["source_file"]) == {str(tmp_path / s / "run.root") for s in ("runA", "runB")}
    per_sample = df.groupby(df["shower_id"].str.split(":").str[0])["primary"].unique()
    assert list(per_sample["runA"]) == ["proton"] and list(per_sample["runB"]) == ["iron"]
    assert result["showers"] == df["shower_id"].nunique()
    assert result["inputs"]["runA"][0]["sha256"] != result["inputs"]["runB"][0]["sha256"]


def test_extraction_summary_records_the_input_checksum(small_root, tmp_path):
    _, _, summary = _extract(small_root[0], tmp_path, sample="s", config_key="data.input_files.s")
    written = json.loads((tmp_path / "s.summary.json").read_text())
    assert written == summary
    (record,) = summary["files"]
    assert record["sha256"] == hashlib.sha256(small_root[0].read_bytes()).hexdigest()
    assert record["file"] == str(small_root[0]) and record["stations"] == summary["stations"]
    assert summary["sample"] == "s" and summary["config_key"] == "data.input_files.s"


def test_same_file_content_under_two_sample_names_is_an_error(small_root, tmp_path):
    """The same file listed twice (here a copy under another name) would count each shower
    twice under two ids; the merge refuses it before reading any feature table."""
    copy = tmp_path / "elsewhere" / "other_name.root"
    copy.parent.mkdir()
    shutil.copy(small_root[0], copy)
    summaries = []
    for sample, root in (("A", small_root[0]), ("B", copy)):
        d = tmp_path / sample
        d.mkdir()
        _extract(root, d, sample=sample, config_key=f"data.input_files.{sample}")
        summaries.append(d / f"{sample}.summary.json")
    sha = json.loads(summaries[0].read_text())["files"][0]["sha256"]
    merged = tmp_path / "m.parquet"
    with pytest.raises(
        InputDataError,
        match=rf"^data.input_files.A and data.input_files.B are the same file content "
        rf"\(sha256 {sha}: .*proton_00.root and .*other_name.root\)",
    ):
        ex.merge_feature_tables(
            [tmp_path / "never_read.parquet"] * 2,
            [],
            merged,
            tmp_path / "mq.parquet",
            tmp_path / "s.json",
            summaries,
        )
    assert not merged.exists()


def test_same_checksum_in_hand_written_summaries_names_both_keys(tmp_path):
    paths = []
    for name, key in (("x", "data.input_files.first"), ("y", "data.input_files.second")):
        p = tmp_path / f"{name}.summary.json"
        p.write_text(
            json.dumps(
                {
                    "sample": name,
                    "config_key": key,
                    "files": [{"file": f"{name}.root", "sha256": "ab" * 32}],
                }
            )
        )
        paths.append(p)
    with pytest.raises(
        InputDataError,
        match="data.input_files.first and data.input_files.second are the same file content",
    ):
        ex.merge_feature_tables([], [], tmp_path / "m", tmp_path / "q", tmp_path / "s", paths)
    # Simulated samples have no config key: the message names the samples.
    for p in paths:
        p.write_text(p.read_text().replace('"data.input_files.first"', "null"))
    with pytest.raises(InputDataError, match="sample 'x' and data.input_files.second are the same"):
        ex.merge_feature_tables([], [], tmp_path / "m", tmp_path / "q", tmp_path / "s", paths)


@pytest.mark.parametrize("value", [np.inf, np.nan, -np.inf], ids=["inf", "nan", "-inf"])
def test_non_finite_trace_bin_is_quarantined_not_saturation(small_root, tmp_path, value):
    """+inf in a high-gain bin is not a saturated bin: the station is quarantined as
    non_finite_trace (float traces are allowed in user files)."""
    station = {}

    def corrupt(a):
        ok = ak.to_numpy(ak.flatten(a["pmt_ok"])).astype(bool)
        j = int(np.argmax(ok))  # first working PMT of the file
        hg = ak.to_numpy(ak.flatten(a["trace_hg"])).astype(np.float64)
        hg[j * 768 + 300] = value
        a["trace_hg"] = ak.unflatten(hg, ak.num(a["trace_hg"]))
        station["id"] = int(ak.to_numpy(ak.flatten(a["station_id"]))[j // 3])
        return a

    bad = rewrite_events(small_root[0], tmp_path / "inf.root", corrupt)
    st, q, summary = _extract(bad, tmp_path)
    assert summary["quarantined"] == {"non_finite_trace": 1}
    assert summary["stations"] == small_root[1]["stations"] - 1
    qt = pd.read_parquet(q)
    assert qt[["station_id", "reason"]].to_dict("records") == [
        {"station_id": station["id"], "reason": "non_finite_trace"}
    ]


def test_same_events_in_another_format_under_two_names_is_an_error(tmp_path):
    """A TTree file and its RNTuple conversion differ byte for byte but hold the same showers:
    the merge refuses them, naming both config keys."""
    from conftest import write_small_file

    samples = {"runA": ("ttree", tmp_path / "a.root"), "runB": ("rntuple", tmp_path / "b.root")}
    features, summaries = [], []
    for sample, (fmt, path) in samples.items():
        write_small_file(path, n_stations=60, seed=11, fmt=fmt)
        d = tmp_path / sample
        d.mkdir()
        st, _, _ = _extract(path, d, sample=sample, config_key=f"data.input_files.{sample}")
        feat_path = d / "features.parquet"
        ex.compute_feature_table(st, feat_path, d / "fq.parquet", FS)
        features.append(feat_path)
        summaries.append(d / f"{sample}.summary.json")
    shas = {json.loads(p.read_text())["files"][0]["sha256"] for p in summaries}
    assert len(shas) == 2  # the byte-level check cannot see it
    merged = tmp_path / "m.parquet"
    with pytest.raises(
        InputDataError, match=r"data.input_files.runA, data.input_files.runB: e.g. station"
    ):
        ex.merge_feature_tables(
            features, [], merged, tmp_path / "mq.parquet", tmp_path / "s.json", summaries
        )
    assert not merged.exists()


def test_a_missing_primary_is_an_error_naming_the_inputs(small_root, tmp_path):
    st, _, _ = _extract(small_root[0], tmp_path, sample="runA", config_key="data.input_files.runA")
    feats = tmp_path / "f.parquet"
    ex.compute_feature_table(st, feats, tmp_path / "fq.parquet", FS)
    with pytest.raises(
        InputDataError,
        match=r"no station of primary \['helium', 'iron', 'oxygen'\] in the inputs "
        r"\(data.input_files.runA\)",
    ):
        ex.merge_feature_tables(
            [feats],
            [],
            tmp_path / "m.parquet",
            tmp_path / "mq.parquet",
            tmp_path / "s.json",
            [tmp_path / "runA.summary.json"],
            required_classes=("proton", "helium", "oxygen", "iron"),
        )


def test_a_sample_split_over_several_files(tmp_path):
    """One run in two files: one sample, shower ids from the sample name, each file checksummed;
    an event id in both files of a sample is an error naming both files."""
    parts = [tmp_path / "part1.root", tmp_path / "part2.root"]
    write_small_file(parts[0], n_stations=80, seed=1, first_event_id=0)
    write_small_file(parts[1], n_stations=80, seed=2, first_event_id=10**6)
    st, q = tmp_path / "run.parquet", tmp_path / "run.q.parquet"
    summary = ex.extract_station_table(parts, st, q, LAYOUT, FS, sample="run7")
    df = pq.read_table(st).drop_columns([ex.TRACE_COLUMN]).to_pandas()
    assert set(df["source_file"]) == {str(p) for p in parts}
    assert df["shower_id"].str.startswith("run7:").all()
    assert [f["file"] for f in summary["files"]] == [str(p) for p in parts]
    assert sum(f["stations"] for f in summary["files"]) == summary["stations"] == len(df)
    assert summary["events"] == df["shower_id"].nunique()
    write_small_file(parts[1], n_stations=80, seed=2, first_event_id=0)  # same event ids
    with pytest.raises(InputDataError, match=r"event id 0 is in .*part1.root and in .*part2.root"):
        ex.extract_station_table(parts, st, q, LAYOUT, FS, sample="run7")


def test_unlabelled_data_is_extracted_and_featured_but_not_trained_on(small_root, tmp_path):
    """Real data has no primary branch: extraction and features work, the merge for training
    refuses it naming the input."""
    path = rewrite_events(
        small_root[0],
        tmp_path / "data.root",
        lambda a: {k: v for k, v in a.items() if k != "mc_primary_pdg"},
    )
    st, _, summary = _extract(path, tmp_path, sample="run9", config_key="data.input_files.run9")
    assert summary["labelled"] is False and summary["stations"] == small_root[1]["stations"]
    feats = tmp_path / "f.parquet"
    ex.compute_feature_table(st, feats, tmp_path / "fq.parquet", FS)
    table = pd.read_parquet(feats)
    assert set(table["primary"]) == {"unknown"} and table["rise_time_ns"].notna().all()
    with pytest.raises(InputDataError, match=r"data.input_files.run9: no primary labels"):
        ex.merge_feature_tables(
            [feats], [], tmp_path / "m.parquet", tmp_path / "mq.parquet", tmp_path / "s.json",
            [tmp_path / "run9.summary.json"],
        )  # fmt: skip
