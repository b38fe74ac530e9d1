"""The service helper's life of a daemon the host's packages installed (dockerd, containerd), with real processes.

The daemon of these tests is ``sleep`` started detached, as a daemon is on a host without systemd; its host is a
directory (``root``) with the pid file and, where a test wants one, an init script. The commands run for real.
"""

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._service import (
    Daemon,
    ServiceExited,
    ServiceTimeout,
    alive,
    command_line,
    launch,
    process_name,
    read_pid,
    terminate,
)


def run_command(args, use_unsafe_shell=False, cwd=None):
    done = subprocess.run(args, check=False, shell=use_unsafe_shell, capture_output=True, text=True, cwd=cwd)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture
def host(tmp_path):
    (tmp_path / "run").mkdir()
    (tmp_path / "var" / "log").mkdir(parents=True)
    return tmp_path


@pytest.fixture
def started(host):
    """A ``sleep`` daemon started detached, its pid in the host's /run/sleepd.pid; stopped after the test."""
    launched = []

    def start(argv=("sleep", "300"), pid_file=host / "run" / "sleepd.pid"):
        pid = launch(run_command, list(argv), str(host / "var" / "log" / "sleepd.log"), str(pid_file))
        wait_for_name(pid, argv[0])
        launched.append(pid)
        return pid

    yield start
    for pid in launched + [read_pid(host / "run" / "sleepd.pid")]:
        if pid is not None and alive(pid):
            terminate(pid, 5, kill=True)


def wait_for_name(pid, name):
    """Until ``pid`` runs ``name`` with its arguments in place: the kernel names the process before it maps the new
    program's command line, and /proc/<pid>/cmdline reads empty in between."""
    deadline = time.monotonic() + 10
    while process_name(pid) != name or not command_line(pid):  # the shell that execs it, until then
        assert time.monotonic() < deadline, f"{pid} did not become {name}"
        time.sleep(0.02)


def sleepd(host, **options):
    return Daemon(run_command, "sleepd", "sleep", "/run/sleepd.pid", "/var/log/sleepd.log", root=str(host),
                  writes_pid_file=False, **options)


def test_a_launched_program_outlives_its_shell_in_a_session_of_its_own_and_writes_its_pid_file(host, started):
    pid = started()

    assert read_pid(host / "run" / "sleepd.pid") == pid
    assert command_line(pid) == ["sleep", "300"]
    assert os.getsid(pid) == pid != os.getsid(0)


def test_a_restart_by_pid_file_runs_the_same_command_line_again_and_writes_the_new_pid(host, started):
    before = started(("sleep", "301"))

    how = sleepd(host).restart(lambda: None)

    after = read_pid(host / "run" / "sleepd.pid")
    assert how == {"method": "pid file", "pid_file": str(host / "run" / "sleepd.pid"), "pid_before": before,
                   "pid_after": after}
    assert after != before and not alive(before)
    wait_for_name(after, "sleep")
    assert command_line(after) == ["sleep", "301"]


def test_the_init_script_restarts_a_daemon_whose_status_it_reports(host, started):
    started()
    script = host / "etc" / "init.d" / "sleepd"
    script.parent.mkdir(parents=True)
    script.write_text(f'#!/bin/sh\necho "$1" >>{host}/calls\n[ "$1" = status ] && exit 0\nexit 0\n')
    script.chmod(0o755)

    how = sleepd(host).restart(lambda: None)

    assert how == {"method": "init script", "script": "/etc/init.d/sleepd"}
    assert (host / "calls").read_text().split() == ["status", "restart"]


def test_an_init_script_that_does_not_run_it_leaves_the_pid_file_way(host, started):
    before = started()
    script = host / "etc" / "init.d" / "sleepd"
    script.parent.mkdir(parents=True)
    script.write_text(f'#!/bin/sh\necho "$1" >>{host}/calls\n[ "$1" = status ] && exit 3\nexit 1\n')
    script.chmod(0o755)

    how = sleepd(host).restart(lambda: None)

    assert how["method"] == "pid file" and how["pid_before"] == before
    assert (host / "calls").read_text().split() == ["status"]


def test_a_pid_file_naming_another_program_is_not_the_daemon(host, started):
    other = started(("sleep", "300"))
    daemon = Daemon(run_command, "otherd", "otherd", "/run/sleepd.pid", "/var/log/sleepd.log", root=str(host))

    assert daemon.pid() is None
    assert daemon.restart(lambda: None) is None
    assert alive(other)


def test_a_relaunched_daemon_that_exits_fails_the_wait_at_once(host, started):
    started()
    daemon = sleepd(host, timeout=30)
    daemon.command = ["sh", "-c", "exit 3"]  # what it runs again, as if its command line had changed meanwhile

    began = time.monotonic()
    with pytest.raises(ServiceExited, match="the sleepd socket"):
        daemon.restart(lambda: "the sleepd socket")
    assert time.monotonic() - began < 10


def test_a_first_start_launches_the_command_detached_appends_its_log_and_waits_until_it_answers(host):
    log = host / "var" / "log" / "sleepd.log"
    log.write_text("an earlier run\n")
    daemon = sleepd(host, timeout=10)
    asked = []

    def ready():  # it answers once it is sleep (the shell execs it), named by its pid file
        asked.append(daemon.pid())
        return None if asked[-1] is not None else "sleep"

    pid = daemon.launch(["sh", "-c", "echo started; exec sleep 300"], ready)
    try:
        assert pid == read_pid(host / "run" / "sleepd.pid") == asked[-1] and process_name(pid) == "sleep"
        assert os.getsid(pid) == pid != os.getsid(0) and os.readlink(f"/proc/{pid}/cwd") == "/"
        assert log.read_text() == "an earlier run\nstarted\n"
    finally:
        terminate(pid, 5, kill=True)


def test_a_daemon_that_never_answers_fails_the_wait_after_its_timeout(host, started):
    started()

    with pytest.raises(ServiceTimeout, match="an answer that never comes"):
        sleepd(host, timeout=1).restart(lambda: "an answer that never comes")


def test_a_daemon_starts_in_the_root_directory_whatever_the_callers(tmp_path, monkeypatch):
    """A daemon keeps the directory it started in: one removed later breaks HAProxy's re-execution on reload."""
    monkeypatch.chdir(tmp_path)
    pid = launch(run_command, ["sleep", "30"], str(tmp_path / "sleep.log"))
    try:
        assert os.readlink(f"/proc/{pid}/cwd") == "/"
    finally:
        terminate(pid, 5, kill=True)


def ignores_sigterm(pid: int) -> bool:
    """Whether the process ignores SIGTERM (signal 15: bit 14 of SigIgn in /proc/<pid>/status)."""
    status = Path(f"/proc/{pid}/status").read_text()
    mask = next(line.split()[1] for line in status.splitlines() if line.startswith("SigIgn:"))
    return bool(int(mask, 16) & (1 << (signal.SIGTERM - 1)))


def test_a_daemon_that_ignores_sigterm_is_reported_not_killed(host, started):
    pid = started(("sh", "-c", "trap '' TERM; sleep 300 & wait"))
    deadline = time.monotonic() + 5
    while not ignores_sigterm(pid):  # the shell has run its trap: a SIGTERM before it would end the shell
        assert time.monotonic() < deadline, "the shell never ignored SIGTERM"
        time.sleep(0.02)

    assert terminate(pid, 0.5) is False and alive(pid)
    terminate(pid, 0.5, kill=True)
    deadline = time.monotonic() + 5
    while alive(pid):
        assert time.monotonic() < deadline, "SIGKILL did not end it"
        time.sleep(0.02)
