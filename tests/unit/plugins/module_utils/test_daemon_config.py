"""A change of daemon.json (``_daemon_config.DaemonConfig``) through a real AnsibleModule and this machine's dockerd.

No daemon runs for these tests unless one is made to: a ``DaemonProcess`` whose pid file names nothing is a host
whose engine is installed but stopped (the file is written, nothing is applied). Where a daemon must run, a
``DaemonProcess`` of the test stands for it: a real process, whose reload the test makes fail as it likes.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess

import pytest
from requests.exceptions import ConnectionError as RequestsConnectionError

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_config import DaemonConfig
from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import DaemonError
from ansible_collections.dockyard.registry.plugins.module_utils._docker_daemon import DaemonProcess
from ansible_collections.dockyard.registry.plugins.module_utils._files import REDACTED

PROXIES = {"http-proxy": "http://bob:hunter2@proxy.example.test:3128", "no-proxy": "localhost"}


@pytest.fixture
def stopped_daemon(ansible_module, tmp_path):
    """A DaemonProcess of a host where dockerd is installed and does not run."""
    return lambda module: DaemonProcess(module.run_command, pidfile=str(tmp_path / "no-such-dockerd.pid"))


@pytest.fixture
def open_umask():
    previous = os.umask(0)
    yield
    os.umask(previous)


def test_a_new_daemon_json_is_at_no_moment_writable_by_others(ansible_module, stopped_daemon, file_events, tmp_path,
                                                              open_umask):
    path = tmp_path / "docker" / "daemon.json"
    module = ansible_module()

    with file_events(tmp_path) as events:
        result = DaemonConfig(module, str(path), {"insecure-registries": ["r.example.test:5000"]},
                              daemon=stopped_daemon(module)).run()

    assert (result["changed"], result["daemon_action"]) == (True, "none")
    assert [(path, mode) for path, mode in events.modes if mode & ~0o644] == []
    assert [(destination, oct(mode)) for destination, mode, _uid, _gid in events.renames] == [(str(path), "0o644")]
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


class StandInDaemon(DaemonProcess):
    """A running Docker 24 (a real process of the test, ``sleep``) whose reloads and restarts are counted, and whose
    reloads raise ``failures`` one after the other (None: the reload goes through)."""

    def __init__(self, run_command, process: subprocess.Popen, failures=()) -> None:
        self.process, self.failures = process, list(failures)
        self.reloads = self.restarts = 0
        super().__init__(run_command, pidfile="/nonexistent")

    def find_pid(self):
        return self.process.pid

    def argv(self):
        return ["dockerd"]

    def unit_argv(self):
        return []

    def info(self):
        return {"ServerVersion": "24.0.7", "LiveRestoreEnabled": False}

    def containers(self):
        return {}

    def validate(self, path):
        return "dockerd --validate"

    def reload(self):
        self.reloads += 1
        failure = self.failures.pop(0) if self.failures else None
        if failure is not None:
            raise failure

    def restart(self):
        self.restarts += 1


@pytest.fixture
def running_process():
    process = subprocess.Popen(["sleep", "60"])
    yield process
    process.kill()
    process.wait()


def test_the_diff_shows_no_proxy_password_and_the_backup_is_readable_by_root_alone(
        ansible_module, running_process, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"proxies": PROXIES}, indent=2) + "\n")
    path.chmod(0o644)
    module = ansible_module()

    result = DaemonConfig(module, str(path), {"proxies": {**PROXIES, "https-proxy": "http://eve:opensesame@p:3128"}},
                          daemon=StandInDaemon(module.run_command, running_process)).run()

    diff = result["diff"]
    assert "hunter2" not in diff["before"] + diff["after"] and "opensesame" not in diff["after"]
    assert f'"http-proxy": "http://{REDACTED}@proxy.example.test:3128"' in diff["before"]
    assert f'"https-proxy": "http://{REDACTED}@p:3128"' in diff["after"]
    backup = result["backup_file"]
    with open(backup, encoding="utf-8") as kept:
        assert (stat.S_IMODE(os.stat(backup).st_mode), json.load(kept)) == (0o600, {"proxies": PROXIES})
    assert json.loads(path.read_text())["proxies"]["https-proxy"] == "http://eve:opensesame@p:3128"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_check_mode_redacts_the_diff_too_and_writes_nothing(ansible_module, running_process, tmp_path):
    path = tmp_path / "daemon.json"
    path.write_text(json.dumps({"proxies": PROXIES}) + "\n")
    module = ansible_module(check_mode=True)

    result = DaemonConfig(module, str(path), {"debug": True},
                          daemon=StandInDaemon(module.run_command, running_process)).run()

    assert result["changed"] and "hunter2" not in result["diff"]["before"] + result["diff"]["after"]
    assert sorted(os.listdir(tmp_path)) == ["daemon.json"]


def test_any_error_of_the_reload_puts_the_previous_file_back(ansible_module, running_process, tmp_path):
    path = tmp_path / "daemon.json"
    before = json.dumps({"log-level": "warn"}, indent=2) + "\n"
    path.write_text(before)
    module = ansible_module()
    daemon = StandInDaemon(module.run_command, running_process, failures=[RequestsConnectionError(
        "('Connection aborted.', ConnectionResetError(104, 'Connection reset by peer'))")])

    with pytest.raises(DaemonError) as failed:
        DaemonConfig(module, str(path), {"insecure-registries": ["r.example.test:5000"]}, daemon=daemon).run()

    assert path.read_text() == before
    assert daemon.reloads == 2  # the failed one, and the one that takes the previous file in again
    assert str(failed.value).startswith(f"the daemon did not take the new {path} (changing insecure-registries): "
                                        "ConnectionError: ('Connection aborted.'")
    assert f"The previous {path} is back in place, and the daemon runs on it (pid {running_process.pid})" \
        in str(failed.value)
