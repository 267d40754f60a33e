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


def _repo_metadata():
    import json

    return json.loads((archive.Path(__file__).resolve().parents[1] / ".zenodo.json").read_text())


def test_zenodo_metadata_has_what_the_deposit_api_requires_and_names_the_code():
    base = _repo_metadata()
    code = "https://git.example.org/group/uhecr-workflow"
    metadata = archive.zenodo_metadata(base, code, "a" * 40)
    assert archive.zenodo_metadata_problems(metadata) == []
    assert metadata["related_identifiers"] == [
        {"identifier": code, "relation": "isSupplementTo", "resource_type": "software",
         "scheme": "url"}
    ]  # fmt: skip
    assert "a" * 40 in metadata["notes"]
    # Without a code URL the bundle is built but refused for upload, saying what to set.
    (problem,) = archive.zenodo_metadata_problems(archive.zenodo_metadata(base, None, None))
    assert "archive.code_url" in problem
    for key in ("upload_type", "title", "creators", "description", "license", "version"):
        broken = {k: v for k, v in metadata.items() if k != key}
        assert any(p.startswith(key) for p in archive.zenodo_metadata_problems(broken)), key
    bad = {**metadata, "upload_type": "data set", "creators": [{"affiliation": "x"}]}
    assert len(archive.zenodo_metadata_problems(bad)) == 2


def test_code_url_from_config_or_an_http_origin_without_credentials(tmp_path):
    import subprocess

    assert archive.code_url_of("https://a.example/x", tmp_path) == "https://a.example/x"
    assert archive.code_url_of(None, tmp_path) is None  # not a git checkout
    subprocess.run(["git", "init", "-q", str(tmp_path)], check=True)
    assert archive.code_url_of(None, tmp_path) is None  # no origin
    origin = "https://user:t0ken-123@git.example.org:8443/group/uhecr.git"
    subprocess.run(["git", "-C", str(tmp_path), "remote", "add", "origin", origin], check=True)
    assert archive.code_url_of(None, tmp_path) == "https://git.example.org:8443/group/uhecr.git"
    subprocess.run(
        ["git", "-C", str(tmp_path), "remote", "set-url", "origin", "/srv/git/uhecr"], check=True
    )
    assert archive.code_url_of(None, tmp_path) is None  # a local path is no public identifier


@pytest.mark.parametrize("broken", [False, True])
def test_citation_file_is_valid_cff(tmp_path, broken):
    """CITATION.cff through cffconvert (its own pinned venv, installed by make test)."""
    import subprocess
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    cffconvert = root / ".venv-citation" / "bin" / "cffconvert"
    assert cffconvert.exists(), (
        "make test installs .venv-citation (tools/requirements-citation.lock)"
    )
    text = (root / "CITATION.cff").read_text()
    if broken:  # the validator must catch a malformed file
        text = text.replace("cff-version: 1.2.0", "cff-version: 1.2.0\ndate-released: yesterday")
    (tmp_path / "CITATION.cff").write_text(text)
    out = subprocess.run(
        [str(cffconvert), "--validate", "-i", str(tmp_path / "CITATION.cff")],
        capture_output=True,
        text=True,
    )
    assert (out.returncode != 0) == broken, out.stdout + out.stderr


def test_code_url_never_carries_credentials_and_keeps_ipv6_hosts(tmp_path):
    configured = "https://user:glpat-SECRET@gitlab.example.org/g/r"
    assert archive.code_url_of(configured, tmp_path) == "https://gitlab.example.org/g/r"
    ipv6 = "http://tok@[2001:db8::1]:8080/r.git"
    assert archive.code_url_of(ipv6, tmp_path) == "http://[2001:db8::1]:8080/r.git"
    bad = {"related_identifiers": None}
    assert any("related_identifiers" in p for p in archive.zenodo_metadata_problems(bad))
