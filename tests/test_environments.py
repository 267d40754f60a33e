"""envs/*.yaml must pin exact versions that agree with requirements.lock."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
ENV_FILES = sorted((ROOT / "envs").glob("*.yaml"))


def _lock():
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        if "==" in line and not line.startswith("#"):
            name, version = line.strip().split("==")
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def test_lock_is_fully_pinned():
    lines = [
        line
        for line in (ROOT / "requirements.lock").read_text().splitlines()
        if line and not line.startswith("#")
    ]
    assert len(lines) > 50
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-]+==[A-Za-z0-9_.+\-]+", line) for line in lines), lines


@pytest.mark.parametrize("path", ENV_FILES, ids=lambda p: p.name)
def test_env_pins_exact_versions_matching_lock(path):
    env = yaml.safe_load(path.read_text())
    lock = _lock()
    deps = env["dependencies"]
    conda = [d for d in deps if isinstance(d, str)]
    pip = next(d["pip"] for d in deps if isinstance(d, dict))
    assert any(d.startswith("python=") for d in conda)
    for dep in conda:
        assert re.fullmatch(r"[a-z0-9_\-]+=\d+(\.\d+)+", dep), (
            f"{path.name}: conda dep {dep!r} not exact"
        )
    import sys

    # Same minor version as the running Python (the README promises any Python 3.11).
    python = next(d for d in conda if d.startswith("python="))
    assert python.startswith(f"python={sys.version_info.major}.{sys.version_info.minor}.")
    assert f"pip={lock['pip']}" in conda
    for dep in pip:
        name, _, version = dep.partition("==")
        assert version, f"{path.name}: pip dep {dep!r} is not pinned with =="
        key = re.sub(r"[-_.]+", "-", name).lower()
        assert lock.get(key) == version, (
            f"{path.name}: {name}=={version} but lock has {lock.get(key)}"
        )


def test_envs_are_up_to_date_with_generator():
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "make_envs.py"), "--check"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_every_rule_declares_an_existing_env():
    text = "\n".join(p.read_text() for p in (ROOT / "rules").glob("*.smk"))
    n_rules = len(re.findall(r"^rule \w+:", text, flags=re.M))
    envs = re.findall(r'conda:\s*\n\s*"\.\./(envs/[\w.]+)"', text)
    assert len(envs) == n_rules
    for env in envs:
        assert (ROOT / env).exists(), env
