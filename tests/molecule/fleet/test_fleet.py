"""What every fleet scenario must show after `playbooks/site.yml`: each Docker host trusts the registry at
every address, the CA key stayed on the controller, the registry keeps its data, and an image pushed from one
host is pulled by digest on another through each address with the digest the module reported."""

from __future__ import annotations

import json
import re
import subprocess

import pytest
from conftest import CERTS_D, _local, assert_pulls_by_digest, ca_path, run_ok
from cryptography import x509
from cryptography.hazmat.primitives import serialization

REGISTRY_CONTAINER = "dockyard-registry"
REGISTRY_DATA_DIR = "/var/lib/dockyard/registry"


def test_every_docker_host_has_the_ca_for_every_registry_address(fleet, docker_host):
    if fleet.trust_mode != "ca":
        pytest.skip(f"registry_trust_mode is {fleet.trust_mode}: no CA goes into certs.d")
    host = fleet.host(docker_host)
    entries = sorted(run_ok(host, "ls -1 %s", CERTS_D).split())
    assert entries == sorted(fleet.addresses), (
        f"{docker_host}: {CERTS_D} holds {entries}; expected one entry per registry address {sorted(fleet.addresses)}")
    for address in fleet.addresses:
        ca = host.file(ca_path(address))
        assert ca.is_file, f"{docker_host}: {ca_path(address)} is missing"
        assert (ca.user, ca.group, ca.mode) == ("root", "root", 0o444), (
            f"{docker_host}: {ca_path(address)} is {ca.user}:{ca.group} {oct(ca.mode)}; expected root:root 0444")
        assert ca.content == fleet.ca_pem, f"{docker_host}: {ca_path(address)} is not the controller's CA certificate"


def test_no_host_holds_the_ca_private_key(fleet, any_host):
    if not fleet.tls:
        pytest.skip("registry_tls is false: there is no CA")
    host = fleet.host(any_host)
    ca_key = (fleet.pki_dir / "ca.key").read_bytes()
    ca_public = x509.load_pem_x509_certificate(fleet.ca_pem).public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    # Every file of the host (its Docker storage and images included) with a PEM private key in it.
    found = run_ok(host, r"find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -type f -size -64k -print0 "
                         r"| xargs -0 -r grep -lsIE -e '^-----BEGIN ([A-Z0-9]+ )?PRIVATE KEY-----' || true").split()
    for path in found:
        content = host.file(path).content
        assert ca_key.strip() not in content, f"{any_host}: {path} holds the CA's private key"
        try:
            key = serialization.load_pem_private_key(content, password=None)
        except (TypeError, ValueError):  # encrypted, or more than a key: the byte comparison above stands
            continue
        public = key.public_key().public_bytes(serialization.Encoding.DER,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
        assert public != ca_public, f"{any_host}: {path} holds the CA's private key (in another encoding)"
    expected = ["/etc/dockyard/registry/tls/server.key"] if any_host in fleet.group("registry") else []
    if expected and fleet.registry_users:  # the authenticating proxy's certificate file (root, 0600)
        expected.append("/etc/dockyard/registry/proxy/server.pem")
    # sshd's own host keys, which its package makes on every host (the image carries openssh-server), are not ours.
    found = [path for path in found if not re.fullmatch(r"/etc/ssh/ssh_host_[a-z0-9]+_key", path)]
    assert sorted(found) == sorted(expected), f"{any_host}: private keys found: {found}; expected {expected}"


def test_registry_container_runs_with_its_restart_policy_and_data_on_the_host(fleet):
    host = fleet.host(fleet.registry)
    inspect = json.loads(run_ok(host, "docker container inspect %s", REGISTRY_CONTAINER))[0]
    assert inspect["State"]["Running"], f"{fleet.registry}: {REGISTRY_CONTAINER} is {inspect['State']['Status']}"
    policy = fleet.variables(fleet.registry).get("registry_server_restart_policy", "always")
    assert inspect["HostConfig"]["RestartPolicy"]["Name"] == policy, (
        f"{fleet.registry}: restart policy {inspect['HostConfig']['RestartPolicy']}, expected {policy}")
    storage = [m for m in inspect["Mounts"] if m["Destination"] == "/var/lib/registry"]
    assert [(m["Type"], m["Source"], m["RW"]) for m in storage] == [("bind", REGISTRY_DATA_DIR, True)], (
        f"{fleet.registry}: the registry's /var/lib/registry is mounted as {storage}; "
        f"expected a read-write bind of {REGISTRY_DATA_DIR}")
    assert host.file(REGISTRY_DATA_DIR).is_directory


def test_pushed_image_is_stored_in_the_host_directory(fleet, pushed_image):
    host = fleet.host(fleet.registry)
    repository = f"{REGISTRY_DATA_DIR}/docker/registry/v2/repositories/{pushed_image.repository}"
    stored = f"{repository}/_manifests/tags/{pushed_image.tag}"
    assert host.file(stored).is_directory, (
        f"{fleet.registry}: {stored} is missing: the push did not reach the host directory")


def test_pushed_image_pulls_by_digest_on_another_host_through_every_address(fleet, pushed_image, address):
    assert_pulls_by_digest(fleet, fleet.puller, address, pushed_image)


def test_registry_image_module_verifies_the_digest_on_the_pulling_host(fleet, pushed_image):
    host = fleet.host(fleet.puller)
    address = f"{fleet.registry}:{fleet.port}"
    result = host.ansible("dockyard.registry.registry_image",
                          json.dumps({"name": f"{address}/{pushed_image.repository}:{pushed_image.tag}",
                                      "digest": pushed_image.digest, "state": "verified"}),
                          check=False)
    assert result["digest"] == pushed_image.digest, f"{fleet.puller}: verified {result}"
    assert set(result["digests"].values()) == {pushed_image.digest}, (
        f"{fleet.puller}: digests disagree: {result['digests']}")


# The hosts start from an image without the Python libraries the collection's modules import (checked here on
# that very image): they came with the site playbook's preflight, from the OS packages.
MODULE_LIBRARIES = {"cryptography": "python3-cryptography", "requests": "python3-requests", "docker": "python3-docker"}


def test_the_host_image_lacks_the_modules_libraries(fleet):
    image = json.loads(_local("docker", "container", "inspect", fleet.container(fleet.registry)))[0]["Config"]["Image"]
    for library in MODULE_LIBRARIES:
        probe = subprocess.run(["docker", "run", "--rm", "--entrypoint", "/usr/bin/python3", image, "-c",
                                f"import {library}"], check=False, capture_output=True, text=True)
        assert probe.returncode != 0, f"the host image {image} has {library}: the scenario proves no install"


def test_the_preflight_installed_the_libraries_from_the_os_packages(fleet, any_host):
    host = fleet.host(any_host)
    # requests and the Docker SDK only where Docker runs: a containerd or Podman host gets cryptography alone.
    needed = MODULE_LIBRARIES if any_host in fleet.docker_hosts or any_host == fleet.registry else {
        "cryptography": MODULE_LIBRARIES["cryptography"]}
    for library, package in needed.items():
        assert host.package(package).is_installed, f"{any_host}: {package} was not installed"
        run_ok(host, "/usr/bin/python3 -c %s", f"import {library}")
