"""The conditions of the CIS Docker Benchmark checks (as docker-bench-security runs them) that concern the
registry, on every host of the fleet: host configuration (2.5), Docker daemon files (3.7, 3.8, 3.17, 3.18)
and the registry container's runtime (5.11, 5.13, 5.14, 5.26, 5.27, 5.29); and the registry's own files."""

from __future__ import annotations

import json
import time

import pytest
from conftest import CERTS_D, run_ok

REGISTRY_CONTAINER = "dockyard-registry"
DAEMON_JSON = "/etc/docker/daemon.json"


def owned_by_root(file) -> bool:
    return (file.user, file.group) == ("root", "root")


def test_2_5_no_insecure_registries_in_ca_mode(fleet, docker_host):
    if fleet.trust_mode != "ca":
        pytest.skip(f"registry_trust_mode is {fleet.trust_mode}")
    config = json.loads(run_ok(fleet.host(docker_host), "docker info --format %s", "{{json .RegistryConfig}}"))
    insecure = [name for name, index in (config.get("IndexConfigs") or {}).items() if not index.get("Secure")]
    assert insecure == [], f"{docker_host}: the daemon treats {insecure} as insecure registries"
    # Docker always lists loopback; nothing beyond it may be there.
    assert config.get("InsecureRegistryCIDRs") in ([], ["127.0.0.0/8"], None), (
        f"{docker_host}: insecure registry CIDRs {config.get('InsecureRegistryCIDRs')}")


def test_3_7_and_3_8_certs_d_files_are_root_owned_and_0444_or_stricter(fleet, docker_host):
    host = fleet.host(docker_host)
    paths = run_ok(host, "find %s -type f", CERTS_D).split()
    assert paths, f"{docker_host}: {CERTS_D} holds no certificate"
    for path in paths:
        file = host.file(path)
        assert owned_by_root(file), f"{docker_host}: {path} is owned by {file.user}:{file.group}"
        assert file.mode & 0o333 == 0, f"{docker_host}: {path} is {oct(file.mode)}; 3.8 wants 0444 or stricter"


def test_3_17_and_3_18_daemon_json_is_root_owned_and_0644_or_stricter(fleet, docker_host):
    file = fleet.host(docker_host).file(DAEMON_JSON)
    if not file.exists:
        pytest.skip(f"{docker_host} has no {DAEMON_JSON}")
    assert owned_by_root(file), f"{docker_host}: {DAEMON_JSON} is owned by {file.user}:{file.group}"
    assert file.mode & 0o133 == 0, f"{docker_host}: {DAEMON_JSON} is {oct(file.mode)}; 3.18 wants 0644 or stricter"


@pytest.fixture(scope="module")
def registry_container(fleet) -> dict:
    """The registry container's inspection, once Docker has run its health check (it starts unknown)."""
    host = fleet.host(fleet.registry)
    deadline = time.monotonic() + 90
    while True:
        inspect = json.loads(run_ok(host, "docker container inspect %s", REGISTRY_CONTAINER))[0]
        health = (inspect["State"].get("Health") or {}).get("Status")
        if health != "starting" or time.monotonic() > deadline:
            return inspect
        time.sleep(3)


def test_5_11_memory_limit(registry_container):
    assert registry_container["HostConfig"]["Memory"] > 0, "the registry container has no memory limit"


def test_5_13_read_only_root_filesystem(registry_container):
    assert registry_container["HostConfig"]["ReadonlyRootfs"] is True
    writable = [m["Destination"] for m in registry_container["Mounts"] if m["RW"]]
    assert writable == ["/var/lib/registry"], f"writable mounts besides the storage: {writable}"


def test_5_14_published_on_one_address(fleet, registry_container):
    bindings = registry_container["HostConfig"]["PortBindings"]
    host_ips = [binding["HostIp"] for ports in bindings.values() for binding in ports]
    assert host_ips, "the registry port is not published"
    assert all(ip not in ("", "0.0.0.0", "::") for ip in host_ips), f"published on every address: {bindings}"
    assert set(host_ips) <= set(fleet.registry_ips), f"published on {host_ips}, not on {fleet.registry_ips}"


def test_5_26_no_new_privileges_and_no_capabilities(registry_container):
    options = registry_container["HostConfig"]["SecurityOpt"] or []
    assert any(option in ("no-new-privileges", "no-new-privileges:true") for option in options), options
    assert registry_container["HostConfig"]["CapDrop"] == ["ALL"]
    assert not registry_container["HostConfig"]["CapAdd"]
    assert registry_container["HostConfig"]["Privileged"] is False


def test_5_27_health_check_runs_and_passes(registry_container):
    check = registry_container["Config"].get("Healthcheck") or {}
    assert check.get("Test") and check["Test"][0] != "NONE", f"no health check: {check}"
    health = registry_container["State"]["Health"]
    assert health["Status"] == "healthy", f"health {health['Status']}: {health.get('Log', [])[-1:]}"


def test_5_29_pids_limit(registry_container):
    assert (registry_container["HostConfig"]["PidsLimit"] or 0) > 0, "the registry container has no pids limit"


def test_registry_files_on_the_host_are_root_owned_and_private(fleet):
    host = fleet.host(fleet.registry)
    expected = {
        "/etc/dockyard/registry/tls/server.key": 0o400,
        "/etc/dockyard/registry/tls/server.crt": 0o444,
        "/etc/dockyard/registry/tls/ca.crt": 0o444,
        "/etc/dockyard/registry/htpasswd": 0o600,
        "/etc/dockyard/registry/http-secret": 0o600,
        "/etc/dockyard/registry/config.yml": 0o640,
    }
    for path, mode in expected.items():
        file = host.file(path)
        assert (file.user, file.group, file.mode) == ("root", "root", mode), (
            f"{fleet.registry}: {path} is {file.user}:{file.group} {oct(file.mode)}; expected root:root {oct(mode)}")
    writable = run_ok(host, "find /etc/dockyard -perm -o+w").split()
    assert writable == [], f"{fleet.registry}: world-writable: {writable}"
