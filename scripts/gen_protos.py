#!/usr/bin/env python
"""Regenerate the Python protobuf / gRPC modules under ``store/proto``.

Usage (from anywhere, with the project venv)::

    .venv/bin/python scripts/gen_protos.py          # rewrite committed modules
    .venv/bin/python scripts/gen_protos.py --check  # exit 1 if they are stale

The .proto files are compiled with ``grpc_tools.protoc`` using the repository
root as proto_path (so ``store/proto/metadata_store_service.proto`` imports
``store/proto/metadata_store.proto`` and the generated code does
``from store.proto import metadata_store_pb2``) plus grpc_tools' bundled
include directory for the google/protobuf well-known types.

Generated output depends on the grpcio-tools version; ``--check`` is only
meaningful with the version pinned for the project.
"""
from __future__ import annotations

import argparse
import filecmp
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = Path("store") / "proto"

# .proto sources, relative to the repository root (= proto_path).
PROTO_FILES: tuple[str, ...] = (
    "store/proto/metadata_store.proto",
    "store/proto/metadata_store_service.proto",
)
# Only these get a *_pb2_grpc.py module (the others declare no services).
GRPC_PROTO_FILES: tuple[str, ...] = ("store/proto/metadata_store_service.proto",)

# Every file this script owns, relative to the repository root.
GENERATED_FILES: tuple[str, ...] = (
    "store/proto/metadata_store_pb2.py",
    "store/proto/metadata_store_pb2.pyi",
    "store/proto/metadata_store_service_pb2.py",
    "store/proto/metadata_store_service_pb2.pyi",
    "store/proto/metadata_store_service_pb2_grpc.py",
)


def _grpc_tools_include() -> Path:
    """Directory holding google/protobuf/*.proto as shipped by grpc_tools."""
    import grpc_tools

    return Path(grpc_tools.__file__).resolve().parent / "_proto"


def _protoc(args: Sequence[str], cwd: Path) -> None:
    cmd = [sys.executable, "-m", "grpc_tools.protoc", *args]
    result = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(
            f"protoc failed ({result.returncode}): {' '.join(cmd)}\n{result.stderr}"
        )


def generate(out_dir: Path, repo_root: Path = REPO_ROOT) -> list[Path]:
    """Compile the .proto files of ``repo_root`` into ``out_dir``.

    Returns the generated files (``out_dir / GENERATED_FILES[i]``).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    includes = [f"--proto_path={repo_root}", f"--proto_path={_grpc_tools_include()}"]
    _protoc(
        [*includes, f"--python_out={out_dir}", f"--pyi_out={out_dir}", *PROTO_FILES],
        cwd=repo_root,
    )
    _protoc([*includes, f"--grpc_python_out={out_dir}", *GRPC_PROTO_FILES], cwd=repo_root)
    produced = [out_dir / rel for rel in GENERATED_FILES]
    missing = [str(p) for p in produced if not p.is_file()]
    if missing:
        raise RuntimeError(f"protoc did not produce: {', '.join(missing)}")
    return produced


def find_stale(repo_root: Path = REPO_ROOT) -> list[str]:
    """Regenerate into a temp dir and list committed files that differ or are missing."""
    with tempfile.TemporaryDirectory(prefix="gen_protos_") as tmp:
        generate(Path(tmp), repo_root)
        stale: list[str] = []
        for rel in GENERATED_FILES:
            committed = repo_root / rel
            fresh = Path(tmp) / rel
            if not committed.is_file() or not filecmp.cmp(committed, fresh, shallow=False):
                stale.append(rel)
        return stale


def write(repo_root: Path = REPO_ROOT) -> list[str]:
    """Regenerate and install the modules into ``repo_root``; return the written paths."""
    with tempfile.TemporaryDirectory(prefix="gen_protos_") as tmp:
        generate(Path(tmp), repo_root)
        for rel in GENERATED_FILES:
            dest = repo_root / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / rel, dest)
    return list(GENERATED_FILES)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write; exit 1 if the committed generated modules are stale",
    )
    args = parser.parse_args(argv)

    if args.check:
        stale = find_stale()
        if stale:
            for rel in stale:
                print(f"stale generated file: {rel}", file=sys.stderr)
            print("run: python scripts/gen_protos.py", file=sys.stderr)
            return 1
        print("generated protobuf modules are up to date")
        return 0

    for rel in write():
        print(f"wrote {rel}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
