"""docker_daemon_config against real Docker daemons, each inside a Docker host container of its own.

The host containers are run the way the molecule scenarios run them (molecule/resources/docker_host.yml),
except that their main process is not dockerd: the daemon is started beside it, directly, as on a
machine without systemd, so that a restart does not end the container.
"""

from __future__ import annotations

import json
import subprocess

import pytest

from support import DockerHost, docker

SEEDED = {"log-level": "warn", "runtimes": {"crun": {"path": "/usr/bin/crun"}}}
DAEMON_JSON = "/etc/docker/daemon.json"


class DaemonConfigHost(DockerHost):
    """A Docker host whose daemon.json starts as ``SEEDED``."""

    def __init__(self, flags: list[str]) -> None:
        super().__init__(flags, "dockyard-daemon-config-", SEEDED)

    def insecure_registries(self) -> list[str]:
        configs = self.info()["RegistryConfig"]["IndexConfigs"]
        return sorted(name for name, config in configs.items() if not config["Secure"])

    def configure(self, *extra: str, **args) -> dict:
        return self.run_module("dockyard.registry.docker_daemon_config", args, *extra)


@pytest.fixture
def docker_host():
    hosts = []

    def start(flags=()):
        host = DaemonConfigHost(list(flags))
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.remove()


@pytest.fixture(scope="module")
def keeper_image(registry) -> str:
    """An image that runs for good (the registry's own), to start a container inside a Docker host."""
    return docker("inspect", "--format", "{{.Config.Image}}", "dockyard-registry").stdout.strip()


def start_keeper(host: DaemonConfigHost, image: str) -> str:
    saved = subprocess.run(["docker", "save", image], check=True, capture_output=True)
    subprocess.run(["docker", "exec", "-i", host.name, "docker", "load"], input=saved.stdout, check=True,
                   capture_output=True)
    host.exec("docker", "run", "--detach", "--name", "keeper", image)
    return host.exec("docker", "inspect", "--format", "{{.State.StartedAt}}", "keeper").stdout.strip()


def test_insecure_registry_is_reloaded_keeping_pid_containers_and_other_keys(docker_host, keeper_image):
    host = docker_host()
    started_at = start_keeper(host, keeper_image)
    pid = host.dockerd_pid()

    result = host.configure(settings={"insecure-registries": ["registry.example.test:5000"]})

    assert not result.get("failed"), result
    assert (result["changed"], result["daemon_action"]) == (True, "reload")
    assert result["pid_before"] == result["pid_after"] == pid == host.dockerd_pid()
    assert host.insecure_registries() == ["registry.example.test:5000"]
    assert json.loads(host.read(DAEMON_JSON)) == {**SEEDED, "insecure-registries": ["registry.example.test:5000"]}
    keeper = host.exec("docker", "inspect", "--format", "{{.State.Running}} {{.State.StartedAt}}", "keeper").stdout
    assert keeper.split() == ["true", started_at]
    assert "CIS Docker Benchmark 2.5" in " ".join(result.get("warnings", []))

    again = host.configure(settings={"insecure-registries": ["registry.example.test:5000"]})
    assert (again["changed"], again["daemon_action"], again["pid_after"]) == (False, "none", pid)


def test_key_that_needs_a_restart_restarts_and_waits_for_the_daemon(docker_host):
    host = docker_host()
    pid = host.dockerd_pid()

    result = host.configure(settings={"log-level": "info"})

    assert not result.get("failed"), result
    assert (result["changed"], result["daemon_action"], result["pid_before"]) == (True, "restart", pid)
    assert result["pid_after"] != pid
    assert host.dockerd_pid() == result["pid_after"]
    assert host.info()["ServerVersion"]
    assert json.loads(host.read(DAEMON_JSON))["log-level"] == "info"
    assert host.exec("test", "-e", result["backup_file"], check=False).returncode == 0


def test_absent_removes_only_the_given_entries(docker_host):
    host = docker_host()
    host.configure(settings={"insecure-registries": ["a.example.test:5000", "b.example.test:5000"]})

    result = host.configure(settings={"insecure-registries": ["a.example.test:5000"]}, state="absent")

    assert (result["changed"], result["daemon_action"]) == (True, "reload")
    assert host.insecure_registries() == ["b.example.test:5000"]
    assert json.loads(host.read(DAEMON_JSON)) == {**SEEDED, "insecure-registries": ["b.example.test:5000"]}


def test_check_mode_predicts_the_reload_and_changes_nothing(docker_host):
    host = docker_host()
    before = host.read(DAEMON_JSON)

    result = host.configure("--check", "--diff", settings={"insecure-registries": ["c.example.test:5000"]})

    assert (result["changed"], result["daemon_action"]) == (True, "reload")
    assert "c.example.test:5000" in result["diff"]["after"]
    assert host.read(DAEMON_JSON) == before
    assert host.insecure_registries() == []


def test_invalid_json_fails_naming_the_error_and_touches_nothing(docker_host):
    host = docker_host()
    broken = '{\n  "log-level": "warn"\n  "debug": true\n}\n'
    host.write(DAEMON_JSON, broken)
    pid = host.dockerd_pid()

    result = host.configure(settings={"insecure-registries": ["d.example.test:5000"]})

    assert result.get("failed"), result
    assert result["msg"].startswith(f"{DAEMON_JSON} is not valid JSON: line 3, column 3: Expecting ',' delimiter")
    assert host.read(DAEMON_JSON) == broken
    assert host.dockerd_pid() == pid
    leftovers = [name for name in host.exec("ls", "-a", "/etc/docker").stdout.split() if "daemon.json" in name]
    assert leftovers == ["daemon.json"]  # no backup, no staged file


def test_flag_conflict_fails_naming_the_flag_and_touches_nothing(docker_host):
    host = docker_host(["--insecure-registry", "e.example.test:5000"])
    before = host.read(DAEMON_JSON)
    pid = host.dockerd_pid()

    result = host.configure(settings={"insecure-registries": ["f.example.test:5000"]})

    assert result.get("failed"), result
    assert "insecure-registries (the daemon runs with --insecure-registry)" in result["msg"]
    assert host.read(DAEMON_JSON) == before
    assert host.dockerd_pid() == pid
    assert host.insecure_registries() == ["e.example.test:5000"]


def test_module_file_stays_root_owned_and_world_readable(docker_host):
    host = docker_host()
    host.configure(settings={"registry-mirrors": ["https://mirror.example.test"]})
    assert host.exec("stat", "-c", "%U %G %a", DAEMON_JSON).stdout.split() == ["root", "root", "644"]


def test_missing_file_is_created(docker_host):
    host = docker_host()
    host.exec("rm", DAEMON_JSON)
    result = host.configure(settings={"insecure-registries": ["g.example.test:5000"]})
    assert (result["changed"], result["daemon_action"]) == (True, "reload"), result
    assert json.loads(host.read(DAEMON_JSON)) == {"insecure-registries": ["g.example.test:5000"]}
    assert "backup_file" not in result
