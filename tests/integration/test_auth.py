"""Authentication end to end: the authenticating proxy's bcrypt hashes and roles, logged-in Docker hosts whose login
only pulls, refusals without credentials, the registry on loopback behind the proxy, no leaks.

The local inventory gives the registry two accounts whose passwords it makes on the first run and keeps in
``inventories/local/credentials/``: dockyard (pull), which this machine's Docker client is logged in with, and ci
(push).
"""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import requests
import yaml

from support import BIN, ROOT, push_credentials, run_module, run_playbook

CREDENTIALS = ROOT / "inventories" / "local" / "credentials"
CONFIG_DIR = Path("/etc/dockyard/registry")
PROXY_CONFIG = CONFIG_DIR / "proxy" / "haproxy.cfg"
LOOPBACK_PORT = 15000  # registry_server_loopback_port: registry_port + 10000
DOCKER_CONFIG = Path("/root/.docker/config.json")


@pytest.fixture(scope="module")
def accounts(registry) -> dict[str, str]:
    """The local inventory's accounts (registry_users), with the passwords it made for them."""
    users = yaml.safe_load((ROOT / "inventories" / "local" / "group_vars" / "all.yml").read_text())["registry_users"]
    return {user["name"]: (CREDENTIALS / user["name"]).read_text().split()[0] for user in users}


@pytest.fixture(scope="module")
def smoke_digest(registry, accounts) -> str:
    response = requests.head(f"{registry.url}/v2/dockyard/smoke/manifests/1", verify=str(registry.ca_path),
                             auth=("ci", accounts["ci"]), timeout=30,
                             headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"})
    assert response.status_code == 200, response.text
    return response.headers["Docker-Content-Digest"]


def test_registry_refuses_anonymous_requests_and_wrong_passwords(registry, accounts):
    v2 = f"{registry.url}/v2/"
    anonymous = requests.get(v2, verify=str(registry.ca_path), timeout=30)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"].startswith("Basic")
    assert requests.get(v2, verify=str(registry.ca_path), auth=("ci", "not-the-password"), timeout=30).status_code == 401
    for name, password in accounts.items():
        assert requests.get(v2, verify=str(registry.ca_path), auth=(name, password), timeout=30).status_code == 200


def test_the_proxy_holds_bcrypt_hashes_only_and_the_registry_one_internal_account(site_run, accounts):
    info = PROXY_CONFIG.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o640, 0)
    # The userlist's "user <name> password <hash>" lines (not the global section's "user haproxy").
    users = [fields for fields in map(str.split, PROXY_CONFIG.read_text().splitlines())
             if fields[:1] == ["user"] and fields[2:3] == ["password"]]
    assert sorted(fields[1] for fields in users) == sorted(accounts)
    assert all(fields[2] == "password" and fields[3].startswith("$2b$10$") for fields in users)
    # The registry behind the proxy knows the proxy's account alone, readable by its unprivileged user (registry_uid).
    htpasswd = CONFIG_DIR / "htpasswd"
    info = htpasswd.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid) == (0o600, 10001, 10001)
    assert [line.split(":", 1)[0] for line in htpasswd.read_text().splitlines()] == ["dockyard-proxy"]
    for password in accounts.values():
        assert password not in htpasswd.read_text() and password not in PROXY_CONFIG.read_text()


def test_the_registry_listens_on_loopback_only_and_asks_for_a_credential_there(registry, accounts):
    published = subprocess.run(["docker", "port", "dockyard-registry"], check=True, capture_output=True,
                               text=True).stdout.split()
    assert published == ["5000/tcp", "->", f"127.0.0.1:{LOOPBACK_PORT}"], published
    internal = f"http://127.0.0.1:{LOOPBACK_PORT}/v2/"
    session = requests.Session()
    session.trust_env = False
    assert session.get(internal, timeout=30).status_code == 401
    # The accounts of registry_users are the proxy's: the registry itself takes none of them.
    assert session.get(internal, auth=("ci", accounts["ci"]), timeout=30).status_code == 401


def test_docker_host_is_logged_in_with_a_private_credentials_file(registry, accounts):
    info = DOCKER_CONFIG.stat()
    assert (stat.S_IMODE(info.st_mode), info.st_uid) == (0o600, 0)
    assert stat.S_IMODE(DOCKER_CONFIG.parent.stat().st_mode) == 0o700
    assert registry.address in json.loads(DOCKER_CONFIG.read_text())["auths"]


def test_push_and_pull_need_credentials_and_the_stored_login_only_pulls(registry, daemon, image, tmp_path):
    """A Docker client without a login is refused both ways; the host's stored login (a pull account) pulls and can
    neither push nor delete; the push account pushes."""
    repository = f"{registry.address}/dockyard-test/auth"
    tag = image.tags[0].rsplit(":", 1)[1]
    refused_module = run_module("dockyard.registry.registry_image",
                                {"name": f"{repository}:{tag}", "source": image.id, "state": "pushed"})
    assert refused_module.get("failed"), refused_module
    assert "this account may only pull" in refused_module["msg"], refused_module["msg"]
    pushed = run_module("dockyard.registry.registry_image",
                        {"name": f"{repository}:{tag}", "source": image.id, "state": "pushed", **push_credentials()})
    assert pushed.get("changed") and not pushed.get("failed"), pushed
    reference = f"{repository}@{pushed['digest']}"
    daemon.images.remove(image.id, force=True)  # every tag and digest of it: the pull must reach the registry

    empty = tmp_path / "docker-config"
    empty.mkdir()
    anonymous = ["docker", "--config", str(empty)]
    refused = subprocess.run([*anonymous, "pull", reference], check=False, capture_output=True, text=True)
    assert refused.returncode != 0, refused.stdout
    assert "no basic auth credentials" in refused.stderr or "unauthorized" in refused.stderr, refused.stderr

    pulled = subprocess.run(["docker", "pull", reference], check=False, capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    subprocess.run(["docker", "tag", reference, f"{repository}:anonymous"], check=True)
    refused_push = subprocess.run([*anonymous, "push", f"{repository}:anonymous"], check=False, capture_output=True,
                                  text=True)
    assert refused_push.returncode != 0, refused_push.stdout
    assert "no basic auth credentials" in refused_push.stderr or "unauthorized" in refused_push.stderr
    stored_push = subprocess.run(["docker", "push", f"{repository}:anonymous"], check=False, capture_output=True,
                                 text=True)
    assert stored_push.returncode != 0, stored_push.stdout
    assert "denied: this account may only pull" in stored_push.stderr, stored_push.stderr
    subprocess.run(["docker", "image", "rm", f"{repository}:anonymous", reference], check=False, capture_output=True)

    stored = json.loads(DOCKER_CONFIG.read_text())["auths"][registry.address]["auth"]
    manifest = f"{registry.url}/v2/dockyard-test/auth/manifests/{pushed['digest']}"
    delete = requests.delete(manifest, verify=str(registry.ca_path), headers={"Authorization": f"Basic {stored}"},
                             timeout=30)
    assert delete.status_code == 403, delete.text
    still = requests.head(manifest, verify=str(registry.ca_path), headers={"Authorization": f"Basic {stored}"},
                          timeout=30, allow_redirects=False)
    assert (still.status_code, still.headers.get("Dockyard-Account-Role")) == (200, "pull")


def test_module_uses_the_stored_login_and_explains_a_missing_or_wrong_one(registry, smoke_digest, tmp_path):
    name = f"{registry.address}/dockyard/smoke:1"
    stored = run_module("dockyard.registry.registry_image", {"name": name, "state": "verified", "verify": "blobs"})
    assert not stored.get("failed"), stored
    assert stored["digest"] == smoke_digest

    wrong = run_module("dockyard.registry.registry_image",
                       {"name": name, "state": "verified", "pull": False, "username": "ci", "password": "Wr0ng-pass"})
    assert wrong.get("failed"), wrong
    assert "refused the credentials of user ci" in wrong["msg"]

    (tmp_path / "config.json").write_text("{}")  # a Docker client configuration without any login
    os.environ["DOCKER_CONFIG"] = str(tmp_path)  # run_module passes the environment on
    try:
        anonymous = run_module("dockyard.registry.registry_image", {"name": name, "state": "verified", "pull": False})
        probe = run_module("dockyard.registry.registry_probe", {"registry": registry.address})
    finally:
        del os.environ["DOCKER_CONFIG"]
    assert anonymous.get("failed"), anonymous
    assert f"docker login {registry.address}" in anonymous["msg"]
    assert probe["status"] == "auth_required", probe


def test_probe_sends_the_stored_login_and_names_a_refused_one(registry):
    stored = run_module("dockyard.registry.registry_probe", {"registry": registry.address})
    assert stored["status"] == "ok", stored
    assert stored["credentials"].startswith("user dockyard from the Docker login stored in")
    assert stored["login_role"] == "pull", stored
    pipeline = run_module("dockyard.registry.registry_probe", {"registry": registry.address, **push_credentials()})
    assert (pipeline["status"], pipeline["login_role"]) == ("ok", "push"), pipeline
    refused = run_module("dockyard.registry.registry_probe",
                         {"registry": registry.address, "username": "dockyard", "password": "wrong"})
    assert refused["status"] == "auth_refused", refused
    assert "log in again" in refused["remedy"]


def test_no_password_appears_in_a_converge_at_the_highest_verbosity(accounts):
    run = run_playbook("playbooks/site.yml", "-vvv")
    assert run.returncode == 0, str(run)
    assert run.changed == 0, str(run)
    leaked = [name for name, password in accounts.items() if password in run.output]
    assert leaked == [], f"the passwords of {leaked} appear in the -vvv output"


# Where a password would leak. Ansible replaces the values of no_log options wherever they appear in a result, so
# a password given as an option proves nothing by its absence there; its Basic auth form (base64 of user:password)
# is not replaced, and neither is a password the module reads itself, from a stored Docker login.


def leaks(text: str, user: str, password: str) -> list[str]:
    """The forms of ``password`` found in ``text``: as it is, and in a Basic auth header."""
    forms = {"password": password, "Basic auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    return [name for name, form in forms.items() if form in text]


@pytest.fixture
def stored_wrong_login(registry, tmp_path) -> Path:
    """A Docker client configuration whose stored login for the registry has a wrong password."""
    config = tmp_path / "docker-config"
    config.mkdir()
    auth = base64.b64encode(b"ci:Stored-Wr0ng-pass").decode()
    (config / "config.json").write_text(json.dumps({"auths": {registry.address: {"auth": auth}}}))
    return config


def raw_module_output(args: dict, tmp_path: Path, env: dict) -> str:
    """What the module itself prints, before Ansible's controller sees it."""
    arguments = tmp_path / "args.json"
    arguments.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": args}))
    run = subprocess.run([sys.executable, "-m", "ansible_collections.dockyard.registry.plugins.modules.registry_image",
                          str(arguments)], check=False, capture_output=True, text=True, timeout=120, cwd=ROOT,
                         env={**os.environ, **env, "PYTHONPATH": str(ROOT / ".collections")})
    assert run.stdout.strip().startswith("{"), run.stdout + run.stderr
    return run.stdout + run.stderr


def test_no_password_appears_in_the_modules_own_output(registry, accounts, stored_wrong_login, tmp_path):
    name = f"{registry.address}/dockyard/smoke:1"
    given = raw_module_output({"name": name, "state": "verified", "pull": False, "username": "ci",
                               "password": accounts["ci"] + "-wrong"}, tmp_path, {})
    assert "refused the credentials of user ci" in given
    assert leaks(given, "ci", accounts["ci"] + "-wrong") == []

    stored = raw_module_output({"name": name, "state": "verified", "pull": False}, tmp_path,
                               {"DOCKER_CONFIG": str(stored_wrong_login)})
    assert f"refused the credentials of user ci (the Docker login stored in {stored_wrong_login}" in stored
    assert leaks(stored, "ci", "Stored-Wr0ng-pass") == []


def test_no_password_appears_in_a_tasks_output_at_the_highest_verbosity(
        registry, accounts, stored_wrong_login, tmp_path):
    name = f"{registry.address}/dockyard/smoke:1"
    playbook = tmp_path / "verify.yml"
    playbook.write_text(json.dumps([{
        "name": "Verify with given and with stored credentials", "hosts": "dockyard-local", "gather_facts": False,
        "tasks": [
            {"name": "Verify with a given password", "ignore_errors": True,
             "dockyard.registry.registry_image": {"name": name, "state": "verified", "pull": False,
                                                  "username": "ci", "password": accounts["ci"] + "-wrong"}},
            {"name": "Verify with the right given password", "dockyard.registry.registry_image": {
                "name": name, "state": "verified", "verify": "blobs", "pull": False, "username": "ci",
                "password": accounts["ci"]}},
            {"name": "Verify with a stored login", "ignore_errors": True,
             "environment": {"DOCKER_CONFIG": str(stored_wrong_login)},
             "dockyard.registry.registry_image": {"name": name, "state": "verified", "pull": False}},
        ],
    }]))
    run = subprocess.run([str(BIN / "ansible-playbook"), "-vvv", "-i", str(ROOT / "inventories/local/hosts.yml"),
                          str(playbook)], check=False, capture_output=True, text=True, timeout=300, cwd=ROOT,
                         env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")})
    output = run.stdout + run.stderr
    assert run.returncode == 0, output[-4000:]
    assert output.count("refused the credentials of user ci") >= 2, output[-4000:]
    assert leaks(output, "ci", accounts["ci"] + "-wrong") == []
    assert leaks(output, "ci", accounts["ci"]) == []
    assert leaks(output, "ci", "Stored-Wr0ng-pass") == []
