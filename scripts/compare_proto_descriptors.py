#!/usr/bin/env python
"""Compare our proto descriptors against a reference dump (wire-compat check).

1. Dump the reference descriptors in a venv that has ml-metadata installed::

       /path/to/refvenv/bin/python scripts/dump_descriptors.py ml_metadata.proto -o ref.json

2. Compare (our side is dumped in-process from ``store.proto`` unless a second
   JSON file is given)::

       .venv/bin/python scripts/compare_proto_descriptors.py ref.json [ours.json]

Every difference is printed as ``<path>: reference=<..> ours=<..>``; the exit
status is 1 if there is any difference, 0 otherwise. File names and import
paths are already normalized away by dump_descriptors.py.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

_MISSING = object()


def diff(ref: Any, ours: Any, path: str = "") -> list[str]:
    """Recursive structural diff of two JSON values; returns human-readable lines."""
    if isinstance(ref, dict) and isinstance(ours, dict):
        out: list[str] = []
        for key in sorted(set(ref) | set(ours)):
            sub = f"{path}.{key}" if path else str(key)
            a = ref.get(key, _MISSING)
            b = ours.get(key, _MISSING)
            if a is _MISSING:
                out.append(f"{sub}: only in ours ({_short(b)})")
            elif b is _MISSING:
                out.append(f"{sub}: missing in ours (reference={_short(a)})")
            else:
                out.extend(diff(a, b, sub))
        return out
    if ref != ours:
        return [f"{path}: reference={_short(ref)} ours={_short(ours)}"]
    return []


def _short(value: Any, limit: int = 200) -> str:
    text = json.dumps(value, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _load_ours(path: str | None) -> Any:
    if path:
        return json.loads(Path(path).read_text())
    scripts_dir = Path(__file__).resolve().parent
    repo_root = scripts_dir.parent
    for entry in (str(scripts_dir), str(repo_root)):
        if entry not in sys.path:
            sys.path.insert(0, entry)
    import dump_descriptors

    # Round-trip through JSON so both sides have identical value types.
    return json.loads(json.dumps(dump_descriptors.dump("store.proto")))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Diff proto descriptor dumps.")
    parser.add_argument("reference", help="JSON dump of ml_metadata.proto (reference)")
    parser.add_argument(
        "ours", nargs="?", help="JSON dump of store.proto (default: dump it in-process)"
    )
    args = parser.parse_args(argv)

    ref = json.loads(Path(args.reference).read_text())
    ours = _load_ours(args.ours)
    differences = diff(ref, ours)
    for line in differences:
        print(line)

    n_msgs = len(ref.get("messages", {}))
    n_enums = len(ref.get("enums", {}))
    n_methods = sum(len(s.get("methods", {})) for s in ref.get("services", {}).values())
    print(
        f"{len(differences)} difference(s); reference has {n_msgs} messages, "
        f"{n_enums} enums, {n_methods} service methods"
    )
    return 1 if differences else 0


if __name__ == "__main__":
    sys.exit(main())
