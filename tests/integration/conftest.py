"""Fixtures for the integration suite: a real Docker daemon, a real registry over real TLS.

The registry is the one ``playbooks/site.yml`` deploys on the local inventory, reached at this
machine's default IPv4 address (never loopback: Docker skips TLS checks for 127.0.0.0/8).
"""

from __future__ import annotations

import contextlib
import os
import uuid

import docker
import pytest
from daemon_hosts import DockerHost
from scratch_registry import REGISTRY_IMAGE, registry_image_present

from support import PlaybookRun, Registry, default_ipv4, run_playbook, scratch_context


@pytest.fixture(scope="session")
def machine_ip() -> str:
    return default_ipv4()


@pytest.fixture(scope="session")
def site_run(machine_ip) -> PlaybookRun:
    """``playbooks/site.yml`` on the local inventory, run once for the session (the first run of it)."""
    run = run_playbook("playbooks/site.yml")
    assert run.returncode == 0, str(run)
    return run


@pytest.fixture(scope="session")
def registry(request, machine_ip) -> Registry:
    """The registry under test.

    ``DOCKYARD_TEST_REGISTRY=host:port`` points the module tests at a registry that already runs and is
    trusted through certs.d (handy while working on a module); otherwise the suite deploys its own.
    """
    given = os.environ.get("DOCKYARD_TEST_REGISTRY")
    if given:
        return Registry(given)
    request.getfixturevalue("site_run")
    return Registry(f"{machine_ip}:5000")


@pytest.fixture(scope="session")
def scratch_registry_image(request) -> str:
    """The image the tests' own registries (``scratch_registry``) run: ``playbooks/site.yml`` builds it if missing."""
    if not registry_image_present():
        request.getfixturevalue("site_run")
    return REGISTRY_IMAGE


@pytest.fixture(scope="session")
def daemon():
    """This machine's Docker daemon, through the Docker SDK."""
    client = docker.from_env()
    yield client
    client.close()


@pytest.fixture
def image(daemon):
    """A local image no registry has seen: ``FROM scratch`` with one file of unique content. Removed afterwards."""
    marker = uuid.uuid4().hex
    built, _logs = daemon.images.build(fileobj=scratch_context(marker), custom_context=True,
                                       tag=f"dockyard-test/image:{marker}", rm=True)
    yield built
    with contextlib.suppress(docker.errors.ImageNotFound):  # some tests remove it to play a host without it
        daemon.images.remove(built.id, force=True)


@pytest.fixture
def docker_host():
    """Starts Docker hosts of the test's own (``docker_host(flags)``, the flags of their dockerd); removed afterwards."""
    hosts = []

    def start(flags=(), **options):
        host = DockerHost(list(flags), **options)
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.remove()


@pytest.fixture(scope="module")
def keeper_image(scratch_registry_image) -> str:
    """An image that runs for good (the registry's), to start a container inside a Docker host."""
    return scratch_registry_image
