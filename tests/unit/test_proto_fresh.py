"""The committed generated code is what `make proto` produces from the committed .proto files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / "proto" / "vcluster" / "v1"


def test_generated_code_is_up_to_date(tmp_path: Path) -> None:
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_proto.py"), str(tmp_path)],
        check=True,
        capture_output=True,
    )
    fresh = tmp_path / "vcluster" / "v1"
    fresh_files = {p.name for p in fresh.iterdir() if p.is_file()}
    committed = {p.name for p in GENERATED.iterdir() if p.is_file() and p.suffix != ".proto"}
    assert fresh_files == committed, "generated file set differs: run `make proto`"
    stale = [
        n for n in sorted(fresh_files) if (fresh / n).read_bytes() != (GENERATED / n).read_bytes()
    ]
    assert not stale, f"stale generated files {stale}: run `make proto` and commit"
