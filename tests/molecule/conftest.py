"""Shared by the testinfra suites of the molecule scenarios (``molecule verify`` runs them).

The fleet is what molecule's inventory says (``MOLECULE_INVENTORY_FILE``): commands run in each host through
testinfra's ansible backend (``docker exec`` into the host's container, where the host's own dockerd answers),
modules through ``ansible``. What the tests expect is worked out independently of the roles: the registry's
addresses from the inventory and from this machine's Docker daemon, the CA from the controller's PKI directory.

``DOCKYARD_MOLECULE_WRONG_CA=1`` swaps a CA of the same name but another key into every certs.d entry of the
pulling host for the whole session (and puts the real one back at the end). The trust tests run the pull tests
that way to prove that they fail, and say where, when trust is broken.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import functools
import json
import os
import re
import shlex
import subprocess
import uuid
from pathlib import Path

import pytest
import testinfra
from testinfra.utils.ansible_runner import AnsibleRunner
from x509_certificates import registry_ca  # tests/conftest.py puts tests/ on the path

SCENARIO = os.environ.get("MOLECULE_SCENARIO_NAME", "")
INVENTORY_FILE = os.environ.get("MOLECULE_INVENTORY_FILE", "")
WRONG_CA = os.environ.get("DOCKYARD_MOLECULE_WRONG_CA") == "1"
CERTS_D = "/etc/docker/certs.d"
CONTAINERD_HOSTS_DIR = "/etc/containerd/certs.d"
UNKNOWN_AUTHORITY = "x509: certificate signed by unknown authority"
TEST_REPOSITORY = "dockyard/fleet-test"


@dataclasses.dataclass(frozen=True)
class PushedImage:
    """An image built on one host and pushed with the registry_image module."""

    pusher: str
    repository: str  # inside the registry, e.g. dockyard/fleet-test
    tag: str
    digest: str  # what the module returned

    def by_digest(self, address: str) -> str:
        return f"{address}/{self.repository}@{self.digest}"


class Fleet:
    """The scenario's hosts, as molecule's inventory and this machine's Docker daemon describe them."""

    def __init__(self, inventory_file: str) -> None:
        self.inventory = Path(inventory_file).parent  # the directory: host_vars and group_vars are beside the file
        self.runner = AnsibleRunner(str(self.inventory))
        self._hosts: dict = {}
        self._variables: dict[str, dict] = {}

    def group(self, name: str) -> list[str]:
        return self.runner.get_hosts(name)

    def host(self, name: str):
        if name not in self._hosts:
            self._hosts[name] = testinfra.get_host(f"ansible://{name}?ansible_inventory={self.inventory}")
        return self._hosts[name]

    def variables(self, name: str) -> dict:
        if name not in self._variables:
            self._variables[name] = self.runner.get_variables(name)
        return self._variables[name]

    @functools.cached_property
    def registry(self) -> str:
        return self.group("registry")[0]

    @functools.cached_property
    def port(self) -> int:
        return int(self.variables(self.registry).get("registry_port", 5000))

    @functools.cached_property
    def trust_mode(self) -> str:
        return self.variables(self.registry).get("registry_trust_mode", "ca")

    @functools.cached_property
    def tls(self) -> bool:
        return bool(self.variables(self.registry).get("registry_tls", True))

    @functools.cached_property
    def docker_hosts(self) -> list[str]:
        """The hosts of docker_hosts that run Docker (a scenario's containerd and Podman hosts run none)."""
        others = set(self.group("containerd_hosts")) | set(self.group("podman_hosts"))
        return [name for name in self.group("docker_hosts") if name not in others]

    @functools.cached_property
    def pusher(self) -> str:
        """node1 of the fleet: the first Docker host that is not the registry, where there are two."""
        others = [name for name in self.docker_hosts if name != self.registry]
        return others[0] if len(others) > 1 else self.registry

    @functools.cached_property
    def puller(self) -> str:
        """node2 of the fleet: the last Docker host that is not the registry."""
        others = [name for name in self.docker_hosts if name != self.registry]
        return others[-1] if others else self.registry

    def container(self, name: str) -> str:
        """The host's container on this machine's daemon (named by ansible_host, unless a scenario reached over SSH
        gives ansible_host an address and the name apart)."""
        variables = self.variables(name)
        return variables.get("dockyard_molecule_container") or variables.get("ansible_host", name)

    def known_as(self, name: str) -> str:
        """The name or address the inventory gives the host (ansible_host), which its certificate names."""
        return self.variables(name).get("ansible_host", name)

    def account(self, name: str) -> tuple[str, str]:
        """A registry account of the scenario, as (name, password), the password read where converge kept it: the
        scenario's credentials directory, or where the collection keeps those it makes (<pki>/secrets)."""
        for path in (self.inventory.parent / "credentials" / name, self.pki_dir / "secrets" / f"registry-account-{name}"):
            if path.is_file():
                return name, path.read_text().split()[0]
        raise FileNotFoundError(f"no password kept on the controller for the registry account {name}")

    @functools.cached_property
    def registry_users(self) -> list[dict]:
        """The registry's accounts without their passwords (name, role, repositories): the scenario's registry_users,
        or the two the collection makes by default; none for an open registry."""
        variables = self.variables(self.registry)
        users = variables.get("registry_users") or []
        if users:
            return [{key: value for key, value in user.items() if key != "password"} for user in users]
        if variables.get("registry_allow_anonymous"):
            return []
        return [{"name": "dockyard", "role": "push"}, {"name": "dockyard-pull", "role": "pull"}]

    def accounts(self, role: str, limited: bool | None = None) -> list[tuple[str, str]]:
        """The accounts of ``role``, as (name, password); ``limited`` True or False keeps only push accounts limited to
        repositories, or only those that are not."""
        return [self.account(user["name"]) for user in self.registry_users if user.get("role") == role
                and (limited is None or bool(user.get("repositories")) == limited)]

    @functools.cached_property
    def push_account(self) -> tuple[str, str] | None:
        """The pipeline's account the tests push with (the Docker hosts' stored logins only pull); None for an open
        registry."""
        accounts = self.accounts("push", limited=False)
        return accounts[0] if accounts else None

    def ips(self, name: str) -> list[str]:
        """The host's addresses on the scenario's networks, from this machine's daemon."""
        networks = json.loads(_local("docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}",
                                     self.container(name)))
        return [network["IPAddress"] for network in networks.values() if network.get("IPAddress")]

    @functools.cached_property
    def registry_ips(self) -> list[str]:
        """The registry host's addresses on the scenario's networks."""
        return self.ips(self.registry)

    @functools.cached_property
    def balancers(self) -> list[str]:
        """The load balancers in front of the registry replicas (the group registry_lb), if any."""
        return self.group("registry_lb")

    @functools.cached_property
    def addresses(self) -> list[str]:
        """Every address clients may write in an image reference: host name, ansible_host (the container's name, or
        its address), IPs, aliases; behind load balancers, each load balancer's host name, ansible_host and IPs, and
        the aliases."""
        if self.balancers:
            names = [name for balancer in self.balancers
                     for name in (balancer, self.known_as(balancer), *self.ips(balancer))]
        else:
            names = [self.registry, self.known_as(self.registry), *self.registry_ips]
        names += self.variables(self.registry).get("registry_names", [])
        return list(dict.fromkeys(f"{name}:{self.port}" for name in names))

    @property
    def address(self) -> str:
        """The first of ``addresses``: the registry's host name, or the first load balancer's."""
        return self.addresses[0]

    @functools.cached_property
    def pki_dir(self) -> Path:
        return self.inventory.parent / "pki"

    @functools.cached_property
    def ca_pem(self) -> bytes:
        return (self.pki_dir / "ca.crt").read_bytes()

    def ansible_playbook(self, playbook: Path, timeout: int = 900, inventory: Path | None = None,
                         extra_vars: dict | None = None, limit: str | None = None) -> subprocess.CompletedProcess:
        """``playbook`` on the scenario's inventory (or ``inventory``), with ``extra_vars`` as JSON, on ``limit``."""
        extra = ["--extra-vars", json.dumps(extra_vars)] if extra_vars else []
        extra += ["--limit", limit] if limit else []
        return subprocess.run(["ansible-playbook", "-i", str(inventory or self.inventory), *extra, str(playbook)],
                              check=False, capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})


def _local(*args: str) -> str:
    return subprocess.run(args, check=True, capture_output=True, text=True).stdout


def run_ok(host, command: str, *args: str) -> str:
    """Run ``command`` (testinfra quotes ``args``) on ``host``; fail with what it printed when it fails."""
    result = host.run(command, *args)
    if result.rc != 0:
        command_line = result.command.decode() if isinstance(result.command, bytes) else result.command
        said = (result.stderr or result.stdout).strip()
        pytest.fail(f"{host.backend.host}: `{command_line}` exited {result.rc}: {said}", pytrace=False)
    return result.stdout


def write_file(host, path: str, content: bytes, mode: str = "0444") -> None:
    encoded = base64.b64encode(content).decode()
    run_ok(host, f"echo {encoded} | base64 -d > {shlex.quote(path)} && chmod {mode} {shlex.quote(path)}")


def ca_path(address: str) -> str:
    return f"{CERTS_D}/{address}/ca.crt"


@contextlib.contextmanager
def moved_away(host, path: str):
    """``path`` moved aside for the block, and always put back."""
    aside = f"/root/dockyard-molecule-{uuid.uuid4().hex}"
    run_ok(host, "mv %s %s", path, aside)
    try:
        yield
    finally:
        run_ok(host, "mv %s %s", aside, path)


def ctr_pull(host, reference: str, account: tuple[str, str] | None = None):
    """containerd's own client, with the hosts directory the CRI plugin reads; containerd keeps no login, so an
    ``account`` goes on the command line."""
    user = ["--user", ":".join(account)] if account else []
    return host.run("ctr images pull --hosts-dir %s --snapshotter native" + " %s" * len(user) + " %s",
                    CONTAINERD_HOSTS_DIR, *user, reference)


def podman_pull(host, reference: str):
    """Podman with what registry_trust wrote for it (certs.d, the registries.conf drop-in, auth.json)."""
    return host.run("podman --storage-driver vfs --cgroup-manager cgroupfs pull %s", reference)


def assert_podman_pulls_by_digest(host, reference: str, digest: str) -> None:
    """Podman pulls ``reference`` (its local copy removed first) and records ``digest`` for it."""
    host.run("podman --storage-driver vfs rmi --force %s", reference)
    result = podman_pull(host, reference)
    assert result.rc == 0, f"podman: podman pull {reference} failed: {result.stderr or result.stdout}"
    pulled = run_ok(host, "podman --storage-driver vfs image inspect --format %s %s", "{{.Digest}}", reference).strip()
    assert pulled == digest


@contextlib.contextmanager
def swapped_ca(host, address: str, replacement: bytes | None):
    """certs.d's CA for ``address`` moved away (``replacement`` None) or replaced, and always put back."""
    path = ca_path(address)
    backup = f"/root/dockyard-molecule-{uuid.uuid4().hex}.ca.crt"  # swaps may nest (the trust tests' own runs)
    run_ok(host, "mv %s %s", path, backup)
    try:
        if replacement is not None:
            write_file(host, path, replacement)
        yield
    finally:
        run_ok(host, "mv -f %s %s", backup, path)


def wrong_ca_pem() -> bytes:
    """A CA with the real one's name and constraints, and another key: only the signature tells them apart."""
    return registry_ca("dockyard registry CA").pem


def pull(host, reference: str):
    return host.run("docker pull %s", reference)


def local_image_id(host, reference: str) -> str | None:
    result = host.run("docker image inspect --format %s %s", "{{.Id}}", reference)
    return result.stdout.strip() if result.rc == 0 else None


def repo_digests(host, reference: str) -> list[str]:
    return json.loads(run_ok(host, "docker image inspect --format %s %s", "{{json .RepoDigests}}", reference))


def assert_pulls_by_digest(fleet: Fleet, name: str, address: str, image: PushedImage) -> None:
    """``name`` pulls ``image`` by digest through ``address`` (its local copy removed first), and the
    daemon records the module's digest for it. The message names the host, the address and the daemon's words."""
    host = fleet.host(name)
    reference = image.by_digest(address)
    image_id = local_image_id(host, reference)
    if image_id:
        run_ok(host, "docker image rm --force %s", image_id)
    result = pull(host, reference)
    if result.rc != 0:
        pytest.fail(f"{name}: `docker pull {reference}` through {address} failed (exit {result.rc}); "
                    f"the daemon said: {(result.stderr or result.stdout).strip()}", pytrace=False)
    digests = repo_digests(host, reference)
    if reference not in digests:
        pytest.fail(f"{name}: after pulling through {address}, RepoDigests are {digests}; "
                    f"expected {reference} (the digest registry_image returned on {image.pusher})", pytrace=False)


def push_options(fleet: Fleet, account: tuple[str, str] | None = None) -> dict[str, str]:
    """registry_image's username and password of ``account``, by default the fleet's push account (a Docker host's
    stored login only pulls); none for an open registry."""
    account = account or fleet.push_account
    return {"username": account[0], "password": account[1]} if account else {}


def push_new_image(fleet: Fleet, repository: str, tag: str, text: str, account: tuple[str, str] | None = None) -> dict:
    """registry_image's result for an image built on the pusher FROM scratch with a file of ``text`` (nothing pulled),
    tagged ``repository:tag`` there and pushed as such through ``fleet.address`` with ``account`` (by default the
    fleet's push account)."""
    host = fleet.host(fleet.pusher)
    context = f"/tmp/dockyard-molecule-{uuid.uuid4().hex[:12]}"
    run_ok(host, "mkdir -p %s", context)
    write_file(host, f"{context}/Dockerfile", b"FROM scratch\nCOPY payload.txt /payload.txt\n", "0644")
    write_file(host, f"{context}/payload.txt", text.encode(), "0644")
    run_ok(host, "docker build --quiet --tag %s %s", f"{repository}:{tag}", context)
    arguments = {"name": f"{fleet.address}/{repository}:{tag}", "source": f"{repository}:{tag}", "state": "pushed",
                 **push_options(fleet, account)}
    return host.ansible("dockyard.registry.registry_image", json.dumps(arguments), check=False)


# A tag as backup.json lists it: <repository>:<tag>@<digest>.
BACKED_UP_TAG = re.compile(r"^(?P<repository>.+):(?P<tag>[^:/@]+)@(?P<digest>sha256:[0-9a-f]{64})$")


def recap_changed(run: subprocess.CompletedProcess) -> dict[str, int]:
    """Each host's changed count in the run's PLAY RECAP."""
    return {match[1]: int(match[2]) for match in re.finditer(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)", run.stdout, re.MULTILINE)}


def backed_up_images(backup: Path) -> list[PushedImage]:
    """Every tag the backup.json of the backup's directory lists, as an image to pull by digest."""
    images = json.loads((backup / "backup.json").read_text())["images"]
    return [PushedImage("backup", match["repository"], match["tag"], match["digest"])
            for match in map(BACKED_UP_TAG.match, images) if match]


def pullable(images: list[PushedImage]) -> list[PushedImage]:
    """Those a Docker daemon pulls: not cosign's signatures and attestations, which are artifacts."""
    return [image for image in images if not re.fullmatch(r"sha256-[0-9a-f]{64}\.(sig|att|sbom)", image.tag)]


def _fleet_or_none() -> Fleet | None:
    return _session_fleet() if INVENTORY_FILE else None


@functools.cache
def _session_fleet() -> Fleet:
    return Fleet(INVENTORY_FILE)


def pytest_generate_tests(metafunc):
    fleet = _fleet_or_none()
    if "address" in metafunc.fixturenames:
        metafunc.parametrize("address", fleet.addresses if fleet else ["no-fleet"])
    if "docker_host" in metafunc.fixturenames:
        metafunc.parametrize("docker_host", fleet.docker_hosts if fleet else ["no-fleet"])
    if "any_host" in metafunc.fixturenames:
        metafunc.parametrize("any_host", fleet.group("all") if fleet else ["no-fleet"])


def pytest_collection_modifyitems(config, items):
    if not INVENTORY_FILE:
        skip = pytest.mark.skip(reason="needs a molecule scenario: `molecule verify -s <scenario>`, `make molecule`")
        for item in items:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def fleet() -> Fleet:
    return _session_fleet()


@pytest.fixture(scope="session", autouse=True)
def _wrong_ca_on_the_puller(request):
    """With DOCKYARD_MOLECULE_WRONG_CA=1: the puller trusts a wrong CA for every address, for the session."""
    if not (WRONG_CA and INVENTORY_FILE):
        yield
        return
    fleet = request.getfixturevalue("fleet")
    host = fleet.host(fleet.puller)
    wrong = wrong_ca_pem()
    with contextlib.ExitStack() as stack:
        for address in fleet.addresses:
            stack.enter_context(swapped_ca(host, address, wrong))
        yield


@pytest.fixture(scope="session")
def pushed_image(fleet) -> PushedImage:
    """An image built on the pusher FROM scratch (nothing pulled), with content of its own so that its digest
    is new to the registry, pushed by the registry_image module through the registry's host name (or the load
    balancer's) with the pipeline's push account."""
    tag = uuid.uuid4().hex[:12]
    local, address = f"{TEST_REPOSITORY}:{tag}", fleet.address
    result = push_new_image(fleet, TEST_REPOSITORY, tag, f"dockyard molecule {SCENARIO} {tag}\n")
    assert result.get("changed") is True, f"{fleet.pusher}: pushing {local} to {address} changed nothing: {result}"
    assert str(result.get("digest", "")).startswith("sha256:"), f"{fleet.pusher}: no digest from the push: {result}"
    return PushedImage(fleet.pusher, TEST_REPOSITORY, tag, result["digest"])
