"""Generated protobuf types do not leak past the conversion layer and the gRPC edges."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

# The conversion layer, and the modules that are gRPC edges (servicers, stubs).
ALLOWED = {
    "vcbase/wire.py",
    "coordinator/gateway.py",
    "coordinator/admin.py",
    "coordinator/server.py",
    "coordinator/ctl/client.py",
    "agent/link.py",
    "agent/local_api.py",
    "agent/local_client.py",
}


def imports_generated(path: Path) -> bool:
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("vcluster"):
            return True
        if isinstance(node, ast.Import) and any(a.name.startswith("vcluster") for a in node.names):
            return True
    return False


def test_only_edges_import_the_generated_code() -> None:
    offenders = sorted(
        str(p.relative_to(ROOT))
        for package in ("agent", "coordinator", "vcbase")
        for p in (ROOT / package).rglob("*.py")
        if imports_generated(p) and str(p.relative_to(ROOT)) not in ALLOWED
    )
    assert offenders == []


def test_the_allowed_list_names_real_edges() -> None:
    # A stale entry would silently widen the boundary.
    for rel in ALLOWED:
        assert imports_generated(ROOT / rel), rel
