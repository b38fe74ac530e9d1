"""Every container runtime of the fleet trusts the registry: after `playbooks/site.yml`, a Docker host, a containerd
host and a Podman host each pull an image that registry_image pushed, by its digest, through every address of the
registry, in CA mode; without the trust the collection wrote, containerd and Podman refuse the registry's
certificate, which proves that TLS was checked."""

from __future__ import annotations

import json

import pytest
from conftest import (
    CONTAINERD_HOSTS_DIR,
    assert_podman_pulls_by_digest,
    assert_pulls_by_digest,
    ctr_pull,
    moved_away,
    podman_pull,
    run_ok,
)

CONTAINERS_CERTS_DIR = "/etc/containers/certs.d"
UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"


def test_the_docker_host_pulls_by_digest_through_every_address(fleet, pushed_image, address):
    assert_pulls_by_digest(fleet, fleet.registry, address, pushed_image)


def test_the_containerd_host_pulls_by_digest_through_every_address(fleet, pushed_image, address):
    host = fleet.host("containerd")
    reference = pushed_image.by_digest(address)
    run_ok(host, "ctr images rm %s || true", reference)
    result = ctr_pull(host, reference, fleet.account("fleet"))
    assert result.rc == 0, f"containerd: ctr pull {reference} failed: {result.stderr or result.stdout}"
    listed = run_ok(host, "ctr images ls --quiet")
    assert reference in listed.split(), f"containerd: {reference} is not among its images: {listed}"


def test_the_podman_host_pulls_by_digest_through_every_address(fleet, pushed_image, address):
    host = fleet.host("podman")
    reference = pushed_image.by_digest(address)
    assert_podman_pulls_by_digest(host, reference, pushed_image.digest)


def test_containerd_refuses_the_registry_without_its_hosts_directory(fleet, pushed_image):
    host = fleet.host("containerd")
    address = f"{fleet.registry_ips[0]}:{fleet.port}"
    reference = pushed_image.by_digest(address)
    run_ok(host, "ctr images rm %s || true", reference)
    with moved_away(host, f"{CONTAINERD_HOSTS_DIR}/{address}"):
        refused = ctr_pull(host, reference, fleet.account("fleet"))
    assert refused.rc != 0 and UNKNOWN_AUTHORITY in refused.stderr + refused.stdout, (
        f"containerd pulled {reference} without the registry's CA: {refused.stderr or refused.stdout}")


def test_podman_refuses_the_registry_without_its_ca(fleet, pushed_image):
    host = fleet.host("podman")
    address = f"{fleet.registry_ips[0]}:{fleet.port}"
    reference = pushed_image.by_digest(address)
    host.run("podman --storage-driver vfs rmi --force %s", reference)
    with moved_away(host, f"{CONTAINERS_CERTS_DIR}/{address}/ca.crt"):
        refused = podman_pull(host, reference)
    assert refused.rc != 0 and UNKNOWN_AUTHORITY in refused.stderr + refused.stdout, (
        f"podman pulled {reference} without the registry's CA: {refused.stderr or refused.stdout}")


def test_containerd_reads_the_hosts_directory_through_its_config(fleet):
    host = fleet.host("containerd")
    config = host.file("/etc/containerd/config.toml").content_string
    assert f'config_path = "{CONTAINERD_HOSTS_DIR}"' in config
    backups = run_ok(host, "ls /etc/containerd").split()
    assert any(name.startswith("config.toml.") and name.endswith("~") for name in backups), backups


@pytest.mark.parametrize("runtime", ["containerd", "podman"])
def test_hosts_without_docker_were_given_no_docker_files(fleet, runtime):
    host = fleet.host(runtime)
    assert not host.file("/etc/docker/certs.d").exists
    assert not host.file("/root/.docker/config.json").exists


def test_the_podman_login_is_private(fleet):
    auth = fleet.host("podman").file("/root/.config/containers/auth.json")
    assert (auth.user, auth.mode) == ("root", 0o600)
    # Every address resolves on the scenario's network, so the registry accepted the login at each.
    assert sorted(json.loads(auth.content_string)["auths"]) == sorted(fleet.addresses)
