# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: containerd's trust of a registry, and its restart.

containerd reads a registry's trust from ``<hosts dir>/<host:port>/hosts.toml`` on every pull (no restart):
``ctr --hosts-dir``, nerdctl, Docker's containerd image store and the CRI plugin share that parser. The CRI
plugin (what kubelet pulls through) reads hosts directories only when ``config_path`` in ``config.toml`` names
them: containerd 1.x leaves it empty, containerd 2.x defaults to ``/etc/containerd/certs.d:/etc/docker/certs.d``.
Where ``config.toml`` must change, containerd restarts for it to take effect.

``config.toml`` is changed the way daemon.json is: every other byte kept, a backup, and no change at all when it
does not parse. Its key for the CRI plugin's registry settings depends on the file's ``version``:
``[plugins.cri.registry]`` (1, or none), ``[plugins."io.containerd.grpc.v1.cri".registry]`` (2, containerd 1.x),
``[plugins."io.containerd.cri.v1.images".registry]`` (3, containerd 2.x).
"""

from __future__ import annotations

import os
import socket

from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.detect import (
    CONTAINERD_CONFIG,
    CONTAINERD_SOCKET,
)
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.detect import (
    containerd_version as parse_containerd_version,
)
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import (
    CLIENT_FILES,
    MARKER,
    ClientCertificate,
    Filesystem,
    Plan,
    RuntimeConfigError,
    absent_operation,
    check_address,
    check_common,
    client_operations,
    directory_operation,
    file_operation,
    owned,
    remove_if_emptied,
)
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.tomlfile import (
    basic_string,
    decode,
    dotted_key,
    loads,
    lookup,
    string_array,
    with_key,
)
from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    Daemon,
    ServiceError,
    ServiceExited,
    ServiceTimeout,
)

HOSTS_DIR = "/etc/containerd/certs.d"
# containerd writes no pid file of its own. Whoever starts it without systemd writes its process ID here
# (the molecule containerd host's command does), so that a restart finds the process without searching for it.
PID_FILE = "/run/containerd/containerd.pid"
LOG_FILE = "/var/log/containerd.log"
SERVICE = "containerd"
CAPABILITIES = ("pull", "resolve", "push")
# Docker Hub: the directory containerd looks up for docker.io names, and the server it falls back to.
HUB = "docker.io"
HUB_SERVER = "https://registry-1.docker.io"
MIRROR_CAPABILITIES = ("pull", "resolve")

# The table of the CRI plugin's registry settings, by config.toml version.
REGISTRY_TABLES = {
    1: ("plugins", "cri", "registry"),
    2: ("plugins", "io.containerd.grpc.v1.cri", "registry"),
    3: ("plugins", "io.containerd.cri.v1.images", "registry"),
}
# Plugin IDs that, listed in disabled_plugins, leave containerd without a CRI plugin to read config_path.
CRI_PLUGINS = ("cri", "io.containerd.grpc.v1.cri", "io.containerd.cri.v1.images")
# config_path when config.toml does not set it: empty before containerd 2.0.
DEFAULT_CONFIG_PATH_V2 = "/etc/containerd/certs.d:/etc/docker/certs.d"


def hosts_toml(address: str, mode: str, *, tls: bool = True, ca_files=(), reader: str = "containerd",
               client=None) -> bytes:
    """A registry's ``hosts.toml``: its one host, with every capability, and how its TLS is checked.

    ``mode`` ``ca`` verifies the registry with ``ca_files`` (absolute paths); ``insecure`` skips verification
    (``skip_verify``) or, for a registry without TLS, speaks plain HTTP. ``client``: the paths of the client
    certificate and its key the host presents where the registry asks for one. The first line is :data:`MARKER`.
    """
    server = f"{'https' if tls else 'http'}://{address}"
    lines = [f"{MARKER}: how {reader} reaches the registry at {address}.",
             "# Written again on every run of the registry_trust role: change its variables, not this file.",
             f"server = {basic_string(server)}", "",
             f"[host.{basic_string(server)}]",
             f"  capabilities = {string_array(CAPABILITIES)}"]
    if mode == "ca":
        if not ca_files:
            raise ValueError(f"hosts.toml for {address} in ca mode needs the CA file(s)")
        lines.append(f"  ca = {string_array(ca_files)}")
    elif tls:
        lines.append("  skip_verify = true")
    if client:
        lines.append(f"  client = [{string_array(client)}]")
    return ("\n".join(lines) + "\n").encode()


def hub_hosts_toml(mirrors, mode: str, ca_files: dict, clients=None) -> bytes:
    """Docker Hub's ``hosts.toml``: the pull-through ``mirrors`` (host:port) first, in order, then Docker Hub.

    A mirror only pulls and resolves; ``mode`` ``ca`` verifies it with ``ca_files[mirror]``, ``insecure`` skips
    verification; ``clients[mirror]``, where given, are the paths of the client certificate and key presented to it.
    containerd tries the hosts in order and Docker Hub (``server``) last.
    """
    lines = [f"{MARKER}: Docker Hub's images through the pull-through mirror first.",
             "# Written again on every run of the registry_trust role: change its variables, not this file.",
             f"server = {basic_string(HUB_SERVER)}"]
    for mirror in mirrors:
        url = f"https://{mirror}"
        lines += ["", f"[host.{basic_string(url)}]", f"  capabilities = {string_array(MIRROR_CAPABILITIES)}"]
        lines.append(f"  ca = {string_array([ca_files[mirror]])}" if mode == "ca" else "  skip_verify = true")
        if (clients or {}).get(mirror):
            lines.append(f"  client = [{string_array(clients[mirror])}]")
    return ("\n".join(lines) + "\n").encode()


class ContainerdConfig:
    """containerd's ``config.toml`` as found on a host (or its absence), and the CRI plugin's view of it."""

    def __init__(self, content: bytes | None, path: str = CONTAINERD_CONFIG) -> None:
        self.content, self.path = content, path
        self.document = loads(content, path) if content is not None else {}
        # Without a version a file is version 1; a file the collection writes where there was none is version 2,
        # which containerd 1.x and 2.x both read.
        version = self.document.get("version", 1 if content is not None else 2)
        if isinstance(version, bool) or version not in REGISTRY_TABLES:
            raise RuntimeConfigError(f"{path}: version = {version!r} is not a config.toml version this collection "
                                     f"knows ({', '.join(map(str, REGISTRY_TABLES))}); nothing was changed")
        self.version = version
        self.registry_table = REGISTRY_TABLES[version]

    @property
    def exists(self) -> bool:
        return self.content is not None

    @property
    def cri_enabled(self) -> bool:
        disabled = self.document.get("disabled_plugins") or []
        return not any(plugin in disabled for plugin in CRI_PLUGINS)

    @property
    def config_path(self) -> str | None:
        """config_path as the file sets it; None where it does not (or sets it empty)."""
        value = lookup(self.document, (*self.registry_table, "config_path"))
        return value if isinstance(value, str) and value else None

    def hosts_dirs(self, containerd_version=()) -> list:
        """The directories the CRI plugin reads hosts.toml from: config_path's, else containerd's default."""
        value = self.config_path
        if value is None and containerd_version and containerd_version >= (2,):
            value = DEFAULT_CONFIG_PATH_V2
        return [directory for directory in (value or "").split(":") if directory]

    def conflicts(self) -> list:
        """What containerd refuses beside config_path (its CRI plugin then does not load): mirrors, configs.*.tls."""
        problems = []
        registry = lookup(self.document, self.registry_table) or {}
        if registry.get("mirrors"):
            problems.append(("mirrors", "`mirrors` cannot be set when `config_path` is provided"))
        for name, config in (registry.get("configs") or {}).items():
            if isinstance(config, dict) and config.get("tls") is not None:
                problems.append((("configs", name, "tls"), "`configs.tls` cannot be set when `config_path` is provided"))
        return problems

    def with_config_path(self, value: str) -> bytes:
        """The file with ``config_path = value`` in the CRI registry table, every other byte as it was.

        The result is parsed again and must mean the same as the file with only that key set; otherwise
        :class:`RuntimeConfigError` asks for the key to be set by hand. Where there was no file, a new one with that
        table alone.
        """
        text = (decode(self.content, self.path) if self.content is not None else
                f"{MARKER}: containerd had no configuration file. Its defaults stand, but for where its\n"
                "# CRI plugin reads registry hosts (a hosts.toml per registry under config_path).\n"
                f"version = {self.version}\n")
        edited = with_key(text, self.path, self.registry_table, "config_path", value)
        if edited is None:
            raise RuntimeConfigError(
                f"{self.path}: config_path cannot be added to [{dotted_key(self.registry_table)}] without rewriting "
                f"how the file defines that table; add config_path = {basic_string(value)} there by hand. Nothing was "
                "changed.")
        return edited.encode()


def plan(addresses, ca_pem: str | bytes | None, mode: str, state: str, *, tls: bool = True, fs: Filesystem | None = None,
         containerd_version=None, config_file: str = CONTAINERD_CONFIG, hosts_dir: str = HOSTS_DIR,
         mirrors=(), mirror_client: ClientCertificate | None = None) -> Plan:
    """What makes containerd trust the registry at ``addresses`` (``mode`` ``ca`` or ``insecure``), or forget it.

    Per address, a directory ``<hosts dir>/<address>`` (0755) with ``hosts.toml`` (0644) and, in ``ca`` mode,
    ``ca.crt`` (0644, ``ca_pem``: the CA certificate, or several during a CA rollover). The hosts directory is the
    first one config_path names; where config.toml sets none and the CRI plugin runs, ``hosts_dir``, and
    config_path is set to it in config.toml, which is the one change that needs a restart (``Plan.restart``). A
    containerd 2.x reads ``/etc/containerd/certs.d`` without it. ``containerd_version`` is the output of
    ``containerd --version`` or a version tuple; unknown, config_path is set as containerd 1.x needs.
    ``absent`` removes the files and the emptied directory, and leaves config.toml as it is.

    ``mirrors`` (host:port, over TLS) are Docker Hub's pull-through mirrors: each is trusted as the registry is
    (its own directory), and ``<hosts dir>/docker.io/hosts.toml`` sends docker.io pulls to them first. Without
    mirrors (or with ``absent``), a docker.io hosts.toml the collection wrote goes. ``mirror_client``: the host's
    client certificate, which a mirror asks for: ``client.cert`` and ``client.key`` (0400) in each mirror's directory,
    named by the hosts.toml files (in ``ca`` mode; ``absent`` removes them).
    """
    addresses = check_common(addresses, mode, state, tls)
    mirrors = [mirror for mirror in mirrors if mirror not in addresses]
    for mirror in mirrors:
        check_address(mirror)
    fs = fs or Filesystem()
    version = _containerd_release(containerd_version)
    config = ContainerdConfig(fs.read(config_file), config_file)
    result = Plan("containerd")
    dirs = config.hosts_dirs(version)
    result.found = {"config_file": config_file if config.exists else None, "config_version": config.version,
                    "cri_enabled": config.cri_enabled, "config_path": config.config_path,
                    "containerd_version": ".".join(map(str, version)) or None}
    if state == "present" and config.cri_enabled and not dirs:
        for subpath, problem in config.conflicts():
            where = dotted_key((*config.registry_table, *((subpath,) if isinstance(subpath, str) else subpath)))
            raise RuntimeConfigError(
                f"{config_file}: {where}: {problem} (containerd's CRI plugin would not "
                f"load). Move those settings into hosts.toml files under {hosts_dir} (containerd's docs/hosts.md) "
                "and remove them from config.toml; nothing was changed.")
        if not config.exists:
            result.operations.append(directory_operation(fs, os.path.dirname(config_file)))
        current = fs.current(config_file)
        result.operations.append(file_operation(
            fs, config_file, config.with_config_path(hosts_dir), current.mode if current else 0o644, backup=True,
            why=f"the CRI plugin reads hosts.toml files only where config_path points ({hosts_dir})"))
        result.restart = True
        dirs = [hosts_dir]
    target = dirs[0] if dirs else hosts_dir
    result.found["hosts_dir"] = target
    if not config.cri_enabled:
        result.warnings.append(f"{config_file} disables the CRI plugin: hosts.toml serves ctr --hosts-dir and nerdctl, "
                               "and config.toml stays as it is")
    pem = ca_pem.encode() if isinstance(ca_pem, str) else ca_pem
    if mode == "ca" and state == "present" and not pem:
        raise ValueError("ca mode needs the registry's CA certificate (ca_pem)")
    for address in addresses:
        result.operations += _address_operations(fs, result, f"{target}/{address}", address, pem, mode, state, tls)
    client = mirror_client if mode == "ca" or state == "absent" else None
    for mirror in mirrors:
        result.operations += _address_operations(fs, result, f"{target}/{mirror}", mirror, pem, mode, state, True,
                                                 client=client)
    result.operations += _hub_operations(fs, result, target, mirrors if state == "present" else [], mode,
                                         with_client=client is not None)
    return result


def _hub_operations(fs, result, target, mirrors, mode, with_client=False) -> list:
    """Docker Hub's hosts.toml with the mirrors; without mirrors, the collection's own removed, another left."""
    directory = f"{target}/{HUB}"
    hosts_file = f"{directory}/hosts.toml"
    existing = fs.read(hosts_file)
    foreign = existing is not None and not owned(existing)
    if not mirrors:
        if existing is None or foreign:
            return []
        return [absent_operation(fs, hosts_file)] + remove_if_emptied(fs, directory, ["hosts.toml"])
    if foreign:
        result.warnings.append(f"{hosts_file} was not written by dockyard.registry: replaced by the mirrors' (see the "
                               "diff)")
    clients = {mirror: [f"{target}/{mirror}/{name}" for name in CLIENT_FILES] for mirror in mirrors} if with_client \
        else None
    content = hub_hosts_toml(mirrors, mode, {mirror: f"{target}/{mirror}/ca.crt" for mirror in mirrors}, clients)
    return [directory_operation(fs, directory), file_operation(fs, hosts_file, content, 0o644)]


def _address_operations(fs, result, directory, address, pem, mode, state, tls, client=None) -> list:
    """A registry's (or a mirror's) directory: hosts.toml, ca.crt and, with ``client``, the client certificate."""
    hosts_file, ca_file = f"{directory}/hosts.toml", f"{directory}/ca.crt"
    client_names = list(CLIENT_FILES) if client is not None else []
    existing = fs.read(hosts_file)
    foreign = existing is not None and not owned(existing)
    if state == "absent":
        if foreign:
            result.warnings.append(f"{hosts_file} was not written by dockyard.registry: left in place")
            return []
        operations = [absent_operation(fs, hosts_file), absent_operation(fs, ca_file)]
        operations += client_operations(fs, directory, client, present=False)
        return operations + remove_if_emptied(fs, directory, ["hosts.toml", "ca.crt", *client_names])
    if foreign:
        result.warnings.append(f"{hosts_file} was not written by dockyard.registry: replaced (see the diff)")
    operations = [directory_operation(fs, directory)]
    if mode == "ca":
        operations.append(file_operation(fs, ca_file, pem, 0o644))
    else:
        operations.append(absent_operation(fs, ca_file))
    operations += client_operations(fs, directory, client, present=True)
    paths = [f"{directory}/{name}" for name in client_names]
    operations.append(file_operation(fs, hosts_file, hosts_toml(address, mode, tls=tls, ca_files=[ca_file],
                                                                client=paths), 0o644))
    return operations


def _containerd_release(output) -> tuple:
    return output if isinstance(output, tuple) else parse_containerd_version(output)


class RestartError(RuntimeError):
    """containerd could not be restarted; the message says why and what to do."""


def restart(run_command, *, fs: Filesystem | None = None, pid_file: str = PID_FILE, socket_path: str = CONTAINERD_SOCKET,
            service: str = SERVICE, log_file: str = LOG_FILE, timeout: float = 60) -> dict:
    """Restart the host's containerd so that it reads config.toml again, and wait until it answers.

    ``run_command(args, use_unsafe_shell=False, cwd=None)`` returns ``(rc, stdout, stderr)``, as ``AnsibleModule.run_command``
    does. The way that started it, as the collection's service helper (``_service.Daemon``) finds it: systemd, when
    it runs the ``service`` unit; the init script ``/etc/init.d/<service>``, when its status says it runs containerd;
    the pid file, for a containerd started directly (its process is stopped with SIGTERM and started again with its
    own command line, detached, its output appended to ``log_file``, its new process ID written to the pid file,
    since containerd writes none); the init script all the same, where there is one. A containerd that none of them
    knows is not searched for among the host's processes: :class:`RestartError` asks for a restart by hand. A
    containerd that is not running is left so (``method`` ``none``): it reads the new config.toml when it starts.
    """
    fs = fs or Filesystem()
    daemon = Daemon(run_command, service, "containerd", pid_file, log_file, timeout=timeout, writes_pid_file=False,
                    root=fs.root)

    def ready():
        return None if _answers(fs, socket_path) else f"containerd at {socket_path}"

    try:
        how = daemon.restart(ready)
    except ServiceTimeout:
        raise RestartError(f"containerd did not answer at {socket_path} within {timeout} s of its restart; "
                           f"see {log_file} or its service's log") from None
    except ServiceExited:
        raise RestartError(f"containerd exited as soon as it started again; see {log_file}") from None
    except (ServiceError, OSError) as exc:
        raise RestartError(f"containerd could not be restarted: {exc}") from exc
    if how is not None:
        return how
    if not _answers(fs, socket_path):
        return {"method": "none", "reason": f"containerd is not running (nothing listens at {socket_path})"}
    raise RestartError(f"containerd must restart to read its changed config.toml, but systemd does not run it, "
                       f"{pid_file} names no containerd process and there is no /etc/init.d/{service}: restart "
                       "containerd by hand (or write its process ID to that pid file when starting it)")


def _answers(fs: Filesystem, socket_path: str) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(2)
        try:
            client.connect(fs.real(socket_path))
        except OSError:
            return False
    return True


def trust_report(address: str, fs: Filesystem | None = None, *, containerd_version=None,
                 config_file: str = CONTAINERD_CONFIG, hosts_dir: str = HOSTS_DIR) -> dict:
    """Which files containerd reads for ``address`` and whether it verifies the registry's certificate.

    For the probe: :func:`directory_trust` of the address's directory in the first hosts directory that has one,
    and ``cri_reads_hosts_dir``: whether the CRI plugin (kubelet's pulls) reads hosts directories at all.
    """
    fs = fs or Filesystem()
    config = ContainerdConfig(fs.read(config_file), config_file)
    dirs = config.hosts_dirs(_containerd_release(containerd_version))
    directory = next((f"{d}/{address}" for d in dirs if fs.exists(f"{d}/{address}")),
                     f"{(dirs or [hosts_dir])[0]}/{address}")
    return {"runtime": "containerd", "cri_reads_hosts_dir": bool(dirs) and config.cri_enabled,
            "hosts_dir": directory, **directory_trust(fs, directory)}


def directory_trust(fs: Filesystem, directory: str) -> dict:
    """What containerd's hosts library takes from a registry's directory: ``reads`` (hosts.toml; without one, the
    ``*.crt`` files; without those, nothing: the system's CAs), ``verifies`` (False where hosts.toml's first host
    skips verification or speaks plain HTTP) and ``ca`` (the CA files it trusts there, None for the system's)."""
    content = fs.read(f"{directory}/hosts.toml")
    if content is not None:
        document = loads(content, f"{directory}/hosts.toml")
        hosts = list((document.get("host") or {}).items())
        server, settings = hosts[0] if hosts else (document.get("server", ""), document)
        ca = settings.get("ca")
        return {"reads": [f"{directory}/hosts.toml"],
                "verifies": not (str(server).startswith("http://") or settings.get("skip_verify")),
                "ca": [ca] if isinstance(ca, str) else ca}
    crts = [f"{directory}/{name}" for name in fs.listdir(directory) if name.endswith(".crt")]
    return {"reads": crts, "verifies": True, "ca": crts or None}
