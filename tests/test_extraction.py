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
from uhecr.schema import FEATURE_SCHEMA, SchemaError, validate_table

LAYOUT = InputLayout()
FS = feat.FeatureSettings()


def _extract(root, tmp_path, on_bad="quarantine", step_size="2 MB"):
    st, q = tmp_path / f"{root.stem}.parquet", tmp_path / f"{root.stem}.q.parquet"
    summary = ex.extract_station_table(
        root, st, q, LAYOUT, FS, step_size=step_size, on_bad_station=on_bad
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


def _features(root, tmp_path):
    st, q, _ = _extract(root, tmp_path)
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
    result = ex.merge_feature_tables(paths, quarantines, merged, mq, summary)
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


def test_duplicate_ids_across_files_are_an_error(small_root, tmp_path):
    f, q = _features(small_root[0], tmp_path)
    with pytest.raises(InputDataError, match="duplicate \\(shower_id, station_id\\)"):
        ex.merge_feature_tables(
            [f, f], q, tmp_path / "m.parquet", tmp_path / "mq.parquet", tmp_path / "s.json"
        )
    assert not (tmp_path / "m.parquet").exists()


def test_duplicate_event_ids_in_one_file(small_root, tmp_path):
    def dup(a):
        ids = ak.to_numpy(a["event_id"]).copy()
        ids[5] = ids[2]
        a["event_id"] = ids
        return a

    bad = rewrite_events(small_root[0], tmp_path / "dup.root", dup)
    with pytest.raises(InputDataError, match=r"dup.root: .*duplicate event id"):
        _extract(bad, tmp_path, step_size=2)
    assert not (tmp_path / "dup.parquet").exists()  # no half-written table


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
    assert (qt["source_file"] == "bad.root").all()
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


def test_unknown_primary_code(tmp_path):
    root = tmp_path / "weird.root"
    write_small_file(root, n_stations=20)

    def recode(a):
        a["mc_primary_pdg"] = np.full(len(a["event_id"]), 22, dtype=np.int32)  # a photon
        return a

    bad = rewrite_events(root, tmp_path / "photon.root", recode)
    with pytest.raises(
        InputDataError,
        match=r"photon.root: .*branch 'mc_primary_pdg' .*unknown particle code\(s\) \[22\]",
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
