import numpy as np
import pandas as pd
import pytest

from uhecr import splits


def _table(n_showers=400, seed=0):
    rng = np.random.default_rng(seed)
    rows = []
    for s in range(n_showers):
        primary = ["proton", "helium", "oxygen", "iron"][s % 4]
        for st in range(rng.integers(3, 15)):
            rows.append((f"f:{s}", st, primary))
    return pd.DataFrame(rows, columns=["shower_id", "station_id", "primary"])


def test_shower_split_keeps_showers_together_and_is_stratified():
    df = _table()
    lab = splits.make_split(df, "shower", 0.2, 0.2, seed=1)
    per_shower = df.assign(split=lab).groupby("shower_id")["split"].nunique()
    assert (per_shower == 1).all()
    frac = lab.value_counts(normalize=True)
    assert frac["test"] == pytest.approx(0.2, abs=0.03)
    assert frac["validation"] == pytest.approx(0.2, abs=0.03)
    for _primary, g in df.assign(split=lab).groupby("primary"):
        assert (g["split"] == "test").mean() == pytest.approx(0.2, abs=0.05)


def test_station_split_mixes_showers():
    df = _table()
    lab = splits.make_split(df, "station", 0.2, 0.2, seed=1)
    per_shower = df.assign(split=lab).groupby("shower_id")["split"].nunique()
    assert (per_shower > 1).mean() > 0.5


def test_split_is_deterministic_and_independent_of_row_order():
    df = _table()
    a = splits.make_split(df, "shower", 0.2, 0.2, seed=7)
    shuffled = df.sample(frac=1.0, random_state=3)
    b = splits.make_split(shuffled, "shower", 0.2, 0.2, seed=7)
    pd.testing.assert_series_equal(a, b.reindex(a.index))
    c = splits.make_split(df, "shower", 0.2, 0.2, seed=8)
    assert not a.equals(c)


def test_manifest_hashes(tmp_path):
    df = _table()
    table = tmp_path / "t.parquet"
    df.to_parquet(table)
    lab = splits.make_split(df, "shower", 0.2, 0.2, seed=1)
    s = splits.write_manifest(
        df, lab, "shower", 1, table, tmp_path / "m.parquet", tmp_path / "s.json"
    )
    assert s["shared_showers_train_test"] == 0
    assert sum(s["n_stations"].values()) == len(df)
    s2 = splits.write_manifest(
        df, lab, "shower", 1, table, tmp_path / "m2.parquet", tmp_path / "s2.json"
    )
    assert s["ids_sha256"] == s2["ids_sha256"]
    assert len(set(s["ids_sha256"].values())) == 3


def test_bad_method():
    with pytest.raises(ValueError, match="splits.method"):
        splits.make_split(_table(10), "event", 0.2, 0.2, 1)


def test_sweep_subsample_takes_whole_showers_up_to_the_limit():
    rng = np.random.default_rng(3)
    showers = np.repeat(np.arange(400), rng.integers(1, 12, 400))
    rows = splits.subsample_showers(showers, 500, seed=7)
    assert len(rows) <= 500 and len(rows) > 450  # showers of at most 11 stations
    assert np.all(np.diff(rows) > 0)
    kept = np.unique(showers[rows])
    # every station of a kept shower, none of the others
    assert np.array_equal(np.flatnonzero(np.isin(showers, kept)), rows)
    assert np.array_equal(splits.subsample_showers(showers, 500, seed=7), rows)
    assert not np.array_equal(splits.subsample_showers(showers, 500, seed=8), rows)
    assert splits.subsample_showers(showers, None, seed=7) is None
    assert splits.subsample_showers(showers, len(showers), seed=7) is None


def test_sweep_subsample_keeps_one_shower_larger_than_the_limit():
    showers = np.repeat([5, 9], [30, 40])
    rows = splits.subsample_showers(showers, 10, seed=0)
    assert len(np.unique(showers[rows])) == 1 and len(rows) in (30, 40)
