"""The docker_engine role's direct start of dockerd (docker_engine_start_method dockerd, and auto where the init script
cannot run), on Docker hosts of the test's own whose dockerd does not run: a host as the engine role finds it after
installing Debian's docker.io, without the Docker SDK for Python (the site playbook's preflight installs it only where
Docker is there already).

Its tasks file dockerd.yml is run on its own: the role's probe and install steps need APT's network.
"""

from __future__ import annotations

import json

import pytest
from daemon_hosts import DAEMON_JSON, HOST_SETTINGS, DockerHost, write_inventory

from support import run_playbook

LOG = "/var/log/dockyard-test/dockerd.log"
PIDFILE = "/run/dockerd-direct.pid"
DAEMON_SETTINGS = {"max-concurrent-uploads": 3}


def playbook(tmp_path, **role_vars) -> str:
    path = tmp_path / "start.yml"
    path.write_text(json.dumps([{
        "name": "Start dockerd directly",
        "hosts": "docker_hosts",
        "gather_facts": False,
        # What the environment gives the daemon: the role sets nothing of its own.
        "environment": {"DOCKYARD_TEST_MARK": "from-the-play"},
        "tasks": [{"name": "Run the role's direct start",
                   "ansible.builtin.include_role": {"name": "dockyard.registry.docker_engine", "tasks_from": "dockerd"},
                   "vars": {"docker_engine_dockerd_log": LOG, "docker_engine_dockerd_pidfile": PIDFILE,
                            "docker_engine_start_timeout": 60, **role_vars}}],
    }]))
    return str(path)


@pytest.fixture
def bare_host(docker_host) -> DockerHost:
    """A molecule Docker host (docker.io installed, no Docker SDK for Python) whose dockerd is not started."""
    host = docker_host(image=HOST_SETTINGS["image"], start=False, daemon_json=DAEMON_SETTINGS)
    host.exec("sh", "-c", f"mkdir -p {LOG.rsplit('/', 1)[0]} && echo 'an earlier run' >{LOG}")
    return host


def environ(host: DockerHost, pid: int) -> dict[str, str]:
    raw = host.exec("cat", f"/proc/{pid}/environ").stdout
    return dict(entry.split("=", 1) for entry in raw.split("\0") if "=" in entry)


def test_dockerd_starts_detached_with_its_arguments_and_a_second_run_changes_nothing(bare_host, tmp_path):
    inventory = write_inventory(tmp_path / "hosts.yml", [bare_host])
    start = playbook(tmp_path, docker_engine_dockerd_extra_args=["--log-level", "info"])
    assert bare_host.exec("python3", "-c", "import docker", check=False).returncode != 0  # no SDK on this host

    checked = run_playbook(start, "--check", inventory=inventory)
    assert checked.returncode == 0 and checked.recap[bare_host.name]["changed"] == 1, str(checked)
    assert bare_host.exec("pidof", "dockerd", check=False).returncode != 0  # check mode starts nothing

    first = run_playbook(start, inventory=inventory)
    assert first.returncode == 0 and first.recap[bare_host.name]["changed"] == 1, str(first)
    pid = int(bare_host.read(PIDFILE))
    assert bare_host.dockerd_pid() == pid
    argv = bare_host.exec("cat", f"/proc/{pid}/cmdline").stdout.split("\0")[:-1]
    assert argv[1:] == ["--pidfile", PIDFILE, "--log-level", "info"], argv
    assert bare_host.exec("readlink", f"/proc/{pid}/cwd").stdout.strip() == "/"
    assert bare_host.exec("sh", "-c", f"cat /proc/{pid}/stat").stdout.split(") ")[1].split()[3] == str(pid)  # session
    assert environ(bare_host, pid).get("DOCKYARD_TEST_MARK") == "from-the-play"
    log = bare_host.read(LOG)
    assert log.startswith("an earlier run\n") and "API listen on /var/run/docker.sock" in log, log
    assert bare_host.exec("docker", "info", "--format", "{{.ServerVersion}}").returncode == 0
    assert json.loads(bare_host.read(DAEMON_JSON)) == DAEMON_SETTINGS  # settings {}: daemon.json as it was

    again = run_playbook(start, inventory=inventory)
    assert again.returncode == 0 and again.recap[bare_host.name]["changed"] == 0, str(again)
    assert bare_host.dockerd_pid() == pid


def test_a_daemon_that_does_not_start_fails_the_task_with_its_own_words(bare_host, tmp_path):
    inventory = write_inventory(tmp_path / "hosts.yml", [bare_host])
    start = playbook(tmp_path, docker_engine_dockerd_extra_args=["--config-file", "/etc/docker/missing.json"])

    run = run_playbook(start, inventory=inventory)

    assert run.returncode != 0 and run.recap[bare_host.name]["failed"] == 1, str(run)
    assert "the daemon did not start: unable to configure the Docker daemon with file /etc/docker/missing.json" in \
        run.output, str(run)
