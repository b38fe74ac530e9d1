# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: the Docker daemon's process on this host.

Its process (found through its pid file or its service manager, never by scanning processes, which could find
another daemon, one inside a container say, through the collection's service helper), how it reloads and
restarts, and what its log says. The SDK client is ``_docker_client``, the images ``_docker_images``.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import time

from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import (
    DEFAULT_DOCKER_HOST,
    DEFAULT_TIMEOUT,
    DaemonError,
    api_client,
    sdk_errors,
)
from ansible_collections.dockyard.registry.plugins.module_utils._dockerd import DEFAULT_PIDFILE, dockerd_binary
from ansible_collections.dockyard.registry.plugins.module_utils._host_survey import docker_answers
from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    Daemon,
    ServiceError,
    ServiceExited,
    ServiceTimeout,
    command_line,
    systemd_runs,
)

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
        return dockerd_binary()

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

    def launch(self, args: list[str]) -> None:
        """Start dockerd with ``args`` where none runs and no service manager starts it (the docker_engine role's
        direct start): detached, from /, its output appended to the log, and awaited until it answers."""
        dockerd = dockerd_binary()
        if dockerd is None:
            raise DaemonError("dockerd is not installed: install the Docker engine (Debian's docker.io) first")
        mark = self.log_mark()
        with self._process_errors(mark):
            self.daemon.launch([dockerd, *args], self._ready(mark))

    def answers(self) -> bool:
        """Whether the daemon answers a ping: on a Unix socket with the host survey's standard-library ping, which
        needs no library (a first start comes before the Docker SDK is installed), elsewhere through the SDK."""
        if self.docker_host.startswith("unix://"):
            return docker_answers(self.docker_host[len("unix://"):], 5)
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
