"""The accounts' roles, enforced by the registry host's authenticating proxy (through the load balancer where there is
one): a plain Docker host's stored login pulls and can neither push nor delete; a pipeline's push account pushes; a push
account limited to a prefix pushes under it only; a host without a credential is asked for one. Asked from the
pulling host, over TLS verified with the CA that registry_trust installed there."""

from __future__ import annotations

import base64
import json
import uuid

import pytest
from conftest import local_image_id, push_new_image, run_ok

DOCKER_CONFIG = "/root/.docker/config.json"

# Sends one request from a Docker host and prints the status and the proxy's Dockyard-Account-Role header. The account
# comes on standard input (never on a command line): empty for none, "stored" for the host's stored Docker login.
REQUEST = """
import base64, json, sys, requests
method, url, ca, address = sys.argv[1:5]
account = sys.stdin.read().rstrip("\\n")
headers = {}
if account == "stored":
    with open("/root/.docker/config.json") as config:
        headers["Authorization"] = "Basic " + json.load(config)["auths"][address]["auth"]
elif account:
    headers["Authorization"] = "Basic " + base64.b64encode(account.encode()).decode()
response = requests.request(method, url, verify=ca, headers=headers, timeout=30, allow_redirects=False)
print(response.status_code, response.headers.get("Dockyard-Account-Role", "-"))
"""


@pytest.fixture(scope="module", autouse=True)
def _accounts(fleet):
    if not fleet.registry_users:
        pytest.skip("an open registry (registry_allow_anonymous) has no accounts")


def ask(fleet, method: str, path: str, account: str | tuple[str, str] | None) -> tuple[int, str]:
    """(status, role header) of ``method`` on ``/v2/<path>`` from the pulling host, as ``account``: None, "stored" (the
    host's Docker login), or (name, password)."""
    host = fleet.host(fleet.puller)
    address = fleet.address
    given = "" if account is None else account if account == "stored" else ":".join(account)
    said = run_ok(host, "printf %s %s | python3 -c %s %s %s %s %s", "%s", given, REQUEST, method,
                  f"https://{address}/v2/{path}", f"/etc/docker/certs.d/{address}/ca.crt", address).split()
    return int(said[0]), said[1]


def base64_user(auth: str) -> str:
    """The account name of a stored Docker login (``auth``: base64 of name:password)."""
    return base64.b64decode(auth).decode().split(":", 1)[0]


def test_the_stored_login_of_every_docker_host_is_a_pull_account(fleet, docker_host):
    config = json.loads(fleet.host(docker_host).file(DOCKER_CONFIG).content_string)
    pull_accounts = [name for name, _password in fleet.accounts("pull")]
    stored = {address: base64_user(entry["auth"]) for address, entry in config["auths"].items()}
    assert stored and all(name in pull_accounts for name in stored.values()), (
        f"{docker_host}: stored logins {stored}; expected pull accounts only ({pull_accounts})")


def test_a_host_without_a_credential_is_asked_for_one(fleet, pushed_image):
    manifest = f"{pushed_image.repository}/manifests/{pushed_image.digest}"
    assert ask(fleet, "GET", "", None) == (401, "-")
    assert ask(fleet, "GET", manifest, None)[0] == 401
    assert ask(fleet, "DELETE", manifest, None)[0] == 401
    assert ask(fleet, "GET", "", ("ci-or-anyone", "not-the-password"))[0] == 401


def test_a_plain_nodes_stored_login_pulls_but_can_neither_push_nor_delete(fleet, pushed_image):
    manifest = f"{pushed_image.repository}/manifests/{pushed_image.digest}"
    assert ask(fleet, "GET", "", "stored") == (200, "pull")
    assert ask(fleet, "HEAD", manifest, "stored")[0] == 200
    assert ask(fleet, "DELETE", manifest, "stored")[0] == 403
    assert ask(fleet, "POST", f"{pushed_image.repository}/blobs/uploads/", "stored")[0] == 403
    assert ask(fleet, "PUT", f"{pushed_image.repository}/manifests/refused", "stored")[0] == 403
    # Still there, and the Docker client with the host's login is refused a push too.
    assert ask(fleet, "HEAD", manifest, "stored")[0] == 200
    host = fleet.host(fleet.puller)
    reference = pushed_image.by_digest(fleet.address)
    if not local_image_id(host, reference):
        run_ok(host, "docker pull %s", reference)
    target = f"{fleet.address}/{pushed_image.repository}:pushed-with-the-stored-login"
    run_ok(host, "docker tag %s %s", reference, target)
    refused = host.run("docker push %s", target)
    said = (refused.stderr or refused.stdout).strip()
    assert refused.rc != 0, f"{fleet.puller}: `docker push {target}` with the stored login succeeded"
    assert "denied" in said, said
    assert ask(fleet, "HEAD", f"{pushed_image.repository}/manifests/pushed-with-the-stored-login", "stored")[0] == 404


def test_a_pipelines_push_account_pushes_and_may_delete(fleet, pushed_image):
    account = fleet.push_account
    # pushed_image was pushed with it; an upload it starts is accepted, and a DELETE of an unknown digest reaches the
    # registry (404 there, where a pull account gets 403 from the proxy).
    assert ask(fleet, "GET", "", account) == (200, "push")
    assert ask(fleet, "POST", f"{pushed_image.repository}/blobs/uploads/", account)[0] == 202
    assert ask(fleet, "DELETE", f"{pushed_image.repository}/manifests/sha256:{'0' * 64}", account)[0] == 404


def push_as(fleet, account: tuple[str, str], repository: str) -> dict:
    """An image of its own built on the pusher and pushed to ``repository`` with ``account``."""
    tag = uuid.uuid4().hex[:12]
    return push_new_image(fleet, repository, tag, f"{repository} {tag}\n", account)


def test_a_push_account_limited_to_a_prefix_pushes_under_it_only(fleet):
    limited = fleet.accounts("push", limited=True)
    if not limited:
        pytest.skip("the scenario has no push account limited to repositories")
    account = limited[0]
    inside = push_as(fleet, account, "team-a/app")
    assert str(inside.get("digest", "")).startswith("sha256:"), inside
    outside = push_as(fleet, account, "dockyard/not-team-a")
    assert "digest" not in outside, f"{account[0]} pushed outside team-a/*: {outside}"
    assert "denied: this account may push only to team-a/*" in outside.get("msg", ""), outside
    assert ask(fleet, "GET", "", account) == (200, "push")
    assert ask(fleet, "POST", "dockyard/not-team-a/blobs/uploads/", account)[0] == 403
    assert ask(fleet, "POST", "team-a/app/blobs/uploads/", account)[0] == 202
    # A path with dot segments that would leave the prefix is refused too (whether the client or the proxy reads them).
    assert ask(fleet, "POST", "team-a/../dockyard/x/blobs/uploads/", account)[0] == 403
