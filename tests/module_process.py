"""A module of the collection run as Ansible runs it on a host: its own process, its arguments from a file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_module(module: str, args: dict, tmp_path: Path, check_mode: bool = False) -> dict:
    """The result of the module ``module`` (its short name) run with ``args``, in check mode or not, diff on."""
    arguments = tmp_path / "args.json"
    arguments.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode,
                                                             "_ansible_diff": True}}))
    run = subprocess.run([sys.executable, "-m", f"ansible_collections.dockyard.registry.plugins.modules.{module}",
                          str(arguments)], capture_output=True, text=True, check=False, timeout=60, cwd=ROOT,
                         env={**os.environ, "PYTHONPATH": str(ROOT / ".collections")})
    return json.loads(run.stdout)
