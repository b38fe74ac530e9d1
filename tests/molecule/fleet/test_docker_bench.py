"""The conditions of the CIS Docker Benchmark checks (as docker-bench-security runs them) that concern the
registry, on every Docker host of every fleet scenario: host configuration (2.5), Docker daemon files (3.7, 3.8,
and 3.17, 3.18 where daemon.json exists: the insecure scenario writes one), the registry container's user (4.1)
and runtime (5.11, 5.12, 5.13, 5.14, 5.26, 5.27, 5.29); and the registry's own files."""

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
    if fleet.trust_mode != "ca":  # a registry over plain HTTP: no certificate to trust, and none may be there
        assert run_ok(host, "find %s -type f 2>/dev/null || true", CERTS_D).split() == []
        pytest.skip(f"registry_trust_mode is {fleet.trust_mode}: {CERTS_D} has no file to check")
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


REGISTRY_UID = 10001  # registry_uid's default


def test_4_1_the_registry_runs_as_an_unprivileged_user(fleet, registry_container):
    user = registry_container["Config"]["User"]
    assert user == f"{REGISTRY_UID}:{REGISTRY_UID}", f"the registry container runs as {user!r}"
    # The container's first process and its children, as the host's kernel has them (docker top needs a ps the
    # hosts lack): real, effective, saved and filesystem uids.
    pid = registry_container["State"]["Pid"]
    uids = run_ok(fleet.host(fleet.registry), "for pid in %s $(cat /proc/%s/task/*/children); do "
                  "sed -n 's/^Uid:\\s*//p' /proc/$pid/status; done", str(pid), str(pid)).split()
    assert uids and set(uids) == {str(REGISTRY_UID)}, f"the registry's processes run as uids {uids}"


def test_5_12_cpu_limit(registry_container):
    assert registry_container["HostConfig"]["NanoCpus"] > 0, "the registry container has no CPU limit"


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
    if fleet.registry_users:
        # Behind the authenticating proxy, which listens on the host's address: on loopback only (with metrics, the
        # debug server's port too).
        assert set(host_ips) == {"127.0.0.1"}, f"published on {host_ips}, not on loopback only"
    else:
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


def test_registry_files_on_the_host_are_private_to_the_registry_user(fleet):
    """The key, configuration (with the upload secret) and accounts are the registry user's alone; the
    certificates are public; nothing is world-writable, and no secret is left where an earlier release kept it."""
    host = fleet.host(fleet.registry)
    uid = str(REGISTRY_UID)
    expected = {
        "/etc/dockyard/registry/tls/server.key": (uid, 0o400),
        "/etc/dockyard/registry/tls/server.crt": ("root", 0o444),
        "/etc/dockyard/registry/tls/ca.crt": ("root", 0o444),
        "/etc/dockyard/registry/config.yml": (uid, 0o600),
        "/var/lib/dockyard/registry": (uid, 0o750),
    }
    if fleet.registry_users:
        expected["/etc/dockyard/registry/htpasswd"] = (uid, 0o600)
        # The authenticating proxy's configuration (the hashes) and certificate file (with the key): root's.
        expected["/etc/dockyard/registry/proxy/haproxy.cfg"] = ("root", 0o640)
        expected["/etc/dockyard/registry/proxy/server.pem"] = ("root", 0o600)
    if fleet.tls is False:
        expected = {path: want for path, want in expected.items() if "/tls/" not in path}
    for path, (owner, mode) in expected.items():
        file = host.file(path)
        found = run_ok(host, "stat -c %s %s", "%u %a", path).split()
        owner_id = "0" if owner == "root" else owner
        assert found == [owner_id, oct(mode)[2:]], f"{fleet.registry}: {path} is {found}; expected {owner_id} {oct(mode)}"
        assert file.exists
    assert not host.file("/etc/dockyard/registry/http-secret").exists
    writable = run_ok(host, "find /etc/dockyard -perm -o+w").split()
    assert writable == [], f"{fleet.registry}: world-writable: {writable}"
