"""Upload a bundle built by `make zenodo` to Zenodo as a new draft deposition.

The token comes only from the environment (ZENODO_TOKEN); it is never printed or written.
Nothing in the workflow or the tests needs this script.

    ZENODO_TOKEN=... python tools/zenodo_upload.py reports/default/zenodo [--sandbox] [--dry-run]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from uhecr.archive import verify_manifest, zenodo_metadata_problems  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("bundle", type=Path)
    parser.add_argument("--sandbox", action="store_true", help="use sandbox.zenodo.org")
    parser.add_argument("--dry-run", action="store_true", help="check and list, upload nothing")
    args = parser.parse_args()
    problems = verify_manifest(args.bundle)
    if problems:
        print(f"manifest check failed for: {problems}", file=sys.stderr)
        return 1
    # Snakemake's .snakemake_timestamp marker is not part of the bundle (nor of its manifest).
    files = sorted(
        p for p in args.bundle.rglob("*") if p.is_file() and p.name != ".snakemake_timestamp"
    )
    metadata = json.loads((args.bundle / ".zenodo.json").read_text())
    problems = zenodo_metadata_problems(metadata)
    if problems:
        print(f"{args.bundle / '.zenodo.json'}:", *problems, sep="\n  ", file=sys.stderr)
        return 1
    if args.dry_run:
        for p in files:
            print(p.relative_to(args.bundle))
        print(f"{len(files)} files, manifest OK, title: {metadata['title']}")
        return 0
    token = os.environ.get("ZENODO_TOKEN")
    if not token:
        print("ZENODO_TOKEN is not set", file=sys.stderr)
        return 2
    import requests

    api = "https://sandbox.zenodo.org/api" if args.sandbox else "https://zenodo.org/api"
    headers = {"Authorization": f"Bearer {token}"}
    dep = requests.post(
        f"{api}/deposit/depositions", json={"metadata": metadata}, headers=headers, timeout=60
    )
    dep.raise_for_status()
    bucket = dep.json()["links"]["bucket"]
    for p in files:
        name = str(p.relative_to(args.bundle)).replace("/", "__")  # Zenodo has no folders
        with p.open("rb") as fh:
            requests.put(
                f"{bucket}/{name}", data=fh, headers=headers, timeout=600
            ).raise_for_status()
    print(f"draft deposition {dep.json()['id']} created; review and publish it on Zenodo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
