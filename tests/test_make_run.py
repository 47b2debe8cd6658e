"""Issue 19: `make run` tells how to run the `supportbot` command (it lives in the venv, not on PATH)."""

from __future__ import annotations

import subprocess

from tests.conftest import ROOT


def test_make_run_says_how_to_run_supportbot_before_serving(tmp_path):
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    stub = venv / "bin" / "supportbot"  # stands in for the real command: prints what it was asked to do
    stub.write_text('#!/bin/sh\necho "stub supportbot $*"\n')
    stub.chmod(0o755)
    (venv / ".installed").touch()  # newer than pyproject.toml and the Makefile: nothing to install
    out = subprocess.run(["make", "--no-print-directory", "-C", str(ROOT), "run", f"VENV={venv}"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = [line for line in out.stdout.splitlines() if line.strip()]
    serve = lines.index("stub supportbot serve")
    hint = "\n".join(lines[lines.index("stub supportbot migrate") + 1:serve])
    assert f"{venv}/bin/supportbot --help" in hint and f"source {venv}/bin/activate" in hint, out.stdout
