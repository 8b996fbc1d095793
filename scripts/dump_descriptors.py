#!/usr/bin/env python
"""Dump the MLMD protobuf descriptors as normalized JSON.

Runs under any Python that can import the given module prefix, e.g. our venv::

    .venv/bin/python scripts/dump_descriptors.py store.proto > ours.json

or a separate venv that has the reference ml-metadata package installed::

    /path/to/refvenv/bin/python scripts/dump_descriptors.py ml_metadata.proto > ref.json

The prefix must provide ``metadata_store_pb2`` and ``metadata_store_service_pb2``.
The output is keyed by fully-qualified proto names and deliberately omits file
names and import paths, so two dumps can be diffed with
``scripts/compare_proto_descriptors.py``. Only the standard library and
``google.protobuf.descriptor_pb2`` are used (works with protobuf 4.x to 7.x).
"""
from __future__ import annotations

import argparse
import importlib
import json
import sys
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pb2

REPO_ROOT = Path(__file__).resolve().parent.parent
MODULES: tuple[str, ...] = ("metadata_store_pb2", "metadata_store_service_pb2")

_F = descriptor_pb2.FieldDescriptorProto

Json = dict[str, Any]


def _type_name(name: str) -> str:
    """'.ml_metadata.Artifact.State' -> 'ml_metadata.Artifact.State'."""
    return name[1:] if name.startswith(".") else name


def _options(opts: Any) -> Json:
    """Options as {'fields': readable known fields, 'hex': exact serialized bytes}.

    The hex form also covers extensions (e.g. ml_metadata.system_type_extension)
    whether or not the dumping process has them registered.
    """
    raw = opts.SerializeToString(deterministic=True)
    known = {fd.name: _jsonable(value) for fd, value in opts.ListFields() if not fd.is_extension}
    return {"fields": known, "hex": raw.hex()}


def _jsonable(value: Any) -> Any:
    if isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, bytes):
        return value.hex()
    return str(value)


def _field(f: descriptor_pb2.FieldDescriptorProto, index: int, oneofs: list[str]) -> Json:
    out: Json = {
        "index": index,
        "number": f.number,
        "label": _F.Label.Name(f.label),
        "type": _F.Type.Name(f.type),
        "type_name": _type_name(f.type_name) if f.HasField("type_name") else None,
        "default": f.default_value if f.HasField("default_value") else None,
        "oneof_index": f.oneof_index if f.HasField("oneof_index") else None,
        "oneof": oneofs[f.oneof_index] if f.HasField("oneof_index") else None,
        "packed": f.options.packed if f.options.HasField("packed") else None,
        "deprecated": f.options.deprecated if f.options.HasField("deprecated") else None,
        "proto3_optional": f.proto3_optional if f.HasField("proto3_optional") else None,
        "json_name": f.json_name if f.HasField("json_name") else None,
        "has_options": f.HasField("options"),
        "options": _options(f.options),
    }
    if f.HasField("extendee"):
        out["extendee"] = _type_name(f.extendee)
    return out


def _enum(e: descriptor_pb2.EnumDescriptorProto, full: str, enums: Json) -> None:
    enums[full] = {
        "values": {
            v.name: {
                "index": i,
                "number": v.number,
                "has_options": v.HasField("options"),
                "options": _options(v.options),
            }
            for i, v in enumerate(e.value)
        },
        "has_options": e.HasField("options"),
        "options": _options(e.options),
        "reserved_ranges": [[r.start, r.end] for r in e.reserved_range],
        "reserved_names": list(e.reserved_name),
    }


def _message(
    m: descriptor_pb2.DescriptorProto, full: str, messages: Json, enums: Json, extensions: Json
) -> None:
    oneofs = [o.name for o in m.oneof_decl]
    messages[full] = {
        "fields": {f.name: _field(f, i, oneofs) for i, f in enumerate(m.field)},
        "oneofs": oneofs,
        "nested_types": [n.name for n in m.nested_type],
        "nested_enums": [e.name for e in m.enum_type],
        "extension_ranges": [[r.start, r.end] for r in m.extension_range],
        "reserved_ranges": [[r.start, r.end] for r in m.reserved_range],
        "reserved_names": list(m.reserved_name),
        "has_options": m.HasField("options"),
        "options": _options(m.options),
    }
    for n in m.nested_type:
        _message(n, f"{full}.{n.name}", messages, enums, extensions)
    for e in m.enum_type:
        _enum(e, f"{full}.{e.name}", enums)
    for i, x in enumerate(m.extension):
        extensions[f"{full}.{x.name}"] = _field(x, i, oneofs)


def dump(prefix: str) -> Json:
    """Normalized description of every descriptor reachable from ``prefix``."""
    files: Json = {}
    messages: Json = {}
    enums: Json = {}
    extensions: Json = {}
    services: Json = {}
    for mod_name in MODULES:
        module = importlib.import_module(f"{prefix}.{mod_name}")
        fd = descriptor_pb2.FileDescriptorProto.FromString(module.DESCRIPTOR.serialized_pb)
        pkg = fd.package
        files[mod_name] = {
            "package": pkg,
            "syntax": fd.syntax or "proto2",
            # Import paths differ by design (ml_metadata/proto/ vs store/proto/):
            # keep only the file names.
            "dependencies": [dep.rsplit("/", 1)[-1] for dep in fd.dependency],
            "public_dependencies": list(fd.public_dependency),
            "weak_dependencies": list(fd.weak_dependency),
            "has_options": fd.HasField("options"),
            "options": _options(fd.options),
            "messages": [m.name for m in fd.message_type],
            "enums": [e.name for e in fd.enum_type],
            "services": [s.name for s in fd.service],
        }
        for m in fd.message_type:
            _message(m, f"{pkg}.{m.name}", messages, enums, extensions)
        for e in fd.enum_type:
            _enum(e, f"{pkg}.{e.name}", enums)
        for i, x in enumerate(fd.extension):
            extensions[f"{pkg}.{x.name}"] = _field(x, i, [])
        for s in fd.service:
            services[f"{pkg}.{s.name}"] = {
                "has_options": s.HasField("options"),
                "options": _options(s.options),
                "methods": {
                    meth.name: {
                        "index": i,
                        "input_type": _type_name(meth.input_type),
                        "output_type": _type_name(meth.output_type),
                        "client_streaming": meth.client_streaming,
                        "server_streaming": meth.server_streaming,
                        "has_options": meth.HasField("options"),
                        "options": _options(meth.options),
                    }
                    for i, meth in enumerate(s.method)
                },
            }
    return {
        "files": files,
        "messages": messages,
        "enums": enums,
        "extensions": extensions,
        "services": services,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Dump MLMD proto descriptors as JSON.")
    parser.add_argument("prefix", help="module prefix, e.g. ml_metadata.proto or store.proto")
    parser.add_argument("-o", "--output", help="write to this file instead of stdout")
    args = parser.parse_args(argv)

    # Make `store.proto` importable when run as `python scripts/dump_descriptors.py`.
    if str(REPO_ROOT) not in sys.path:
        sys.path.append(str(REPO_ROOT))
    text = json.dumps(dump(args.prefix), indent=2, sort_keys=True) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
