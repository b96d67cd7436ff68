#!/usr/bin/env python3
"""Deterministic archive writer for `npm run package` (scripts/package-artifacts.ts).

Archives are byte-identical for identical inputs: entries sorted by name, fixed mtime, uid/gid 0 and empty
owner names, normalised permissions (0755 for directories and executables, 0644 otherwise), and for tar.gz a
gzip header without file name and with mtime 0.

Subcommands:
  tar  --output OUT.tar.gz --add SRC[:ARCNAME] …  [--exclude GLOB …]
  zip  --output OUT.zip   --add SRC[:ARCNAME] …  [--exclude GLOB …]
  dists --site DIR        print {"name": "version"} of the *.dist-info directories in DIR (JSON)
"""

from __future__ import annotations

import argparse
import fnmatch
import gzip
import io
import json
import os
import stat
import sys
import tarfile
import zipfile
from email.parser import HeaderParser
from pathlib import Path

# 1980-01-01T00:00:00Z: the earliest time a zip entry can hold; used for tar too so both agree.
FIXED_MTIME = 315532800
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)


def _collect(adds: list[str], excludes: list[str]) -> list[tuple[str, Path]]:
    """(archive name, path) of every file and directory to pack, sorted by archive name."""
    entries: dict[str, Path] = {}
    for add in adds:
        src, _, arcname = add.partition(":")
        root = Path(src)
        if not root.exists():
            raise SystemExit(f"pack_artifacts: {src} does not exist")
        base = arcname.strip("/") if arcname else ""
        if root.is_file():
            entries[base or root.name] = root
            continue
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames.sort()
            rel_dir = Path(dirpath).relative_to(root)
            for name in dirnames + filenames:
                rel = (rel_dir / name).as_posix()
                if any(fnmatch.fnmatch(rel, pat) or fnmatch.fnmatch(name, pat) for pat in excludes):
                    continue
                if any(fnmatch.fnmatch(part, pat) for part in Path(rel).parts for pat in excludes):
                    continue
                arc = f"{base}/{rel}" if base else rel
                entries[arc] = Path(dirpath) / name
            # prune excluded directories from the walk
            dirnames[:] = [d for d in dirnames if not any(fnmatch.fnmatch(d, pat) for pat in excludes)]
        if base:
            # parent directories of the prefix
            parts = base.split("/")
            for i in range(1, len(parts) + 1):
                entries.setdefault("/".join(parts[:i]), root)
    return sorted(entries.items())


def _mode(path: Path) -> int:
    st = path.lstat()
    if stat.S_ISDIR(st.st_mode) or st.st_mode & 0o111:
        return 0o755
    return 0o644


def write_tar(output: Path, adds: list[str], excludes: list[str]) -> None:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for arcname, path in _collect(adds, excludes):
            info = tarfile.TarInfo(arcname)
            info.mtime = FIXED_MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if path.is_symlink():
                info.type = tarfile.SYMTYPE
                info.linkname = os.readlink(path)
                info.mode = 0o777
                tar.addfile(info)
            elif path.is_dir():
                info.type = tarfile.DIRTYPE
                info.mode = 0o755
                tar.addfile(info)
            else:
                info.size = path.stat().st_size
                info.mode = _mode(path)
                with path.open("rb") as fh:
                    tar.addfile(info, fh)
    tmp = output.with_suffix(output.suffix + ".tmp")
    with tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, compresslevel=6, mtime=0) as gz:
        gz.write(buffer.getvalue())
    os.replace(tmp, output)


def write_zip(output: Path, adds: list[str], excludes: list[str]) -> None:
    tmp = output.with_suffix(output.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
        for arcname, path in _collect(adds, excludes):
            if path.is_dir():
                info = zipfile.ZipInfo(arcname + "/", date_time=FIXED_ZIP_TIME)
                info.external_attr = (0o40755 << 16) | 0x10
                zf.writestr(info, b"")
            else:
                info = zipfile.ZipInfo(arcname, date_time=FIXED_ZIP_TIME)
                info.external_attr = (0o100000 | _mode(path)) << 16
                info.compress_type = zipfile.ZIP_DEFLATED
                info.create_system = 3
                zf.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=9)
    os.replace(tmp, output)


def list_dists(site: Path) -> dict[str, str]:
    dists: dict[str, str] = {}
    for meta in sorted(site.glob("*.dist-info/METADATA")):
        headers = HeaderParser().parsestr(meta.read_text(encoding="utf-8", errors="replace"))
        dists[headers["Name"]] = headers["Version"]
    return dict(sorted(dists.items(), key=lambda kv: kv[0].lower()))


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    for name in ("tar", "zip"):
        p = sub.add_parser(name)
        p.add_argument("--output", required=True, type=Path)
        p.add_argument("--add", action="append", required=True, help="SRC[:ARCNAME] (a directory's contents go under ARCNAME)")
        p.add_argument("--exclude", action="append", default=[], help="glob on relative paths or names")
    d = sub.add_parser("dists")
    d.add_argument("--site", required=True, type=Path)
    args = parser.parse_args(argv)
    if args.command == "tar":
        write_tar(args.output, args.add, args.exclude)
    elif args.command == "zip":
        write_zip(args.output, args.add, args.exclude)
    else:
        json.dump(list_dists(args.site), sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
