"""Authentication across the fleet: every Docker host is logged in with a private credentials file and pulls with it,
and a Docker client without credentials is refused, while the passwords stay on the controller. (What each account's
role allows: tests/molecule/accounts.)"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
import yaml
from conftest import local_image_id, run_ok

DOCKER_CONFIG = "/root/.docker/config.json"
REGISTRY_UID = 10001  # registry_uid: the registry's unprivileged user, which owns its files


@pytest.fixture(scope="module")
def passwords(fleet) -> dict[str, str]:
    """The registry's accounts (the scenario's registry_users), each with its password kept on the controller."""
    scenario = yaml.safe_load((Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "molecule.yml").read_text())
    users = scenario["provisioner"]["inventory"]["group_vars"]["all"]["registry_users"]
    directory = fleet.inventory.parent / "credentials"
    return {user["name"]: (directory / user["name"]).read_text().split()[0] for user in users}


@pytest.fixture(scope="module")
def secrets(fleet) -> list[str]:
    """Every secret the scenario keeps on the controller: the accounts' passwords and the CA key's passphrase."""
    return [path.read_text().split()[0] for path in sorted((fleet.inventory.parent / "credentials").iterdir())]


def test_every_docker_host_is_logged_in_with_a_private_credentials_file(fleet, docker_host):
    host = fleet.host(docker_host)
    config = host.file(DOCKER_CONFIG)
    assert (config.user, config.group, config.mode) == ("root", "root", 0o600), (
        f"{docker_host}: {DOCKER_CONFIG} is {config.user}:{config.group} {oct(config.mode)}; expected root:root 0600")
    assert host.file("/root/.docker").mode == 0o700
    logged_in = sorted(json.loads(config.content_string)["auths"])
    assert logged_in == sorted(fleet.addresses), (
        f"{docker_host}: logged in at {logged_in}; expected every registry address {sorted(fleet.addresses)}")


def test_pull_without_credentials_is_refused(fleet, pushed_image):
    host = fleet.host(fleet.puller)
    address = f"{fleet.registry}:{fleet.port}"
    reference = pushed_image.by_digest(address)
    image_id = local_image_id(host, reference)
    if image_id:
        run_ok(host, "docker image rm --force %s", image_id)
    run_ok(host, "mkdir -p /tmp/anonymous-docker-client && echo '{}' > /tmp/anonymous-docker-client/config.json")
    refused = host.run("docker --config /tmp/anonymous-docker-client pull %s", reference)
    said = (refused.stderr or refused.stdout).strip()
    assert refused.rc != 0, f"{fleet.puller}: `docker pull {reference}` without credentials succeeded"
    assert "no basic auth credentials" in said or "unauthorized" in said, (
        f"{fleet.puller}: `docker pull {reference}` without credentials failed, but not for authentication: {said}")
    # The same host with its login pulls it (the fleet tests pull through every address the same way).
    run_ok(host, "docker pull %s", reference)


ASK_V2 = """
import sys, requests
user, _, password = sys.stdin.read().rstrip("\\n").partition(":")
auth = (user, password) if user else None
print(requests.get(sys.argv[1], verify=sys.argv[2], auth=auth, timeout=30).status_code)
"""


def test_the_registry_checks_the_password_of_each_account(fleet, passwords):
    """Asked from the pulling host: anonymous and a wrong password are refused, each account's own accepted."""
    host = fleet.host(fleet.puller)
    address = f"{fleet.registry}:{fleet.port}"
    ca = f"/etc/docker/certs.d/{address}/ca.crt"

    def asked_with(account: str) -> str:
        # The account goes to the host's Python on its standard input (printf is a shell builtin): no command
        # line that ps would show carries it.
        return run_ok(host, "printf %s %s | python3 -c %s %s %s", "%s", account, ASK_V2,
                      f"https://{address}/v2/", ca).strip()

    assert asked_with("") == "401"
    assert asked_with("ci:not-the-password") == "401"
    for user, password in passwords.items():
        assert asked_with(f"{user}:{password}") == "200", f"{user}'s password was refused"


def test_no_password_is_stored_in_clear_on_the_registry_host(fleet, passwords, secrets):
    host = fleet.host(fleet.registry)
    # The authenticating proxy holds the accounts' bcrypt hashes; the registry behind it, the proxy's account alone.
    proxy = host.file("/etc/dockyard/registry/proxy/haproxy.cfg")
    assert (proxy.user, proxy.mode) == ("root", 0o640)
    # The userlist's "user <name> password <hash>" lines (not the global section's "user haproxy").
    users = [fields for fields in map(str.split, proxy.content_string.splitlines())
             if fields[:1] == ["user"] and fields[2:3] == ["password"]]
    # With metrics, the monitoring account too (its password is kept beside the CA: checked below as well).
    variables = fleet.variables(fleet.registry)
    monitoring = ([variables.get("registry_server_metrics_username", "dockyard-metrics")]
                  if variables.get("registry_server_metrics_enabled") else [])
    assert sorted(fields[1] for fields in users) == sorted([*passwords, *monitoring])
    assert all(fields[3].startswith("$2b$") for fields in users), "not every hash is bcrypt"
    htpasswd = host.file("/etc/dockyard/registry/htpasswd")
    assert (htpasswd.uid, htpasswd.mode) == (REGISTRY_UID, 0o600)
    lines = htpasswd.content_string.splitlines()
    assert [line.split(":", 1)[0] for line in lines] == ["dockyard-proxy"]
    assert all(line.split(":", 1)[1].startswith("$2b$") for line in lines), "not every hash is bcrypt"
    assert set(passwords.values()) <= set(secrets)
    if monitoring:
        secrets = [*secrets, (fleet.pki_dir / "secrets" / "metrics-password").read_text().split()[0]]
    found = run_ok(host, "grep -rlsF " + " ".join(["-e %s"] * len(secrets)) + " /etc/dockyard || true",
                   *secrets).split()
    assert found == [], f"{fleet.registry}: passwords in clear in {found}"
