# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the file operations a runtime's trust plan is made of.

A planner reads what it needs through a :class:`Filesystem` (the host's, or a directory standing for its root in
tests) and returns a :class:`Plan`: every file and directory as it must be, each with what is there now, the
warnings, what it found, and whether containerd must restart. Planning writes nothing, so check mode is the plan
alone. :func:`apply` hands each operation that changes something to a writer, a :class:`Writer` on the module
run's ``_files.Files`` (the registry_trust module's and the tests' alike), then calls the restarter when the plan
needs one, and returns what changed for ``changed`` and ``diff`` (credentials redacted).
"""

from __future__ import annotations

import dataclasses
import os
import stat

from ansible_collections.dockyard.registry.plugins.module_utils import _users
from ansible_collections.dockyard.registry.plugins.module_utils._files import redact
from ansible_collections.dockyard.registry.plugins.module_utils._names import address_problem

# The first line of every file the collection writes whole (hosts.toml, registries.conf drop-ins): a file that
# lacks it was written by someone else, and is not removed.
MARKER = "# Managed by dockyard.registry"

FILE = "file"
DIRECTORY = "directory"
ABSENT = "absent"

DEFAULT_FILE_MODE = 0o644  # a file operation without a mode of its own

TRUST_MODES = ("ca", "insecure")
STATES = ("present", "absent")


class RuntimeConfigError(ValueError):
    """A runtime's file cannot be read or changed safely; the message names the file (and line) and the fix.

    Raised while planning, so nothing has been changed on the host.
    """


@dataclasses.dataclass(frozen=True)
class Current:
    """What a path holds now: a file's bytes (None for a directory), its permission bits and owner."""

    content: bytes | None
    mode: int
    uid: int
    gid: int
    is_dir: bool = False


class Filesystem:
    """Reads the host's files below ``root`` (``/`` on a host; a temporary directory in tests).

    Paths given to it and kept in operations are the host's own (``/etc/containerd/config.toml``); only the
    access goes through ``root``. Symbolic links are followed, as the runtimes follow them.
    """

    def __init__(self, root: str = "/") -> None:
        self.root = root

    def real(self, path: str) -> str:
        """The path to open on this machine for the host path ``path``."""
        if not os.path.isabs(path):
            raise ValueError(f"{path} is not an absolute path")
        return os.path.join(self.root, path.lstrip("/")) if self.root not in ("", "/") else path

    def current(self, path: str) -> Current | None:
        real = self.real(path)
        try:
            info = os.stat(real)
        except FileNotFoundError:
            return None
        if stat.S_ISDIR(info.st_mode):
            return Current(None, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid, is_dir=True)
        with open(real, "rb") as handle:
            content = handle.read()
        return Current(content, stat.S_IMODE(info.st_mode), info.st_uid, info.st_gid)

    def read(self, path: str) -> bytes | None:
        """A file's bytes, or None where there is no file."""
        found = self.current(path)
        if found is None:
            return None
        if found.is_dir:
            raise RuntimeConfigError(f"{path} is a directory where a file is expected")
        return found.content

    def listdir(self, path: str) -> list[str]:
        try:
            return sorted(os.listdir(self.real(path)))
        except (FileNotFoundError, NotADirectoryError):
            return []

    def exists(self, path: str) -> bool:
        return os.path.exists(self.real(path))


@dataclasses.dataclass
class Operation:
    """One path as a plan wants it: a file with ``content``, a directory, or nothing (``absent``)."""

    path: str
    state: str
    content: bytes | None = None
    mode: int | None = None
    owner: str = "root"
    group: str = "root"
    before: Current | None = None
    secret: bool = False  # credentials: no content in the diff
    backup: bool = False  # keep a copy of the file it replaces (config.toml)
    why: str = ""

    @property
    def changes(self) -> bool:
        """Whether performing the operation changes the host."""
        if self.state == ABSENT:
            return self.before is not None
        if self.before is None or self.before.is_dir != (self.state == DIRECTORY):
            return True
        if self.state == FILE and self.before.content != self.content:
            return True
        return ((self.mode is not None and self.before.mode != self.mode)
                or self.before.uid != _users.uid(self.owner) or self.before.gid != _users.gid(self.group))

    def diff(self) -> dict:
        """Ansible's diff for this path: text before and after, with credentials hidden."""
        def text(content: bytes | None, is_dir: bool) -> str:
            if is_dir:
                return "(directory)\n"
            if content is None:
                return ""
            if self.secret:
                return "(credentials, not shown)\n"
            return redact(content.decode("utf-8", errors="replace"))

        before = text(self.before.content, self.before.is_dir) if self.before else ""
        after = "" if self.state == ABSENT else text(self.content, self.state == DIRECTORY)
        return {"before_header": self.path, "after_header": self.path, "before": before, "after": after}


@dataclasses.dataclass
class Plan:
    """What one runtime needs on a host: the operations, whether containerd restarts, what was found."""

    runtime: str
    operations: list = dataclasses.field(default_factory=list)
    restart: bool = False  # containerd must restart for a change of config.toml to take effect
    found: dict = dataclasses.field(default_factory=dict)
    warnings: list = dataclasses.field(default_factory=list)

    @property
    def pending(self) -> list:
        """The operations that change the host, in the order they must run."""
        return [operation for operation in self.operations if operation.changes]

    @property
    def changed(self) -> bool:
        return bool(self.pending)

    def summary(self) -> dict:
        """What a module returns for this runtime: found, the paths it changes (would change), restart, warnings."""
        return {"found": self.found, "changes": [f"{op.state} {op.path}" for op in self.pending],
                "restart": self.restart and self.changed, "warnings": list(self.warnings)}


def apply(plan: Plan, writer, restarter=None) -> dict:
    """Perform ``plan``'s pending operations with ``writer(operation)``, then ``restarter()`` when it needs one.

    Returns ``changed``, ``paths`` (``"<state> <path>"`` per operation performed), ``diff`` (one entry per
    operation) and ``restarted`` (what ``restarter`` returned, or None). A plan whose ``restart`` is set but
    whose ``config.toml`` did not change restarts nothing. Without a restarter, a needed restart is left to the
    caller, and ``restart_needed`` says so.
    """
    pending = plan.pending
    for operation in pending:
        writer(operation)
    needs_restart = plan.restart and bool(pending)
    restarted = restarter() if needs_restart and restarter is not None else None
    return {"changed": bool(pending), "paths": [f"{op.state} {op.path}" for op in pending],
            "diff": [op.diff() for op in pending], "restarted": restarted,
            "restart_needed": needs_restart and restarter is None}


class Writer:
    """Performs a plan's operations through a module run's ``_files.Files``: written only where they differ, nothing
    in check mode, each file staged with its final mode and owner and then renamed (``_files.replace``), a backup
    (0600, ``<path>.<pid>.<time>~``) of each file an operation keeps a copy of, in ``backups``.

    ``fs`` maps the host's paths of the operations to the files this process opens (a directory standing for the
    host's root in tests).
    """

    def __init__(self, files, fs: Filesystem | None = None) -> None:
        self.files = files
        self.fs = fs or Filesystem()
        self.backups = []

    def __call__(self, operation: Operation) -> None:
        path = self.fs.real(operation.path)
        if operation.state == DIRECTORY:
            self.files.directory(path, 0o755 if operation.mode is None else operation.mode, operation.owner,
                                 operation.group)
        elif operation.state == ABSENT:
            if os.path.isdir(path) and not os.path.islink(path):
                self.files.empty_directory_absent(path)  # only ever an emptied directory
            else:
                self.files.absent(path, secret=operation.secret)
        else:
            if operation.backup and not self.files.check_mode and os.path.isfile(path):
                self.backups.append(self.files.backup(path))
            self.files.file(path, operation.content, DEFAULT_FILE_MODE if operation.mode is None else operation.mode,
                            operation.owner, operation.group, secret=operation.secret)


def file_operation(fs: Filesystem, path: str, content: bytes, mode: int, **kwargs) -> Operation:
    return Operation(path, FILE, content, mode, before=fs.current(path), **kwargs)


def directory_operation(fs: Filesystem, path: str, mode: int = 0o755, **kwargs) -> Operation:
    return Operation(path, DIRECTORY, mode=mode, before=fs.current(path), **kwargs)


def absent_operation(fs: Filesystem, path: str, **kwargs) -> Operation:
    return Operation(path, ABSENT, before=fs.current(path), **kwargs)


# A host's client certificate for a registry that asks for one (the collection's pull-through mirror), in the
# registry's directory under the names Docker, containerd's hosts library and the Podman family all read there.
CLIENT_CERTIFICATE = "client.cert"
CLIENT_KEY = "client.key"
CLIENT_FILES = (CLIENT_CERTIFICATE, CLIENT_KEY)


@dataclasses.dataclass(frozen=True)
class ClientCertificate:
    """A host's client certificate and its private key (PEM), for the registries that ask for one."""

    certificate: bytes
    key: bytes = dataclasses.field(repr=False)


def client_operations(fs: Filesystem, directory: str, client: ClientCertificate | None, present: bool) -> list:
    """``client.cert`` (0444) and ``client.key`` (0400, never in a diff) in a registry's ``directory`` (made by the
    caller), or their removal where not ``present``. Without a ``client`` none: client files an operator put there
    stay."""
    if client is None:
        return []
    certificate, key = (f"{directory}/{name}" for name in CLIENT_FILES)
    if not present:
        return [absent_operation(fs, certificate), absent_operation(fs, key, secret=True)]
    return [file_operation(fs, certificate, client.certificate, 0o444),
            file_operation(fs, key, client.key, 0o400, secret=True)]


def remove_if_emptied(fs: Filesystem, directory: str, removed: list) -> list:
    """An operation removing ``directory`` when nothing but the ``removed`` names is in it; none otherwise."""
    current = fs.current(directory)
    if current is None or not current.is_dir:
        return []
    left = [name for name in fs.listdir(directory) if name not in removed]
    return [] if left else [absent_operation(fs, directory)]


def owned(content: bytes | None) -> bool:
    """Whether a file was written by the collection (its first line is :data:`MARKER`)."""
    return content is not None and content.startswith(MARKER.encode())


def check_common(addresses, mode: str, state: str, tls: bool) -> list:
    """The arguments every planner takes, checked; returns the addresses without duplicates, in order."""
    if mode not in TRUST_MODES:
        raise ValueError(f"mode must be one of {', '.join(TRUST_MODES)}, not {mode!r}")
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    if mode == "ca" and not tls and state == "present":
        raise ValueError("a registry that serves plain HTTP (tls false) can only be trusted in insecure mode")
    if isinstance(addresses, str):
        raise TypeError("addresses must be a list of host:port strings, not one string")
    unique = []
    for address in addresses:
        check_address(address)
        if address not in unique:
            unique.append(address)
    if not unique:
        raise ValueError("no registry address given")
    return unique


def check_address(address: str) -> None:
    """Refuse what is not ``host[:port]`` (``_names.address_problem``): an address becomes a directory name under
    certs.d."""
    problem = address_problem(address)
    if problem:
        raise ValueError(f"registry address {address!r} is not host:port (a DNS name, an IPv4 address or an "
                         f"[IPv6] address, and a port): {problem}")
