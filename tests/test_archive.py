import pytest

from uhecr import archive


def _bundle(tmp_path):
    out = tmp_path / "bundle"
    (out / "results").mkdir(parents=True)
    (out / "results" / "a.json").write_text('{"accuracy": 0.5}')
    (out / "README.md").write_text("hello")
    archive.write_manifest(out)
    return out


def test_manifest_detects_changes_missing_and_extra_files(tmp_path):
    out = _bundle(tmp_path)
    assert archive.verify_manifest(out) == []
    (out / "results" / "a.json").write_text('{"accuracy": 0.9}')
    assert archive.verify_manifest(out) == ["results/a.json"]
    (out / "README.md").unlink()
    (out / "extra.txt").write_text("x")
    assert set(archive.verify_manifest(out)) == {"results/a.json", "README.md", "extra.txt"}


def test_secret_values_are_refused(tmp_path, monkeypatch):
    out = _bundle(tmp_path)
    monkeypatch.setenv("ZENODO_TOKEN", "s3cr3t-token-value-123")
    archive.scan_for_secrets(out)  # not present: fine
    (out / "results" / "log.txt").write_text("token=s3cr3t-token-value-123")
    with pytest.raises(archive.SecretLeakError, match="log.txt"):
        archive.scan_for_secrets(out)


def test_credentials_in_config_urls_never_reach_the_provenance_record(tmp_path):
    from uhecr import provenance

    config = {
        "seed": 1,
        "search": {
            "storage": "postgresql://optuna:hunter2-secret@db.example:5432/optuna",
            "tracking_uri": None,
            "list": ["http://u:pw-secret@host/x"],
        },
    }
    record = provenance.run_provenance(config, {}, [], {}, [], repo=tmp_path)
    text = str(record["config"])
    assert "hunter2-secret" not in text and "pw-secret" not in text
    assert record["config"]["search"]["storage"] == "postgresql://optuna:***@db.example:5432/optuna"
    # The hash still identifies the real configuration.
    assert record["config_sha256"] == provenance.config_hash(config)


def test_bundle_config_has_no_credentials(tmp_path):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    result = tmp_path / "metrics.json"
    result.write_text("{}")
    provenance_file = tmp_path / "provenance.json"
    provenance_file.write_text("{}")
    config = {"seed": 1, "search": {"storage": "postgresql://u:hunter2-secret@db/optuna"}}
    archive.build_bundle(
        tmp_path / "bundle",
        run_name="t",
        result_files={"results/metrics.json": str(result)},
        config=config,
        repo=repo,
        provenance_file=str(provenance_file),
        input_checksums={},
    )
    used = (tmp_path / "bundle" / "config" / "config_used.yaml").read_text()
    assert "hunter2-secret" not in used and "postgresql://u:***@db/optuna" in used
