"""docker_daemon_config against real Docker daemons, each inside a Docker host container of its own.

The host containers are run the way the molecule scenarios run them (molecule/resources/docker_host.yml),
except that their main process is not dockerd: the daemon is started beside it, directly, as on a
machine without systemd, so that a restart does not end the container.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import pytest
import yaml

from support import ROOT, run_module

HOST_SETTINGS = yaml.safe_load((ROOT / "molecule" / "resources" / "docker_host.yml").read_text())[
    "dockyard_molecule_docker_host"]
SEEDED = {"log-level": "warn", "runtimes": {"crun": {"path": "/usr/bin/crun"}}}
DAEMON_JSON = "/etc/docker/daemon.json"


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, **kwargs)


class DockerHost:
    """A container with a dockerd of its own, started directly with ``flags``."""

    def __init__(self, flags: list[str]) -> None:
        self.name = f"dockyard-dmn-{uuid.uuid4().hex[:8]}"
        options = [f"--cap-add={cap}" for cap in HOST_SETTINGS["capabilities"]]
        options += [f"--security-opt={opt}" for opt in HOST_SETTINGS["security_opts"]]
        options += [f"--cgroupns={HOST_SETTINGS['cgroupns_mode']}"]
        options += [f"--volume={volume}" for volume in HOST_SETTINGS["volumes"]]
        docker("run", "--detach", "--name", self.name, *options, HOST_SETTINGS["libraries_image"],
               "/usr/bin/tini", "--", "sleep", "infinity")
        self.exec("mkdir", "-p", "/etc/docker")
        self.write(DAEMON_JSON, json.dumps(SEEDED, indent=2) + "\n")
        command = "/usr/local/sbin/dockyard-dind " + " ".join(flags) + " >>/var/log/dockerd.log 2>&1"
        docker("exec", "--detach", self.name, "sh", "-c", command)
        self.wait_until_answering()

    def exec(self, *args: str, check: bool = True, stdin: str | None = None) -> subprocess.CompletedProcess:
        return docker("exec", "-i", self.name, *args, check=check, input=stdin)

    def write(self, path: str, content: str) -> None:
        self.exec("sh", "-c", f"cat > {path}", stdin=content)

    def read(self, path: str) -> str:
        return self.exec("cat", path).stdout

    def wait_until_answering(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while self.exec("docker", "info", check=False).returncode != 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"dockerd in {self.name} did not answer: {self.read('/var/log/dockerd.log')}")
            time.sleep(0.5)

    def now(self) -> str:
        return self.exec("date", "+%s.%N").stdout.strip()

    def reloads(self, since: str) -> list[dict]:
        """The daemon's reload events since ``since`` (a time of ``now()``), each confirming a file it took in."""
        events = self.exec("docker", "events", "--since", since, "--until", self.now(), "--filter", "type=daemon",
                           "--filter", "event=reload", "--format", "{{json .}}").stdout
        return [json.loads(line) for line in events.splitlines()]

    def dockerd_pid(self) -> int:
        return int(self.exec("pidof", "dockerd").stdout.split()[0])

    def info(self) -> dict:
        return json.loads(self.exec("docker", "info", "--format", "{{json .}}").stdout)

    def insecure_registries(self) -> list[str]:
        configs = self.info()["RegistryConfig"]["IndexConfigs"]
        return sorted(name for name, config in configs.items() if not config["Secure"])

    def configure(self, *extra: str, **args) -> dict:
        return run_module("dockyard.registry.docker_daemon_config", args, "-c", "community.docker.docker",
                          "-e", "ansible_python_interpreter=/usr/bin/python3", *extra,
                          host=self.name, inventory=f"{self.name},")

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name, check=False)


@pytest.fixture
def docker_host():
    hosts = []

    def start(flags=()):
        host = DockerHost(list(flags))
        hosts.append(host)
        return host

    yield start
    for host in hosts:
        host.remove()


@pytest.fixture(scope="module")
def keeper_image(scratch_registry_image) -> str:
    """An image that runs for good (the registry's), to start a container inside a Docker host."""
    return scratch_registry_image


def start_keeper(host: DockerHost, image: str, name: str = "keeper") -> str:
    if host.exec("docker", "image", "inspect", image, check=False).returncode != 0:
        saved = subprocess.run(["docker", "save", image], check=True, capture_output=True)
        subprocess.run(["docker", "exec", "-i", host.name, "docker", "load"], input=saved.stdout, check=True,
                       capture_output=True)
    host.exec("docker", "run", "--detach", "--name", name, image)
    return host.exec("docker", "inspect", "--format", "{{.State.StartedAt}}", name).stdout.strip()


def process(host: DockerHost, container: str) -> list[str]:
    """Whether the container runs, its main process and its start time."""
    return host.exec("docker", "inspect", "--format", "{{.State.Running}} {{.State.Pid}} {{.State.StartedAt}}",
                     container).stdout.split()


def test_insecure_registry_is_reloaded_keeping_pid_containers_and_other_keys(docker_host, keeper_image):
    host = docker_host()
    started_at = start_keeper(host, keeper_image)
    pid = host.dockerd_pid()

    result = host.configure(settings={"insecure-registries": ["registry.example.test:5000"]})

    assert not result.get("failed"), result
    assert (result["changed"], result["daemon_action"]) == (True, "reload")
    assert result["pid_before"] == result["pid_after"] == pid == host.dockerd_pid()
    assert (result["containers_kept"], result["containers"]["running_before"]) == (True, ["keeper"])
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


# The daemon refuses the new file: the previous one is put back, and the daemon runs on it.


def test_restart_that_does_not_come_back_restores_the_file_and_the_daemon(docker_host):
    host = docker_host()
    before = host.read(DAEMON_JSON)
    driver = host.info()["Driver"]

    result = host.configure(settings={"storage-driver": "no-such-driver"})

    assert result.get("failed"), result
    assert result["msg"].startswith(f"the daemon did not take the new {DAEMON_JSON} (changing storage-driver): "
                                    "the daemon did not start: "), result["msg"]
    assert "failed to start daemon: error initializing graphdriver: driver not supported. " in result["msg"]
    assert f"The previous {DAEMON_JSON} is back in place, and the daemon runs on it (pid " in result["msg"]
    assert host.read(DAEMON_JSON) == before
    assert host.info()["Driver"] == driver


def test_reload_the_daemon_refuses_restores_the_file_and_reloads_it(docker_host):
    host = docker_host()
    before = host.read(DAEMON_JSON)
    pid = host.dockerd_pid()
    since = host.now()

    result = host.configure(settings={"default-runtime": "no-such-runtime"})

    assert result.get("failed"), result
    assert ("(changing default-runtime): the daemon (pid %d) refused to reload: file configuration validation failed: "
            "specified default runtime 'no-such-runtime' does not exist." % pid) in result["msg"], result["msg"]
    assert host.read(DAEMON_JSON) == before
    assert host.dockerd_pid() == pid
    assert host.info()["DefaultRuntime"] == "runc"
    # The daemon took the previous file in again, after it refused the new one.
    assert len(host.reloads(since)) == 1


def test_key_the_release_does_not_know_is_refused_before_anything_changes(docker_host):
    host = docker_host()
    before = host.read(DAEMON_JSON)
    pid = host.dockerd_pid()

    result = host.configure(settings={"no-new-privilege": True, "icc": False})

    assert result.get("failed"), result
    assert result["msg"] == ("Docker 20.10.24 does not know the daemon.json key no-new-privilege: it would refuse to "
                             "start with it. Leave no-new-privilege out of the settings for this host, or upgrade its "
                             "engine. Nothing was changed.")
    assert host.read(DAEMON_JSON) == before
    assert host.dockerd_pid() == pid


# keep_containers: a restart without stopping a container.


def test_keep_containers_turns_live_restore_on_first_and_restarts_under_the_containers(docker_host, keeper_image):
    host = docker_host()
    start_keeper(host, keeper_image)
    keeper = process(host, "keeper")
    pid = host.dockerd_pid()
    settings = {"icc": False, "no-new-privileges": True}

    predicted = host.configure("--check", settings=settings, keep_containers=True)
    assert (predicted["daemon_action"], predicted["live_restore_first"]) == ("restart", True), predicted
    assert host.dockerd_pid() == pid

    result = host.configure(settings=settings, keep_containers=True)

    assert not result.get("failed"), result
    assert (result["daemon_action"], result["live_restore_first"], result["containers_kept"]) == ("restart", True, True)
    assert result["changed_keys"] == ["icc", "live-restore", "no-new-privileges"]
    assert result["pid_after"] != pid == result["pid_before"]
    # The daemon that stopped had live-restore off until the module's reload: without that reload, it would have
    # stopped the keeper on its way down.
    assert process(host, "keeper") == keeper
    assert json.loads(host.read(DAEMON_JSON)) == {**SEEDED, **settings, "live-restore": True}
    assert host.info()["LiveRestoreEnabled"] is True
    # icc belongs to the default bridge, which keeps its settings while containers run through the restart.
    assert result["deferred_keys"] == ["icc"]
    assert "icc: the default bridge network keeps its settings" in " ".join(result["warnings"])
    bridge = json.loads(host.exec("docker", "network", "inspect", "bridge", "--format", "{{json .Options}}").stdout)
    assert bridge["com.docker.network.bridge.enable_icc"] == "true"

    again = host.configure(settings=settings, keep_containers=True)
    assert (again["changed"], again["daemon_action"]) == (False, "none"), again


def test_keep_containers_keeps_them_through_a_refused_restart_too(docker_host, keeper_image):
    host = docker_host()
    start_keeper(host, keeper_image)
    keeper = process(host, "keeper")

    result = host.configure(settings={"storage-driver": "no-such-driver"}, keep_containers=True)

    assert result.get("failed"), result
    assert "failed to start daemon: error initializing graphdriver: driver not supported" in result["msg"]
    assert result["msg"].endswith(", with live-restore on, which keeps the containers through the daemon's restarts.")
    # The previous file, with the live-restore that the daemon took in before the restart, so that it kept them.
    assert json.loads(host.read(DAEMON_JSON)) == {**SEEDED, "live-restore": True}
    assert process(host, "keeper") == keeper


def test_keep_containers_refuses_settings_that_turn_live_restore_off(docker_host):
    host = docker_host()
    before = host.read(DAEMON_JSON)

    result = host.configure(settings={"live-restore": False, "icc": False}, keep_containers=True)

    assert result.get("failed"), result
    assert result["msg"].startswith("keep_containers needs live-restore, which the settings turn off")
    assert host.read(DAEMON_JSON) == before
