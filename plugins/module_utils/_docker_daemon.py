# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the Docker daemon on this host, in one place.

The Docker SDK's import guard and its API client (closed after use), the daemon's process (found through
its pid file or its service manager, never by scanning processes, which could find another daemon, one
inside a container say), how it reloads and restarts, and which ``daemon.json`` keys a reload applies.
"""

from __future__ import annotations

import contextlib
import ipaddress
import mmap
import os
import re
import shutil
import signal
import socket
import time
import traceback
from pathlib import Path

from ansible.module_utils.basic import env_fallback, missing_required_lib

from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    Daemon,
    ServiceError,
    ServiceExited,
    ServiceTimeout,
    command_line,
    systemd_runs,
)
from ansible_collections.dockyard.registry.plugins.module_utils._x509 import NEWEST, GoRules, go_build_info

try:
    import docker
    import docker.auth
    import docker.errors
    import docker.utils.config
except ImportError:
    docker = None
    DOCKER_IMPORT_ERROR = traceback.format_exc()
else:
    DOCKER_IMPORT_ERROR = None

try:
    import requests.exceptions as requests_exceptions
    import urllib3.exceptions as urllib3_exceptions
except ImportError:  # the Docker SDK needs requests: without it there is no client either
    requests_exceptions = urllib3_exceptions = None

DEFAULT_DOCKER_HOST = "unix:///var/run/docker.sock"
DEFAULT_PIDFILE = "/var/run/docker.pid"
DEFAULT_TIMEOUT = 60
# Where a dockerd binary is looked for when no running daemon names its own.
DOCKERD_DIRECTORIES = ("/usr/bin", "/usr/sbin", "/usr/local/bin", "/usr/local/sbin")

# What dockerd logs when it refuses a reload (cmd/dockerd's reloadConfig and daemon/config's Reload), and when it
# gives up starting.
RELOAD_REFUSED = ("unable to configure the Docker daemon", "file configuration validation failed",
                  "Error reconfiguring the daemon")
START_REFUSED = ("unable to configure the Docker daemon", "failed to start daemon")
# What it logs when it starts but cannot set up the default bridge with the new settings: it answers, but no container
# can join that network (userland-proxy=false where /proc/sys is read-only, for one).
BRIDGE_FAILED = ("could not create bridge network",)
ERROR_LEVELS = ("error", "fatal", "panic")

_LOGRUS_LINE = re.compile(r'^time="[^"]*" level=(?P<level>\w+) msg="(?P<msg>(?:[^"\\]|\\.)*)"')


class DaemonError(Exception):
    """The Docker daemon refused, failed or could not be reached; the message keeps the daemon's own words."""


def require_sdk(module) -> None:
    """Fail ``module`` the way Ansible modules do when the Docker SDK for Python is missing."""
    if DOCKER_IMPORT_ERROR:
        module.fail_json(msg=missing_required_lib("docker"), exception=DOCKER_IMPORT_ERROR)


def sdk_errors() -> tuple:
    """The exception types a call through the SDK raises: its own and its transport's.

    A stream (a push's or a pull's progress) is read from urllib3 directly: a daemon that stops in the middle of
    one (a restart) breaks it with urllib3's ProtocolError, which requests does not wrap there.
    """
    errors = (docker.errors.DockerException,) if docker else ()
    if requests_exceptions is not None:
        errors += (requests_exceptions.RequestException, urllib3_exceptions.HTTPError)
    return errors


@contextlib.contextmanager
def api_client(docker_host: str = DEFAULT_DOCKER_HOST, timeout: int = DEFAULT_TIMEOUT):
    """A low-level Docker SDK client for the daemon at ``docker_host``, API version negotiated, closed on exit."""
    if docker is None:
        raise DaemonError(f"asking the Docker daemon at {docker_host} needs the Docker SDK for Python (docker) on "
                          "this host: install python3-docker (the site playbook's preflight does)")
    try:
        client = docker.APIClient(base_url=docker_host, version="auto", timeout=timeout)
    except sdk_errors() as exc:
        raise DaemonError(f"the Docker daemon at {docker_host} does not answer: {exc}") from exc
    try:
        yield client
    finally:
        client.close()


def insecure_registry(info: dict, registry: str) -> bool:
    """Whether a daemon whose ``docker info`` is ``info`` treats ``registry`` (host:port) as insecure.

    By name (``IndexConfigs``), or by an address in its insecure CIDRs, as the daemon decides.
    """
    config = info.get("RegistryConfig") or {}
    index = (config.get("IndexConfigs") or {}).get(registry)
    if index is not None:
        return not index.get("Secure", True)
    host = registry.rsplit(":", 1)[0].strip("[]")
    try:
        addresses = {ipaddress.ip_address(entry[4][0]) for entry in socket.getaddrinfo(host, None)}
    except (socket.gaierror, ValueError):
        return False
    networks = [ipaddress.ip_network(cidr) for cidr in config.get("InsecureRegistryCIDRs") or []]
    return any(address in network for address in addresses for network in networks
               if address.version == network.version)


def engine_version(info: dict) -> tuple[int, ...]:
    """The engine's release as numbers, ``(20, 10, 24)`` for ``20.10.24+dfsg1``; empty when unknown."""
    match = re.match(r"(\d+)(?:\.(\d+))?(?:\.(\d+))?", str(info.get("ServerVersion") or ""))
    return tuple(int(part) for part in match.groups() if part is not None) if match else ()


def daemon_go(pidfile: str = DEFAULT_PIDFILE) -> tuple[GoRules, str]:
    """The Go whose certificate rules the Docker daemon of this host applies, and where that came from.

    The running daemon (its pid file names it) or else the first ``dockerd`` found: its binary tells its Go
    version and default GODEBUG settings, and the running daemon's environment may override them.
    """
    binaries, environment = [], ""
    try:
        pid = int(Path(pidfile).read_text().strip())
        binaries.append(Path(f"/proc/{pid}/exe"))
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        environment = next((item[8:].decode("utf-8", "replace") for item in environ
                            if item.startswith(b"GODEBUG=")), "")
    except (OSError, ValueError):
        pass
    found = shutil.which("dockerd", path=os.pathsep.join([os.environ.get("PATH", ""), *DOCKERD_DIRECTORIES]))
    if found:
        binaries.append(Path(found))
    for binary in binaries:
        try:
            with binary.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as data:
                info = go_build_info(data)
            shown = os.path.realpath(binary)
        except (OSError, ValueError):
            continue
        if info is not None:
            rules = GoRules.parse(info[0], info[1], environment)
            return rules, f"{rules.name}, read from {shown}"
    return NEWEST, "unknown (no readable dockerd binary here): judged by the newest Go's rules"


class DaemonProcess:
    """The running ``dockerd``: its process, its command line, its log, and how to reload, restart or start it.

    ``run_command`` is ``AnsibleModule.run_command``. Its process, restart and start are the collection's one
    helper for a service's life (``_service.Daemon``): the process the pid file names (dockerd writes it, also
    under systemd) or systemd's main PID of the service, never a process found by scanning. What the daemon says
    when it refuses a configuration is read from its log: systemd's journal of the service, or ``dockerd_log``
    where the daemon was started directly (the collection's docker_engine role logs there).
    """

    def __init__(self, run_command, pidfile: str = DEFAULT_PIDFILE, service: str = "docker",
                 docker_host: str = DEFAULT_DOCKER_HOST, dockerd_log: str = "/var/log/dockerd.log",
                 timeout: int = DEFAULT_TIMEOUT) -> None:
        self.run_command = run_command
        self.pidfile, self.service, self.docker_host = pidfile, service, docker_host
        self.dockerd_log, self.timeout = dockerd_log, timeout
        self.daemon = Daemon(run_command, service, "dockerd", pidfile, dockerd_log, timeout=timeout)
        self.pid = self.find_pid()

    @property
    def running(self) -> bool:
        return self.pid is not None

    def find_pid(self) -> int | None:
        """The daemon's pid: the pid file's when it names a live dockerd, else systemd's main PID of the service."""
        return self.daemon.pid()

    def argv(self) -> list[str]:
        return command_line(self.pid)

    def unit_argv(self) -> list[str]:
        """The ExecStart command line of the daemon's systemd unit, where systemd runs it."""
        if not systemd_runs():
            return []
        rc, out, _err = self.run_command(["systemctl", "show", "--property=ExecStart", "--value", self.service])
        # systemd prints: { path=/usr/bin/dockerd ; argv[]=/usr/bin/dockerd -H fd:// ... ; ignore_errors=no ... }
        if rc != 0 or "argv[]=" not in out:
            return []
        return out.split("argv[]=", 1)[1].split(" ;", 1)[0].split()

    def binary(self) -> str | None:
        if self.running:
            try:
                return os.readlink(f"/proc/{self.pid}/exe")
            except OSError:
                pass
        return shutil.which("dockerd", path=os.pathsep.join([os.environ.get("PATH", ""), *DOCKERD_DIRECTORIES]))

    def info(self) -> dict:
        """``docker info`` of the running daemon."""
        with api_client(self.docker_host, self.timeout) as client:
            try:
                return client.info()
            except sdk_errors() as exc:
                raise DaemonError(f"the Docker daemon at {self.docker_host} does not describe itself: {exc}") from exc

    def binary_version(self) -> tuple[int, ...]:
        """The release of the dockerd binary (``dockerd --version``), for a daemon that does not run; empty if none."""
        dockerd = self.binary()
        if not dockerd:
            return ()
        rc, out, _err = self.run_command([dockerd, "--version"])
        match = re.search(r"version (\d+)\.(\d+)(?:\.(\d+))?", out) if rc == 0 else None
        return tuple(int(part) for part in match.groups() if part is not None) if match else ()

    def containers(self) -> dict[str, dict]:
        """The running containers by name, each with its ID, main process and start time."""
        with api_client(self.docker_host, self.timeout) as client:
            try:
                running = {}
                for summary in client.containers():
                    state = client.inspect_container(summary["Id"])["State"]
                    name = (summary.get("Names") or [summary["Id"][:12]])[0].lstrip("/")
                    running[name] = {"id": summary["Id"], "pid": state["Pid"], "started_at": state["StartedAt"]}
                return running
            except sdk_errors() as exc:
                raise DaemonError(f"the Docker daemon at {self.docker_host} could not list its containers: {exc}") from exc

    def validate(self, path: str) -> str:
        """Ask dockerd to check a configuration file where it can (23.0+); return how the file was checked."""
        dockerd = self.binary()
        if dockerd:
            rc, out, err = self.run_command([dockerd, "--validate", "--config-file", path])
            said = (out + err).strip()
            if rc == 0:
                return "dockerd --validate"
            if "unknown flag" not in said:
                raise DaemonError(f"dockerd --validate refused the new configuration: {said}")
        return "json and command-line flags"

    def reload(self) -> None:
        """SIGHUP, then wait for the daemon's own reload event (the proof that it took the file in) or its refusal."""
        mark = self.log_mark()
        since = time.time()
        os.kill(self.pid, signal.SIGHUP)
        deadline = time.monotonic() + self.timeout
        with api_client(self.docker_host, self.timeout) as client:
            while True:
                events = client.events(since=since, until=time.time(), filters={"type": "daemon", "event": "reload"},
                                       decode=True)
                try:
                    if any(True for _event in events):
                        return
                finally:
                    events.close()
                refused = self.said(mark, RELOAD_REFUSED)
                if refused:
                    raise DaemonError(f"the daemon (pid {self.pid}) refused to reload: {refused}")
                if time.monotonic() > deadline:
                    raise DaemonError(f"the daemon (pid {self.pid}) did not confirm a reload within {self.timeout} s; "
                                      "its log says why (a key it cannot reload, or a directive also given as a flag)")
                time.sleep(0.2)

    def restart(self) -> None:
        """Restart through systemd, else the init script, else by running the daemon's own command line again."""
        mark = self.log_mark()
        with self._process_errors(mark):
            how = self.daemon.restart(self._ready(mark))
        if how is None:
            raise DaemonError(f"the daemon must restart, but systemd does not run it, {self.pidfile} names no dockerd "
                              f"and there is no /etc/init.d/{self.service}: restart it by hand")
        unbridged = self.said(mark, BRIDGE_FAILED, levels=("warning", "error"))
        if unbridged:
            raise DaemonError(f"the daemon came back (pid {self.pid}) without its default bridge network, where no "
                              f"container can start: {unbridged}")

    def start(self) -> None:
        """Start the daemon that stopped (a restart that did not come back), the way it ran before."""
        mark = self.log_mark()
        with self._process_errors(mark):
            self.daemon.start(self._ready(mark))

    def answers(self) -> bool:
        try:
            with api_client(self.docker_host, 5) as client:
                client.ping()
            return True
        except (DaemonError, *sdk_errors()):
            return False

    def _ready(self, mark: tuple[float, int]):
        """Whether the daemon's new process answers; it gives up as soon as the daemon says it does not start."""
        def ready() -> str | None:
            self.pid = self.find_pid()
            if self.pid is not None and self.answers():
                return None
            refused = self.said(mark, START_REFUSED)
            if refused:
                raise DaemonError(f"the daemon did not start: {refused}")
            return f"the daemon at {self.docker_host}"
        return ready

    @contextlib.contextmanager
    def _process_errors(self, mark: tuple[float, int]):
        """The service helper's errors in the daemon's own words (its log since ``mark``)."""
        try:
            yield
        except DaemonError:
            self.pid = None
            raise
        except ServiceExited as exc:
            self.pid = None
            raise DaemonError(f"the daemon did not start: {self.said(mark) or 'it exited, saying nothing'}") from exc
        except ServiceTimeout as exc:
            said = self.said(mark)
            self.pid = None
            raise DaemonError(f"the daemon did not answer at {self.docker_host} within {self.timeout} s"
                              + (f": {said}" if said else f"; see {self.dockerd_log} or the service's log")) from exc
        except (ServiceError, OSError) as exc:
            said = self.said(mark)
            raise DaemonError(f"{exc}" + (f"; the daemon said: {said}" if said else "")) from exc

    # The daemon's log

    def log_mark(self) -> tuple[float, int]:
        """Where the daemon's log stands now: a time for the journal, an offset for a log file."""
        try:
            size = os.path.getsize(self.dockerd_log)
        except OSError:
            size = 0
        return time.time(), size

    def said(self, mark: tuple[float, int], patterns: tuple[str, ...] = (),
             levels: tuple[str, ...] = ERROR_LEVELS) -> str:
        """The daemon's messages of ``levels`` since ``mark``, those that contain one of ``patterns`` if given."""
        messages = [message for message in (_error_message(line, levels) for line in self._log_since(mark)) if message]
        if patterns:
            messages = [message for message in messages if any(pattern in message for pattern in patterns)]
        return "; ".join(dict.fromkeys(messages[-3:]))

    def _log_since(self, mark: tuple[float, int]) -> list[str]:
        if systemd_runs():
            rc, out, _err = self.run_command(["journalctl", "--unit", self.service, "--since", f"@{int(mark[0])}",
                                              "--output", "cat", "--no-pager"])
            return out.splitlines() if rc == 0 else []
        try:
            with open(self.dockerd_log, "rb") as log:
                log.seek(mark[1])
                return log.read(1 << 20).decode("utf-8", "replace").splitlines()
        except OSError:
            return []

def _error_message(line: str, levels: tuple[str, ...] = ERROR_LEVELS) -> str:
    """The message of a line of dockerd's log at one of ``levels`` (logrus lines, or what it prints before exiting)."""
    line = line.strip()
    match = _LOGRUS_LINE.match(line)
    if match:
        return match["msg"].replace('\\"', '"') if match["level"] in levels else ""
    return line if line and not line.startswith("time=") else ""


def docker_argument_spec() -> dict:
    """The option that says where the daemon is; modules that ask it add it to their own."""
    return {"docker_host": {"type": "str", "default": DEFAULT_DOCKER_HOST, "fallback": (env_fallback, ["DOCKER_HOST"])}}


def label(inspection: dict | None, key: str) -> str | None:
    """The label ``key`` of an image's or a container's inspection (``Config.Labels``); None where it has none."""
    return (((inspection or {}).get("Config") or {}).get("Labels") or {}).get(key)


class DockerImages:
    """The daemon's images through the Docker SDK: inspect, tag, push, pull; its errors become DaemonError.

    ``auth_config`` ({username, password}) goes with each push and pull where the module was given credentials;
    otherwise the SDK finds a stored login itself.
    """

    def __init__(self, client, host: str, auth_config: dict | None = None) -> None:
        self.api, self.host, self.auth_config = client, host, auth_config

    def info(self) -> dict:
        with self._errors("describe itself"):
            return self.api.info()

    def inspect(self, image: str) -> dict | None:
        """The daemon's inspection of ``image`` (name, reference, ``name@digest`` or ID), or None if it lacks it."""
        with self._errors(f"inspect image {image}"):
            try:
                return self.api.inspect_image(image)
            except docker.errors.NotFound:
                return None

    def tag(self, image_id: str, repository: str, tag: str) -> None:
        with self._errors(f"tag image {image_id} as {repository}:{tag}"):
            self.api.tag(image_id, repository, tag)

    def push(self, repository: str, tag: str, action: str) -> list[dict]:
        """Push ``repository:tag``; return the daemon's progress messages (an error message raises)."""
        with self._errors(action):
            progress = self.api.push(repository, tag=tag, stream=True, decode=True, auth_config=self.auth_config)
            return list(self._follow(progress, action))

    def pull(self, repository: str, tag_or_digest: str, action: str) -> None:
        with self._errors(action):
            progress = self.api.pull(repository, tag=tag_or_digest, stream=True, decode=True,
                                     auth_config=self.auth_config)
            for _line in self._follow(progress, action):
                pass

    def build(self, path: str | None, tag: str, labels: dict, context=None) -> str:
        """Build the directory ``path``, or the tar archive ``context`` (a file object), as ``tag`` (no pull: nothing
        comes from a registry); return the image ID."""
        action = f"build {tag}"
        source = {"path": path} if context is None else {"fileobj": context, "custom_context": True}
        with self._errors(action):
            output = self.api.build(**source, tag=tag, labels=labels, pull=False, rm=True, forcerm=True, decode=True)
            for _line in self._follow(output, action):
                pass
        built = self.inspect(tag)
        if built is None:
            raise DaemonError(f"the Docker daemon at {self.host} reported no error building {tag}, but has no such image")
        return built["Id"]

    def remove(self, image: str) -> bool:
        """Remove ``image`` (a tag: an image with other tags only loses this one); False when there was none."""
        with self._errors(f"remove image {image}"):
            try:
                self.api.remove_image(image)
            except docker.errors.NotFound:
                return False
        return True

    def _follow(self, progress, action: str):
        """Yield the daemon's progress messages; its error message, if one comes, becomes a DaemonError."""
        for line in progress:
            if "error" in line:
                raise DaemonError(f"the Docker daemon at {self.host} could not {action}: {line['error']}")
            yield line

    @contextlib.contextmanager
    def _errors(self, action: str):
        """Turn Docker SDK and transport errors into a DaemonError that says what the daemon could not do."""
        try:
            yield
        except sdk_errors() as exc:
            if isinstance(exc, (urllib3_exceptions.ProtocolError, requests_exceptions.ChunkedEncodingError)):
                raise DaemonError(f"the Docker daemon at {self.host} could not {action}: the connection to the daemon "
                                  f"broke off in the middle ({exc}), as when the daemon stops or restarts (its log "
                                  "says which); run again once it answers") from exc
            raise DaemonError(f"the Docker daemon at {self.host} could not {action}: {exc}") from exc
