"""The filter and lookup plugins stay light: Ansible loads every filter file of the collection in each task (each
worker process) that uses any of them, so none may import the Docker SDK or the registry client that the modules use
on the hosts (about a quarter of a second each time, on the controller)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = [f"{kind}.{path.stem}" for kind in ("filter", "lookup") for path in sorted((ROOT / "plugins" / kind).glob("*.py"))]
HEAVY = ("docker", "requests", "urllib3",
         "ansible_collections.dockyard.registry.plugins.module_utils._registry.client",
         "ansible_collections.dockyard.registry.plugins.module_utils._registry.transport")


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_filter_or_lookup_plugin_imports_neither_the_docker_sdk_nor_the_registry_client(plugin):
    check = (f"import sys; import ansible_collections.dockyard.registry.plugins.{plugin}; "
             f"print(' '.join(name for name in {HEAVY!r} if name in sys.modules))")
    done = subprocess.run([sys.executable, "-c", check], cwd=ROOT / ".collections", capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [], f"{plugin} imports {done.stdout.strip()}"
