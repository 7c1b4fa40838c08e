"""Regenerate the Python code of the wire contract (`make proto`).

Usage: python scripts/gen_proto.py [OUT_DIR]

OUT_DIR defaults to proto/, where the generated code is committed beside its .proto files; the
staleness test generates into a temporary directory and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"


def proto_files() -> list[Path]:
    return sorted((PROTO_ROOT / "vcluster" / "v1").glob("*.proto"))


def generate(out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    include = Path(protoc.__file__).parent / "_proto"
    files = [str(p.relative_to(PROTO_ROOT)) for p in proto_files()]
    bindir = Path(sys.executable).parent
    args = [
        "grpc_tools.protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--plugin=protoc-gen-mypy={bindir / 'protoc-gen-mypy'}",
        f"--plugin=protoc-gen-mypy_grpc={bindir / 'protoc-gen-mypy_grpc'}",
        f"--python_out={out_dir}",
        f"--grpc_python_out={out_dir}",
        f"--mypy_out={out_dir}",
        f"--mypy_grpc_out={out_dir}",
        *files,
    ]
    rc = protoc.main(args)
    if rc != 0:
        raise SystemExit(f"protoc failed with exit code {rc}")
    pkg = out_dir / "vcluster" / "v1"
    (pkg / "__init__.py").write_text('"""Generated wire contract (package vcluster.v1)."""\n')
    (pkg / "py.typed").write_text("")


def main() -> None:
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else PROTO_ROOT
    generate(out)


if __name__ == "__main__":
    main()
