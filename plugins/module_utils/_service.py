# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a service's life, with or without systemd, in one place.

Two kinds of service share its mechanism (systemd's state, pid files read through ``/proc``, the detached launch
of a command line with its output appended to a log file, the stop, and the wait until the program answers):

- :class:`Service`, a program the collection defines itself (SeaweedFS, Redis, HAProxy);
- :class:`Daemon`, a daemon the host's packages installed (dockerd, containerd): restarted through its systemd
  unit, its init script, or, where neither runs it, by stopping the process its pid file names and running that
  process's own command line again, detached.

Where systemd is the service manager, :class:`Service` writes a unit (``Restart=always``) and asks systemctl.
Elsewhere (containers, hosts without an init system) it starts a small supervisor, detached with ``setsid``: a
shell loop that runs the program, writes its pid file, appends its output to a log file and starts it again when
it exits. The supervisor's own pid file finds it again on the next run; no process is ever found by scanning.
Which program runs is written in the unit or the supervisor's script: a change of either, or of a file the
program reads, restarts it (or reloads it, for a program that can). Each start is followed by a wait until the
program answers (the ``ready`` callable), and a program that does not answer fails the module with its log.
A program given a ``user`` runs as that user (systemd's ``User=``, or ``setpriv`` under the supervisor, which
itself stays root to keep its pid files); its log file belongs to that user.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import time

from ansible_collections.dockyard.registry.plugins.module_utils._users import primary_group

# How long a stopped program gets before it is killed, and how often a starting one is asked whether it answers.
STOP_TIMEOUT = 30
POLL_INTERVAL = 0.5
# A restarted daemon holds up everything that uses it (the containers, the pulls): it is asked more often.
DAEMON_POLL_INTERVAL = 0.2

_SUPERVISOR = """#!/bin/sh
# Written by the dockyard.registry collection: runs {name}, and runs it again whenever it exits.
# Started detached (setsid); its pid is in {supervisor_pid}, the program's in {pid}.
echo $$ >{supervisor_pid_q}
child=
trap 'if [ -n "$child" ]; then kill -TERM "$child" 2>/dev/null; wait "$child"; fi; rm -f {pid_q} {supervisor_pid_q}; exit 0' TERM INT
while :; do
  {command} &
  child=$!
  echo "$child" >{pid_q}
  while :; do
    wait "$child"
    status=$?
    # wait returns early (above 128) when a trapped signal arrives: the program may still run.
    kill -0 "$child" 2>/dev/null || break
  done
  child=
  echo "$(date -u '+%Y-%m-%dT%H:%M:%SZ') {name} exited with status $status; starting it again in 2 s"
  sleep 2
done
"""

_UNIT = """# Written by the dockyard.registry collection.
[Unit]
Description={description}
After=network-online.target
Wants=network-online.target

[Service]
ExecStart={command}
{user}{reload}Restart=always
RestartSec=2
LimitNOFILE=65536
StandardOutput=append:{log}
StandardError=append:{log}

[Install]
WantedBy=multi-user.target
"""


# The argument spec of the modules' option service_manager (doc fragment dockyard.registry._service).
SERVICE_MANAGER_OPTION = {"type": "str", "default": "auto", "choices": ["auto", "systemd", "direct"]}


class ServiceError(Exception):
    """The program could not be started, stopped or reached; the message says what to look at."""


class ServiceExited(ServiceError):
    """The program launched to start a service exited while it was awaited."""


class ServiceTimeout(ServiceError):
    """The service did not answer in time."""


def systemd_runs(root: str = "/") -> bool:
    """Whether systemd is the service manager of this host (as systemd's own sd_booted() tells).

    ``root`` is where the host's files are (a directory standing for it in tests).
    """
    return os.path.isdir(os.path.join(root, "run/systemd/system")) and shutil.which("systemctl") is not None


def read_pid(path: str) -> int | None:
    """The process ID a pid file holds; None where there is no file, or no number in it."""
    try:
        with open(path, encoding="ascii") as pidfile:
            return int(pidfile.read().strip())
    except (OSError, ValueError):
        return None


def process_name(pid: int) -> str | None:
    """The name (``comm``) of the live process ``pid``; None if there is none, or only a zombie (exited, not reaped)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8", errors="replace") as stat:
            fields = stat.read()
    except OSError:
        return None
    name, _paren, rest = fields.partition(" (")[2].rpartition(") ")
    return None if not rest or rest.startswith(("Z", "X")) else name


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie counts as gone)."""
    return process_name(pid) is not None


def command_line(pid: int) -> list[str]:
    """The command line the process ``pid`` was started with (OSError where it has gone)."""
    with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
        return [argument.decode() for argument in cmdline.read().split(b"\0") if argument]


def launch(run_command, argv: list[str], log: str, pid_file: str | None = None) -> int | None:
    """Run ``argv`` detached (its own session, so that it outlives the module), its output appended to ``log``;
    return its process ID, also written to ``pid_file`` where one is given.

    ``run_command`` is ``AnsibleModule.run_command``: it returns once the shell has put the program in the
    background, since the program keeps none of its pipes.
    """
    command = f"setsid {shlex.join(argv)} >>{shlex.quote(log)} 2>&1 </dev/null & echo $!"
    # From /: a daemon keeps the directory it started in, and one that is removed later breaks its re-execution
    # (HAProxy's master re-executes itself from there on each reload, and fails once it is gone).
    rc, out, err = run_command(command, use_unsafe_shell=True, cwd="/")
    if rc != 0:
        raise ServiceError(f"starting {argv[0]} failed: {(out + err).strip()}")
    pid = int(out.strip()) if out.strip().isdigit() else None
    if pid_file is not None and pid is not None:
        with open(pid_file, "w", encoding="ascii") as written:
            written.write(f"{pid}\n")
    return pid


def terminate(pid: int, timeout: float, kill: bool = False) -> bool:
    """SIGTERM ``pid`` and wait up to ``timeout`` seconds until it has gone; then SIGKILL it where ``kill`` says so.
    Whether it has gone."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if alive(pid) and kill:
        os.kill(pid, signal.SIGKILL)
    return not alive(pid)


def wait_until_ready(ready, timeout: float, launched: int | None = None, interval: float = POLL_INTERVAL) -> None:
    """Call ``ready()`` until it returns None (the service answers); it returns what it waits for meanwhile, and may
    raise to give up early. :class:`ServiceExited` where the process ``launched`` exits first, :class:`ServiceTimeout`
    after ``timeout`` seconds (both say what was awaited last)."""
    deadline = time.monotonic() + timeout
    waiting_for = ready()
    while waiting_for is not None:
        # Until it has become the program, a launched process is the shell or setsid that execs it.
        if launched is not None and not alive(launched):
            raise ServiceExited(waiting_for)
        if time.monotonic() > deadline:
            raise ServiceTimeout(waiting_for)
        time.sleep(interval)
        waiting_for = ready()


class Service:
    """One program kept running under ``name``.

    ``files`` is the module's :class:`Files`; ``run_command`` is ``AnsibleModule.run_command``. ``state_dir``
    holds the supervisor's script, ``run_dir`` the pid files, ``log`` the program's output. ``reload_signal``
    (a signal name such as ``USR2``) is sent instead of a restart when only the program's files changed and it
    can take them in without a restart. ``user`` (with its primary group) runs the program instead of root.
    ``before_start`` is called once the old program has stopped and before the new one starts.
    """

    def __init__(self, files, run_command, name: str, argv: list[str], *, description: str, log: str,
                 state_dir: str, run_dir: str = "/run/dockyard", manager: str = "auto",
                 reload_signal: str | None = None, timeout: float = 60, user: str | None = None,
                 before_start=None) -> None:
        bad = [argument for argument in argv if any(ord(char) < 0x20 or ord(char) == 0x7F for char in argument)]
        if bad:  # a newline would end the unit's ExecStart line, or the supervisor's command
            raise ServiceError(f"the command line of {name} holds a control character in {bad[0]!r}")
        self.files, self.run_command, self.name, self.argv = files, run_command, name, argv
        self.description, self.log, self.state_dir, self.run_dir = description, log, state_dir, run_dir
        self.reload_signal, self.timeout, self.user, self.before_start = reload_signal, timeout, user, before_start
        self.manager = ("systemd" if systemd_runs() else "direct") if manager == "auto" else manager
        self.unit_path = f"/etc/systemd/system/{name}.service"
        self.script = os.path.join(state_dir, f"{name}.run")
        self.pidfile = os.path.join(run_dir, f"{name}.pid")
        self.supervisor_pidfile = os.path.join(run_dir, f"{name}.supervisor.pid")

    # --- what is wanted ---

    def _supervisor_script(self) -> str:
        argv = self.argv
        if self.user:
            group = primary_group(self.user)
            argv = ["setpriv", f"--reuid={self.user}", f"--regid={group}", "--init-groups", "--no-new-privs", *argv]
        return _SUPERVISOR.format(
            name=self.name, command=shlex.join(argv), pid=self.pidfile, pid_q=shlex.quote(self.pidfile),
            supervisor_pid=self.supervisor_pidfile, supervisor_pid_q=shlex.quote(self.supervisor_pidfile))

    def _unit(self) -> str:
        reload = f"ExecReload=/bin/kill -{self.reload_signal} $MAINPID\n" if self.reload_signal else ""
        user = f"User={self.user}\nGroup={primary_group(self.user)}\nNoNewPrivileges=yes\n" if self.user else ""
        return _UNIT.format(description=self.description, command=shlex.join(self.argv), user=user, reload=reload,
                            log=self.log)

    # --- the program's state ---

    def supervisor_pid(self) -> int | None:
        """The supervisor's pid, when its pid file names a live process running this service's script."""
        pid = read_pid(self.supervisor_pidfile)
        if pid is None or not alive(pid):
            return None
        try:
            return pid if self.script in command_line(pid) else None
        except OSError:
            return None

    def program_pid(self) -> int | None:
        pid = read_pid(self.pidfile)
        return pid if pid is not None and alive(pid) else None

    def running(self) -> bool:
        if self.manager == "systemd":
            rc, _out, _err = self.run_command(["systemctl", "is-active", "--quiet", f"{self.name}.service"])
            return rc == 0
        return self.supervisor_pid() is not None

    # --- making it so ---

    def ensure(self, files_changed: bool, ready) -> str | None:
        """Keep the program running with its current definition; return what was done (None: nothing).

        ``files_changed``: a file the program reads changed in this run. ``ready()`` returns None once the
        program answers, else what it is waiting for.
        """
        log_dir = os.path.dirname(self.log)
        self.files.directory(log_dir, 0o755)
        if self.user:
            group = primary_group(self.user)
            if os.path.exists(self.log):
                self.files.attributes(self.log, 0o640, self.user, group)
            else:
                self.files.file(self.log, b"", 0o640, self.user, group)
        if self.manager == "systemd":
            definition_changed = self.files.file(self.unit_path, self._unit().encode(), 0o644)
        else:
            self.files.directory(self.state_dir, 0o755)
            definition_changed = self.files.file(self.script, self._supervisor_script().encode(), 0o755)
        running = self.running()
        if not running:
            action = "started"
        elif definition_changed or (files_changed and not self.reload_signal):
            action = "restarted"
        elif files_changed:
            action = "reloaded"
        else:
            # Nothing to change: it must still answer (a program that keeps exiting is restarted by its supervisor
            # over and over, and the wait fails with its log).
            if not self.files.check_mode:
                self.wait(ready)
            return None
        self.files.pending(f"service {self.name}", f"{self.description} {action}")
        if self.files.check_mode:
            return action
        if self.manager == "systemd":
            self._systemd(action, definition_changed)
        else:
            self._direct(action, running)
        self.wait(ready)
        return action

    def _systemd(self, action: str, definition_changed: bool) -> None:
        unit = f"{self.name}.service"
        if definition_changed:
            self._run(["systemctl", "daemon-reload"])
        self._run(["systemctl", "enable", unit])
        if self.before_start and action != "reloaded":
            if action == "restarted":
                self._run(["systemctl", "stop", unit])
            self.before_start()
            action = "started"
        verb = {"started": "start", "restarted": "restart", "reloaded": "reload"}[action]
        self._run(["systemctl", verb, unit])

    def _direct(self, action: str, running: bool) -> None:
        if action == "reloaded":
            pid = self.program_pid()
            if pid is None:
                raise ServiceError(f"{self.name} has no live process in {self.pidfile} to reload; see {self.log}")
            os.kill(pid, getattr(signal, f"SIG{self.reload_signal}"))
            return
        if running:
            self.stop()
        if self.before_start:
            self.before_start()
        os.makedirs(self.run_dir, mode=0o755, exist_ok=True)
        launch(self.run_command, ["/bin/sh", self.script], self.log)
        deadline = time.monotonic() + self.timeout
        while self.supervisor_pid() is None:
            if time.monotonic() > deadline:
                raise ServiceError(f"the supervisor of {self.name} wrote no pid file {self.supervisor_pidfile} "
                                   f"within {self.timeout:.0f} s; see {self.log}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the supervisor and the program (the program first, by the supervisor's trap); kill what lingers."""
        if self.manager == "systemd":
            self._run(["systemctl", "stop", f"{self.name}.service"])
            return
        supervisor, program = self.supervisor_pid(), self.program_pid()
        if supervisor is None:
            return
        # The supervisor's trap stops the program and waits for it before the supervisor exits.
        terminate(supervisor, STOP_TIMEOUT, kill=True)
        if program is not None and alive(program):
            os.kill(program, signal.SIGKILL)

    def wait(self, ready) -> None:
        try:
            wait_until_ready(ready, self.timeout)
        except ServiceTimeout as waiting_for:
            raise ServiceError(f"{self.description} ({self.name}) did not answer within {self.timeout:.0f} s: "
                               f"{waiting_for}. The end of {self.log}:\n{self.log_tail()}") from None

    def log_tail(self, lines: int = 30) -> str:
        try:
            with open(self.log, "rb") as log:
                log.seek(0, os.SEEK_END)
                log.seek(max(0, log.tell() - 16384))
                return "\n".join(log.read().decode("utf-8", "replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def _run(self, command: list[str]) -> None:
        rc, out, err = self.run_command(command)
        if rc != 0:
            raise ServiceError(f"{' '.join(command)} failed: {(out + err).strip()}")


class Daemon:
    """A daemon the host's packages installed (dockerd, containerd), found and restarted without scanning processes.

    ``name`` is its systemd unit and init script (``/etc/init.d/<name>``), ``process`` the name its live process has
    (``comm``), ``pid_file`` where its process ID is (the daemon's own, or the one its starter wrote), ``log`` where
    a relaunched daemon's output is appended; a relaunch writes its pid there unless the daemon writes it itself
    (``writes_pid_file``; dockerd does, containerd does not). ``root`` is where the host's files are (a directory in tests).
    The process is the one the pid file names, or systemd's main PID of the unit: never one found by scanning,
    which could find another daemon (one inside a container, say).
    """

    def __init__(self, run_command, name: str, process: str, pid_file: str, log: str, *, timeout: float = 60,
                 writes_pid_file: bool = True, root: str = "/") -> None:
        self.run_command, self.name, self.process, self.timeout = run_command, name, process, timeout
        self.writes_pid_file, self.root = writes_pid_file, root
        self.pid_file, self.log = self._real(pid_file), self._real(log)
        self.init_script = self._real(f"/etc/init.d/{name}")
        # The command line the daemon ran with, kept once it is stopped to start it again the same way.
        self.command: list[str] | None = None

    def _real(self, path: str) -> str:
        return os.path.join(self.root, path.lstrip("/")) if self.root not in ("", "/") else path

    def systemd(self) -> bool:
        """Whether systemd runs this daemon: it is the service manager and the unit is active."""
        if not systemd_runs(self.root):
            return False
        rc, _out, _err = self.run_command(["systemctl", "is-active", "--quiet", f"{self.name}.service"])
        return rc == 0

    def pid(self) -> int | None:
        """The daemon's pid: the pid file's when it names a live ``process``, else systemd's main PID of the unit."""
        pid = read_pid(self.pid_file)
        if pid is not None and process_name(pid) == self.process:
            return pid
        if systemd_runs(self.root):
            rc, out, _err = self.run_command(["systemctl", "show", "--property=MainPID", "--value", self.name])
            if rc == 0 and out.strip().isdigit() and process_name(int(out)) == self.process:
                return int(out)
        return None

    def restart(self, ready) -> dict | None:
        """Restart the daemon and wait until ``ready()`` (see :func:`wait_until_ready`) says it answers; return how
        (``method``: ``systemd``, ``init script`` or ``pid file``), None where none of them knows a running daemon.

        The way that started it, in order: its systemd unit, where systemd runs it; its init script, where the
        script's ``status`` says it runs it; the process its pid file names, stopped with SIGTERM and its own command
        line run again, detached (:meth:`relaunch`); the init script all the same, where one exists.
        """
        if self.systemd():
            self._run(["systemctl", "restart", self.name])
            self._wait(ready)
            return {"method": "systemd", "service": self.name}
        script = os.access(self.init_script, os.X_OK)
        if script and self.run_command([self.init_script, "status"])[0] == 0:
            return self._restart_with_init_script(ready)
        pid = self.pid()
        if pid is not None:
            self.command = self.command or command_line(pid)
            self.stop(pid)
            launched = self.launch(self.command, ready)
            return {"method": "pid file", "pid_file": self.pid_file, "pid_before": pid, "pid_after": launched}
        if script:
            return self._restart_with_init_script(ready)
        return None

    def _restart_with_init_script(self, ready) -> dict:
        self._run([self.init_script, "restart"])
        self._wait(ready)
        return {"method": "init script", "script": f"/etc/init.d/{self.name}"}

    def start(self, ready) -> None:
        """Start the daemon that does not run (a restart that did not come back), the way it ran before."""
        if systemd_runs(self.root):
            self._run(["systemctl", "restart", self.name])
        elif self.command is None:
            self._run([self.init_script, "start"])
        else:
            self.launch(self.command, ready)
            return
        self._wait(ready)

    def launch(self, command: list[str], ready) -> int | None:
        """Run the daemon's ``command`` line directly, detached (:meth:`relaunch`), and wait until ``ready()`` says it
        answers; return its pid. Also a daemon's first start where no service manager runs it."""
        self.command = list(command)
        launched = self.relaunch()
        self._wait(ready, launched)
        return launched

    def stop(self, pid: int) -> None:
        if not terminate(pid, self.timeout):
            raise ServiceError(f"{self.process} (pid {pid}) did not stop within {self.timeout:.0f} s of SIGTERM")

    def relaunch(self) -> int | None:
        """Run the daemon's command line again, detached, its output appended to the log; return the new pid."""
        if not os.path.isdir(os.path.dirname(self.log) or "."):
            raise ServiceError(f"the directory of the log {self.log} does not exist")
        return launch(self.run_command, self.command, self.log, None if self.writes_pid_file else self.pid_file)

    def _wait(self, ready, launched: int | None = None) -> None:
        wait_until_ready(ready, self.timeout, launched, interval=DAEMON_POLL_INTERVAL)

    def _run(self, command: list[str]) -> None:
        rc, out, err = self.run_command(command)
        if rc != 0:
            raise ServiceError(f"{' '.join(command)} failed (exit {rc}): {(out + err).strip()}")
