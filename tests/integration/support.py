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
import subprocess
import sys
import tarfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
LOCAL_INVENTORY = ROOT / "inventories" / "local" / "hosts.yml"
CERTS_D = Path("/etc/docker/certs.d")

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
               inventory: Path | str = LOCAL_INVENTORY) -> dict:
    """Run one module ad hoc on ``host`` and return its result (``failed``/``msg`` included)."""
    command = [str(BIN / "ansible"), host, "-i", str(inventory), "-m", module, "-a", json.dumps(args), *extra]
    run_env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_LOAD_CALLBACK_PLUGINS": "1",
               "ANSIBLE_STDOUT_CALLBACK": "ansible.posix.json"}
    proc = subprocess.run(command, check=False, cwd=ROOT, env=run_env, capture_output=True, text=True)
    try:
        report = json.loads(proc.stdout)
    except json.JSONDecodeError:
        raise AssertionError(f"{' '.join(command)} printed no JSON:\n{proc.stdout}\n{proc.stderr}") from None
    return report["plays"][0]["tasks"][0]["hosts"][host]


@dataclasses.dataclass(frozen=True)
class Registry:
    address: str  # host:port as clients write it in image references

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
