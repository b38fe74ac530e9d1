"""Helpers for the integration suite: run playbooks and modules, describe the registry under test.

The registry is the one ``playbooks/site.yml`` deploys on the local inventory, reached at this
machine's default IPv4 address (never loopback: Docker skips TLS checks for 127.0.0.0/8).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import re
import signal
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCAL_INVENTORY = ROOT / "inventories" / "local" / "hosts.yml"
CERTS_D = Path("/etc/docker/certs.d")
# The passphrase of the CA key of every inventory a test writes (the collection keeps the key encrypted).
CA_PASSPHRASE = "dockyard test CA passphrase"

RECAP_LINE = re.compile(
    r"^(?P<host>\S+)\s+:\s+ok=(?P<ok>\d+)\s+changed=(?P<changed>\d+)\s+unreachable=(?P<unreachable>\d+)"
    r"\s+failed=(?P<failed>\d+)",
    re.MULTILINE,
)


def default_ipv4() -> str:
    """The address of the interface that carries the default route (asks the kernel, sends nothing)."""
    routes = json.loads(subprocess.run(["ip", "-j", "-4", "route", "show", "default"],
                                       check=True, capture_output=True, text=True).stdout)
    device = routes[0]["dev"]
    addrs = json.loads(subprocess.run(["ip", "-j", "-4", "addr", "show", "dev", device],
                                      check=True, capture_output=True, text=True).stdout)
    return addrs[0]["addr_info"][0]["local"]


@dataclasses.dataclass
class PlaybookRun:
    args: list[str]
    returncode: int
    output: str

    @property
    def recap(self) -> dict[str, dict[str, int]]:
        return {
            m["host"]: {k: int(m[k]) for k in ("ok", "changed", "unreachable", "failed")}
            for m in RECAP_LINE.finditer(self.output)
        }

    @property
    def changed(self) -> int:
        return sum(host["changed"] for host in self.recap.values())

    def __str__(self) -> str:  # what pytest shows when an assertion on a run fails
        return f"$ {' '.join(self.args)}\n(exit {self.returncode})\n{self.output[-6000:]}"


def run_playbook(playbook: str, *extra: str, inventory: Path | str = LOCAL_INVENTORY,
                 extra_vars: dict | None = None, env: dict | None = None) -> PlaybookRun:
    args = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / playbook), *extra]
    if extra_vars:
        args += ["-e", json.dumps(extra_vars)]
    run_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_FORCE_COLOR": "0",
               "ANSIBLE_NOCOLOR": "1", **(env or {})}
    proc = subprocess.run(args, check=False, cwd=ROOT, env=run_env, capture_output=True, text=True)
    return PlaybookRun(args, proc.returncode, proc.stdout + proc.stderr)


def run_module(module: str, args: dict, *extra: str, host: str = "dockyard-local",
               inventory: Path | str = LOCAL_INVENTORY, timeout: float | None = None) -> dict:
    """Run one module ad hoc on ``host`` and return its result (``failed``/``msg`` included).

    A run that takes longer than ``timeout`` seconds fails the test: the module hung.
    """
    command = [str(BIN / "ansible"), host, "-i", str(inventory), "-m", module, "-a", json.dumps(args), *extra]
    run_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
               "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    try:
        proc = subprocess.run(command, check=False, cwd=ROOT, env=run_env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"{module} was still running after {timeout} seconds: it hung") from None
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{' '.join(command)} printed no JSON:\n{proc.stdout}\n{proc.stderr}") from None
    return report["plays"][0]["tasks"][0]["hosts"][host]


# The passwords inventories/local makes on its first run (its registry_users), one file per account.
LOCAL_CREDENTIALS = ROOT / "inventories" / "local" / "credentials"


def local_account(name: str = "ci") -> tuple[str, str] | None:
    """An account of the local inventory's registries, as (name, password), once a run has made it."""
    path = LOCAL_CREDENTIALS / name
    return (name, path.read_text().split()[0]) if path.is_file() else None


def stop_proxy(container: str) -> None:
    """Stop the authenticating proxy a test's registry (``registry_server_container_name`` ``container``) runs on this
    machine, by its supervisor's pid file: the supervisor stops HAProxy on its way out."""
    pidfile = Path("/run/dockyard") / f"{container}-proxy.supervisor.pid"
    try:
        os.kill(int(pidfile.read_text().strip()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


def push_credentials() -> dict[str, str]:
    """The module options of the local inventory's push account (ci): the Docker hosts' stored login (dockyard) only
    pulls. Empty before a run has made the account."""
    account = local_account("ci")
    return dict(zip(("username", "password"), account, strict=True)) if account else {}


@dataclasses.dataclass(frozen=True)
class Registry:
    address: str  # host:port as clients write it in image references

    @property
    def auth(self) -> tuple[str, str] | None:
        """The account tests use for their own registry API requests (requests' ``auth``)."""
        return local_account()

    @property
    def ca_path(self) -> Path:
        return CERTS_D / self.address / "ca.crt"

    @property
    def url(self) -> str:
        return f"https://{self.address}"


def scratch_context(marker: str) -> io.BytesIO:
    """An in-memory build context: a Dockerfile that copies one file of content ``marker`` into an empty image."""
    files = {"Dockerfile": b"FROM scratch\nCOPY marker.txt /marker.txt\n", "marker.txt": marker.encode()}
    archive = io.BytesIO()
    with tarfile.open(fileobj=archive, mode="w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    archive.seek(0)
    return archive


@dataclasses.dataclass
class IsolatedSite:
    """A registry of a test's own, deployed by the collection's playbooks beside the shared site registry.

    Its own port, container, directories and controller PKI, so a test may renew, roll over or collect
    garbage without disturbing the registry the rest of the suite uses. ``remove()`` takes it all away,
    certs.d entries for its port included.
    """

    root: Path
    port: int
    name: str

    @property
    def extra_vars(self) -> dict:
        return {
            "registry_port": self.port,
            "registry_server_container_name": self.name,
            "registry_server_config_dir": str(self.root / "etc"),
            "registry_server_tls_dir": str(self.root / "etc" / "tls"),
            "registry_pki_server_dir": str(self.root / "etc" / "tls"),
            "registry_server_data_dir": str(self.root / "data"),
            "registry_pki_dir": str(self.root / "pki"),
            "registry_pki_ca_passphrase": CA_PASSPHRASE,
        }

    def run(self, playbook: str = "playbooks/site.yml", *extra: str, extra_vars: dict | None = None,
            **kwargs) -> PlaybookRun:
        return run_playbook(playbook, *extra, extra_vars={**self.extra_vars, **(extra_vars or {})}, **kwargs)

    def remove(self) -> None:
        subprocess.run(["docker", "rm", "--force", self.name], check=False, capture_output=True)
        stop_proxy(self.name)
        if CERTS_D.is_dir():
            for entry in CERTS_D.glob(f"*:{self.port}"):
                subprocess.run(["docker", "logout", entry.name], check=False, capture_output=True)
                for child in entry.iterdir():
                    child.unlink()
                entry.rmdir()
