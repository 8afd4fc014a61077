#!/usr/bin/env python3
"""Vendor the web UI's front-end files from npm at pinned versions (run by a developer, never at run time).

Why: HQ serves every asset itself (no CDN: a commune's office may have a poor link or none) and has
no build step at run time. This script fetches each pinned package with ``npm pack`` (the registry's
tarball, checked against its published integrity hash by npm), extracts only the files the UI uses into
``hq_server/ui/static/vendor/<name>-<version>/`` and writes ``manifest.json`` beside them with the
version, the tarball's integrity and each file's SHA-256. The files and the manifest are committed, so
CI and production need no npm; ``tests/ui/test_assets.py`` re-checks the checksums.

    .venv/bin/python scripts/vendor_assets.py          # re-vendor (after changing a pin below)
    .venv/bin/python scripts/vendor_assets.py --check  # verify committed files against the manifest
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

VENDOR = Path(__file__).resolve().parent.parent / "hq_server" / "ui" / "static" / "vendor"

# name, version, files to keep (paths inside the tarball's package/ folder)
PACKAGES: list[tuple[str, str, list[str]]] = [
    # htmx 2.x: partial page updates. 4.x is a breaking rewrite: stay on one major.
    ("htmx.org", "2.0.11", ["dist/htmx.min.js", "LICENSE"]),
    # Be Vietnam Pro: full Vietnamese coverage. Only the latin + vietnamese subsets, regular and semibold.
    ("@fontsource/be-vietnam-pro", "5.3.0", [
        "files/be-vietnam-pro-latin-400-normal.woff2", "files/be-vietnam-pro-vietnamese-400-normal.woff2",
        "files/be-vietnam-pro-latin-600-normal.woff2", "files/be-vietnam-pro-vietnamese-600-normal.woff2",
        "LICENSE"]),
    # uPlot: small time-series charts (node health, camera history, statistics); ~22 KB gzip, no dependencies.
    ("uplot", "1.6.32", ["dist/uPlot.iife.min.js", "dist/uPlot.min.css", "LICENSE"]),
]


def folder_name(name: str, version: str) -> str:
    return f"{name.lstrip('@').replace('/', '-')}-{version}"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pack(name: str, version: str, workdir: Path) -> tuple[Path, str]:
    out = subprocess.run(["npm", "pack", f"{name}@{version}", "--json", "--pack-destination", str(workdir)],
                         check=True, capture_output=True, text=True, cwd=workdir)
    info = json.loads(out.stdout)[0]
    return workdir / info["filename"], info["integrity"]


def vendor() -> dict[str, object]:
    manifest: dict[str, object] = {"generated_by": "scripts/vendor_assets.py", "packages": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, version, files in PACKAGES:
            tarball, integrity = pack(name, version, Path(tmp))
            dest = VENDOR / folder_name(name, version)
            shutil.rmtree(dest, ignore_errors=True)
            dest.mkdir(parents=True)
            entries = {}
            with tarfile.open(tarball) as tar:
                for rel in files:
                    member = tar.extractfile(f"package/{rel}")
                    if member is None:
                        raise SystemExit(f"{name}@{version}: {rel} missing from the package")
                    target = dest / rel
                    target.parent.mkdir(parents=True, exist_ok=True)
                    target.write_bytes(member.read())
                    entries[rel] = sha256(target)
            manifest["packages"].append({"name": name, "version": version, "folder": dest.name,  # type: ignore[union-attr]
                                         "integrity": integrity, "files": entries})
            print(f"vendored {name}@{version}: {len(entries)} file(s) → {dest.relative_to(VENDOR.parent.parent)}")
    kept = {p["folder"] for p in manifest["packages"]}  # type: ignore[union-attr, index]
    for old in VENDOR.iterdir():
        if old.is_dir() and old.name not in kept:
            shutil.rmtree(old)
    (VENDOR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", "utf-8")
    return manifest


def check() -> list[str]:
    """Problems with the committed vendored files (empty = all match the manifest)."""
    manifest = json.loads((VENDOR / "manifest.json").read_text("utf-8"))
    problems = []
    pinned = {(n, v) for n, v, _ in PACKAGES}
    for pkg in manifest["packages"]:
        if (pkg["name"], pkg["version"]) not in pinned:
            problems.append(f"{pkg['name']}@{pkg['version']} in the manifest but not pinned in the script")
        for rel, digest in pkg["files"].items():
            path = VENDOR / pkg["folder"] / rel
            if not path.exists():
                problems.append(f"missing {path}")
            elif sha256(path) != digest:
                problems.append(f"checksum mismatch {path}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="verify the committed files, fetch nothing")
    args = parser.parse_args()
    if args.check:
        problems = check()
        for p in problems:
            print(p, file=sys.stderr)
        print("vendored assets OK" if not problems else f"{len(problems)} problem(s)")
        return 1 if problems else 0
    vendor()
    return 0


if __name__ == "__main__":
    sys.exit(main())
