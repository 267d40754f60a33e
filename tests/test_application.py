"""Applying saved models to new files (src/uhecr/application.py, src/uhecr/model_store.py)."""

import json

import numpy as np
import pandas as pd
import pytest

from uhecr import application, model_store, models
from uhecr.io import InputDataError
from uhecr.showers import CLASSES

FEATURES = ["lg_energy", "zenith_deg", "core_distance_m", "lg_total_signal", "rise_time_ns"]


def _stations(n_showers=60, seed=0):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 7, n_showers)
    shower = np.repeat(np.arange(n_showers), sizes)
    label = rng.integers(0, 4, n_showers)[shower]
    X = rng.normal(size=(len(shower), len(FEATURES))) + label[:, None]
    X[:, 2] = 300 + np.abs(X[:, 2]) * 500  # core distance, m
    frame = pd.DataFrame(X, columns=FEATURES)
    frame["shower_id"] = [f"run:{s}" for s in shower]
    frame["station_id"] = np.arange(len(shower))
    return frame, label


def test_a_training_file_given_as_new_data_is_refused_naming_both():
    training = {"inputs": {"iron_00": [{"file": "raw/iron_00.root", "sha256": "abc"}]}}
    application.check_not_training_data("new", [{"file": "x.root", "sha256": "def"}], training)
    with pytest.raises(InputDataError, match=r"apply.datasets.run42: copy.root .*raw/iron_00"):
        application.check_not_training_data(
            "run42", [{"file": "copy.root", "sha256": "abc"}], training
        )


def test_shower_predictions_are_the_geometric_mean_and_its_argmax():
    stations = pd.DataFrame(
        {
            "shower_id": ["a", "a", "b"],
            "label": [-1, -1, -1],
            "lg_energy": [19.0, 19.0, 19.5],
            "p_proton": [0.7, 0.1, 0.1],
            "p_helium": [0.1, 0.1, 0.1],
            "p_oxygen": [0.1, 0.1, 0.1],
            "p_iron": [0.1, 0.7, 0.7],
        }
    )
    showers = application.shower_predictions(stations).set_index("shower_id")
    # Shower a: the two stations disagree symmetrically -> proton and iron tie at the top.
    assert showers.loc["a", "p_proton"] == pytest.approx(showers.loc["a", "p_iron"])
    assert showers.loc["b", "prediction"] == "iron" and showers.loc["a", "n_stations"] == 2
    np.testing.assert_allclose(showers[[f"p_{c}" for c in CLASSES]].sum(axis=1), 1.0)


@pytest.mark.parametrize("name", ["xgboost", "xgboost_shower"])
def test_saved_mlflow_model_predicts_like_the_fitted_one(name, tmp_path):
    """The MLflow model (signature, loaded by mlflow.pyfunc) gives the fitted model's
    probabilities; a shower-level model needs shower_id and says so when it is missing."""
    frame, _ = _stations()
    y = np.asarray(frame["lg_energy"].round().clip(0, 3), dtype=int)
    y = pd.Series(y).groupby(frame["shower_id"]).transform("first").to_numpy()
    params = {"num_boost_round": 20, "max_depth": 3}
    model = models.build(name, params, 1, features=FEATURES)
    model.fit(frame[FEATURES].to_numpy(), y, groups=frame["shower_id"].to_numpy())
    example = frame[FEATURES].head(3)
    if model.level == "shower":
        example = example.assign(shower_id=frame["shower_id"].head(3))
    model_store.save(model, {"features": FEATURES, "fit": {"model": name}}, tmp_path / "m", example)
    loaded = model_store.load(tmp_path / "m")
    record = model_store.training_record(tmp_path / "m")
    assert record["level"] == model.level and record["features"] == FEATURES
    inputs = frame[FEATURES].astype(float)
    if model.level == "shower":
        with pytest.raises(Exception, match="shower_id"):
            loaded.predict(inputs)
        inputs = inputs.assign(shower_id=frame["shower_id"])
    expected = model.predict_proba(frame[FEATURES].to_numpy(), frame["shower_id"].to_numpy())
    got = loaded.predict(inputs)
    assert list(got.columns) == [f"p_{c}" for c in CLASSES]
    np.testing.assert_allclose(got.to_numpy(), expected, rtol=1e-5, atol=1e-7)
    with pytest.raises(FileNotFoundError, match="MLmodel"):
        model_store.load(tmp_path)


@pytest.fixture(scope="module")
def saved_model(tmp_path_factory):
    frame, label = _stations()
    model = models.build("xgboost", {"num_boost_round": 5, "max_depth": 2}, 1, features=FEATURES)
    model.fit(frame[FEATURES].to_numpy(), label, groups=frame["shower_id"].to_numpy())
    path = tmp_path_factory.mktemp("saved") / "xgboost"
    model_store.save(model, {"features": FEATURES}, path)
    return path


def _damage(saved_model, tmp_path, how):
    import shutil

    copy = tmp_path / "xgboost"
    shutil.copytree(saved_model, copy)
    booster = next(
        p
        for p in copy.rglob("*")
        if p.is_file()
        and p.suffix in (".json", ".ubj")
        and p.name not in ("training.json",)
        and "classifier" in str(p)
    )
    how(copy, booster)
    return copy, booster.relative_to(copy)


def _drop_from_manifest_and_alter(root, booster):
    """The manifest loses the booster's line, then the booster is replaced: unchecked unless
    every file must be listed."""
    manifest = root / model_store.MANIFEST
    name = str(booster.relative_to(root))
    lines = [line for line in manifest.read_text().splitlines() if not line.endswith(name)]
    manifest.write_text("".join(f"{line}\n" for line in lines))
    booster.write_bytes(booster.read_bytes().replace(b"1", b"2", 1))


def _cut_manifest(root, booster):
    manifest = root / model_store.MANIFEST
    text = manifest.read_text()
    second = text.index("\n") + 1
    manifest.write_text(text[: second + 20])  # the second line cut inside its digest


def test_snakemakes_marker_in_a_saved_model_is_not_damage(saved_model, tmp_path):
    """Snakemake writes ``.snakemake_timestamp`` into a directory output (rule evaluate's
    models/<model>) after the job: not a file of the model, so it does not fail the check."""
    copy, _ = _damage(saved_model, tmp_path, lambda root, f: None)
    (copy / model_store.SNAKEMAKE_MARKER).touch()
    model_store.load(copy)
    (copy / "extra.txt").write_text("x")
    with pytest.raises(model_store.DamagedModelError, match="extra.txt is not in its MANIFEST"):
        model_store.load(copy)


@pytest.mark.parametrize(
    "how, what",
    [
        (lambda root, f: f.write_bytes(f.read_bytes()[: f.stat().st_size // 2]), "differs"),
        (lambda root, f: f.write_bytes(f.read_bytes().replace(b"1", b"2", 1)), "differs"),
        (lambda root, f: f.unlink(), "is missing"),
        (lambda root, f: (root / model_store.MANIFEST).unlink(), "no MANIFEST"),
        (_drop_from_manifest_and_alter, "is not in its MANIFEST"),
        (_cut_manifest, "line 2 of its MANIFEST"),
    ],
    ids=["truncated", "altered", "deleted", "no manifest", "unlisted", "manifest cut"],
)
def test_a_damaged_saved_model_is_refused_naming_directory_file_and_rebuild(
    saved_model, tmp_path, how, what
):
    """Truncated, altered or deleted files of a saved model (or its checksums gone) are an error
    naming the model directory, the file and the command that rebuilds it, before MLflow or
    XGBoost parse anything; the intact model loads."""
    model_store.load(saved_model)
    copy, booster = _damage(saved_model, tmp_path, how)
    for read in (model_store.load, model_store.training_record):
        with pytest.raises(model_store.DamagedModelError, match=what) as err:
            read(copy)
        message = str(err.value)
        assert str(copy) in message and f"--force {copy}" in message
        if what not in ("no MANIFEST", "line 2 of its MANIFEST"):
            assert str(booster) in message


def test_the_training_domain_flags_stations_and_showers_with_their_reasons():
    """Rule of uhecr.domain: a value beyond the fitted stations' [min, max], or a multiplicity
    beyond the training showers', flags the station and its shower; inside, nothing."""
    from uhecr import domain

    train, _ = _stations()
    ranges = domain.training_domain(train, FEATURES)
    assert ranges["n_stations"] == [1, 6]
    assert domain.station_reasons(train, ranges).eq("").all()  # its own data are inside
    new = train.copy()
    first = new["shower_id"] == "run:0"
    new.loc[first, "lg_energy"] = 21.5  # far above the energies trained on
    new.loc[new.index[-1], "core_distance_m"] = -1.0
    many = train.head(1).loc[[train.index[0]] * 7].assign(shower_id="big", station_id=range(7))
    new = pd.concat([new, many], ignore_index=True)
    reasons = domain.station_reasons(new, ranges)
    assert set(reasons[first.reindex(new.index, fill_value=False)]) == {
        "lg_energy above training range"
    }
    assert reasons.iloc[len(train) - 1] == "core_distance_m below training range"
    showers = domain.shower_reasons(new, reasons, ranges).set_index("shower_id")["domain_reason"]
    assert showers["run:0"] == "lg_energy above training range"
    assert showers["big"] == "n_stations above training range"
    assert (showers != "").sum() == 3  # the two above and the last station's shower
    assert domain.reason_counts(showers) == (
        "core_distance_m below training range: 1; lg_energy above training range: 1; "
        "n_stations above training range: 1"
    )
    nan = train.head(2).copy()
    nan.loc[nan.index[0], FEATURES[0]] = np.nan  # NaN compares false with both bounds
    assert list(domain.station_reasons(nan, ranges)) == [f"{FEATURES[0]} not finite", ""]


def test_the_fraction_table_counts_the_showers_left_out_per_bin_and_reason():
    showers = pd.DataFrame(
        {
            "shower_id": list("abcde"),
            "lg_energy": [18.7, 18.8, 19.6, 21.5, 21.5],
            "domain_reason": [
                "",
                "zenith_deg above training range",
                "",
                "",
                "lg_energy above training range",
            ],
        }
    )
    fitted = pd.DataFrame(
        {"lg_energy_bin": [0, 1, 2], "showers": [1, 0, 1], "status": ["fitted"] * 3}
    )
    table = application.with_left_out(fitted, showers, [18.5, 19.0, 19.5, 20.0])
    assert table["left_out"].tolist() == [1, 0, 0, 2]
    assert table["left_out_reasons"].iloc[0] == "zenith_deg above training range: 1"
    assert table["lg_energy_bin"].iloc[-1] == -1 and table["showers"].iloc[-1] == 0
    assert table["left_out_reasons"].iloc[-1] == (
        "lg_energy above training range: 1; outside composition.lg_energy_bins: 2"
    )
    inside = application.with_left_out(fitted, showers.head(3), [18.5, 19.0, 19.5, 20.0])
    assert len(inside) == 3 and inside["left_out"].tolist() == [1, 0, 0]


def test_stations_of_training_showers_under_new_ids_are_refused_naming_how_many(tmp_path):
    """The merge's content fingerprint, against every training station: a dataset holding
    training stations under new shower ids (a recompressed or converted copy) is an error
    naming the dataset, the training sample and how many of its showers overlap."""
    from uhecr import extraction

    rng = np.random.default_rng(1)
    columns = sorted({*extraction.CONTENT_FINGERPRINT, *application.TRACE_FINGERPRINT})
    training = pd.DataFrame(rng.normal(size=(40, len(columns))), columns=columns)
    training["shower_id"] = [f"iron_00:{i // 4}" for i in range(40)]
    training["sample"] = "iron_00"
    training.to_parquet(tmp_path / "training.parquet")
    new = pd.DataFrame(rng.normal(size=(30, len(columns))), columns=columns)
    new["shower_id"] = [f"run7:{i // 3}" for i in range(30)]
    application.check_no_training_stations("run7", new, tmp_path / "training.parquet")
    copied = training.iloc[4:12][columns].assign(shower_id=["run7:a"] * 4 + ["run7:b"] * 4)
    mixed = pd.concat([new, copied], ignore_index=True)
    with pytest.raises(InputDataError, match=r"apply\.datasets\.run7: 2 of its 12 showers") as err:
        application.check_no_training_stations("run7", mixed, tmp_path / "training.parquet")
    assert "training samples iron_00" in str(err.value) and "iron_00:1" in str(err.value)
    # The same recorded traces with the energy from another branch (another reconstruction)
    # and the core distance stored in float32: still the training showers.
    reconstructed = copied.assign(
        lg_energy=copied["lg_energy"] + 0.01,
        core_distance_m=copied["core_distance_m"].astype(np.float32).astype(np.float64) + 1e-3,
    )
    with pytest.raises(InputDataError, match=r"2 of its 12 showers .* another energy"):
        application.check_no_training_stations(
            "run7",
            pd.concat([new, reconstructed], ignore_index=True),
            tmp_path / "training.parquet",
        )


def test_a_model_directory_from_another_fit_is_refused(tmp_path):
    """The saved model must be the configured model's, and the fit whose test predictions are
    the templates (``evaluation/<model>/fit.json``): a directory copied in from another run,
    or another model's, is an error naming it."""
    fit = {"model": "xgboost", "params": {"max_depth": 4}, "seed": 1234}
    fit_path = tmp_path / "fit.json"
    fit_path.write_text(json.dumps(fit))
    record = {"fit": dict(fit)}
    application.check_model_and_templates("xgboost", tmp_path / "models/xgboost", record, fit_path)
    with pytest.raises(model_store.DamagedModelError, match="holds model 'xgboost', not 'dae'"):
        application.check_model_and_templates("dae", tmp_path / "models/dae", record, fit_path)
    other_run = {"fit": {**fit, "params": {"max_depth": 6}}}
    with pytest.raises(model_store.DamagedModelError, match="templates' fit .* differ"):
        application.check_model_and_templates(
            "xgboost", tmp_path / "models/xgboost", other_run, fit_path
        )
