"""Which module_utils each module ships, as Ansible's module packer finds them, against the list of what it calls.

The packer (``recursive_finder``) reads a module's imports, and those of each module_utils it adds, and ships every
file they name, wherever the import stands (in a function, under ``try``): ``from <package>.<name> import x`` ships
``<name>.x`` where that is a module, else ``<name>`` itself, and the ``__init__.py`` of each package on the way. Each
file shipped is compiled and imported on the host at every module call, so a module ships only what it calls: a
change that makes one ship more shows up here, to be split rather than waved through.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MODULES = ROOT / "plugins" / "modules"
UTILS = ROOT / "plugins" / "module_utils"
PACKAGE = ("ansible_collections", "dockyard", "registry", "plugins", "module_utils")

DOCKER = ["_docker_client.py"]
FILES = ["_files.py", "_users.py"]  # the one writer, and the owners it takes
REFERENCE = ["_digest.py", "_names.py", "_reference.py"]  # image references, their registry host:port
REGISTRY_CLIENT = ["_registry/__init__.py", "_registry/auth.py", "_registry/errors.py", "_registry/media.py",
                   "_registry/transport.py", "_registry/daemon_trust.py"]
IMAGE = sorted([*DOCKER, *REFERENCE, "_docker_images.py", "_image.py", *REGISTRY_CLIENT,
                "_registry/blobs.py", "_registry/client.py", "_registry/options.py", "_registry/signatures.py"])
DAEMON = [*DOCKER, "_daemon_config.py", "_daemon_json.py", "_daemon_keys.py", "_docker_daemon.py", "_dockerd.py", "_host_survey.py",
          *FILES, "_service.py"]
# The skeleton of the modules that run a program of their own as a service, and what it takes.
SERVICE_MODULE = [*FILES, "_host.py", "_service.py", "_service_module.py"]
RUNTIMES = ["_runtimes/__init__.py", "_runtimes/containerd.py", "_runtimes/detect.py", "_runtimes/docker.py",
            "_runtimes/plan.py", "_runtimes/podman.py", "_runtimes/tomlfile.py"]

EXPECTED = {
    "checks": [],
    "docker_daemon_config": sorted(DAEMON),
    "host_requirements": [],
    "package_image": sorted([*DOCKER, "_docker_images.py", *FILES, "_package_image.py"]),
    "registry_cache": sorted([*SERVICE_MODULE, "_redis_host.py", "_tls_files.py"]),
    "registry_certificate": sorted([*FILES, "_host.py", "_names.py", "_pki.py", "_validity.py"]),
    "registry_config": sorted([*DOCKER, "_docker_images.py", *FILES, "_host.py", "_package_image.py"]),
    # The job it installs applies retention rules through the registry client before it collects.
    "registry_gc_schedule": sorted([*FILES, *REFERENCE, *REGISTRY_CLIENT, "_docker_client.py", "_gc.py", "_gc_job.py",
                                    "_gc_schedule.py", "_metrics.py", "_registry/blobs.py", "_registry/client.py",
                                    "_registry/retention.py", "_registry/retention_rules.py", "_schedule.py", "_service.py",
                                    "_validity.py"]),
    "registry_gc_guard": sorted([*REFERENCE, "_gc.py", "_host.py", "_registry/__init__.py", "_registry/blobs.py",
                                 "_registry/errors.py", "_registry/media.py"]),
    "registry_image": IMAGE,
    "registry_lb": sorted([*SERVICE_MODULE, "_haproxy.py", "_haproxy_host.py", "_names.py"]),
    "registry_lb_server": ["_haproxy.py"],
    "registry_metrics": sorted([*FILES, "_metrics.py", "_validity.py"]),
    "registry_probe": sorted([*DOCKER, *REGISTRY_CLIENT, "_dockerd.py", "_names.py", "_verdicts.py", "_registry/options.py",
                              "_registry/probe.py", "_validity.py", "_x509.py"]),
    "registry_retention": sorted([*DOCKER, *REGISTRY_CLIENT, *REFERENCE, "_registry/blobs.py",
                                  "_registry/client.py", "_registry/options.py", "_registry/retention.py",
                                  "_registry/retention_rules.py"]),
    "registry_smoke": IMAGE,
    "registry_store": sorted([*SERVICE_MODULE, "_names.py", "_seaweedfs.py", "_seaweedfs_host.py", "_tls_files.py"]),
    "registry_trust": sorted({*DAEMON, *REGISTRY_CLIENT, *RUNTIMES, "_names.py", "_verdicts.py", "_registry/probe.py",
                              "_host_trust.py", "_validity.py", "_x509.py"}),
}


def _located(parts: tuple[str, ...]) -> Path | None:
    base = UTILS.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def imported(path: Path) -> set[Path]:
    """The collection's module_utils files that the imports of ``path`` make the packer ship."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [tuple(alias.name.split(".")) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [(*node.module.split("."), alias.name) for alias in node.names]
        else:
            continue
        for name in names:
            if name[:len(PACKAGE)] != PACKAGE:
                continue
            parts = name[len(PACKAGE):]
            while parts and _located(parts) is None:  # an attribute of the module, not a module of its own
                parts = parts[:-1]
            if not parts:
                continue
            found.add(_located(parts))
            found.update(UTILS.joinpath(*parts[:depth], "__init__.py") for depth in range(1, len(parts))
                         if UTILS.joinpath(*parts[:depth], "__init__.py").is_file())
    return found


def shipped(module: Path) -> list[str]:
    """Every module_utils file the packer ships with ``module``, relative to plugins/module_utils."""
    seen: set[Path] = set()
    pending = [module]
    while pending:
        for path in imported(pending.pop()) - seen:
            seen.add(path)
            pending.append(path)
    return sorted(path.relative_to(UTILS).as_posix() for path in seen)


def test_every_module_has_an_expected_list():
    assert sorted(EXPECTED) == sorted(path.stem for path in MODULES.glob("*.py") if path.stem != "__init__")


@pytest.mark.parametrize("module", sorted(EXPECTED))
def test_a_module_ships_only_the_module_utils_it_calls(module):
    assert shipped(MODULES / f"{module}.py") == EXPECTED[module]


def test_the_finder_follows_imports_inside_functions_and_names_of_submodules(tmp_path):
    """What the packer does, on a module of the test's own: it must not miss an import (the test could not fail)."""
    module = tmp_path / "module.py"
    module.write_text("def main():\n"
                      "    from ansible_collections.dockyard.registry.plugins.module_utils._registry import probe\n"
                      "    from ansible_collections.dockyard.registry.plugins.module_utils._service import Service\n")
    assert "_registry/probe.py" in shipped(module) and "_registry/__init__.py" in shipped(module)
    assert "_service.py" in shipped(module) and "_x509.py" in shipped(module)  # through _registry/probe
