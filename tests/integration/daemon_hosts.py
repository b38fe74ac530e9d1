"""Docker hosts of a test's own: containers of the molecule Docker host image, each with a dockerd of its own.

The host containers are run the way the molecule scenarios run them (molecule/resources/docker_host.yml),
except that their main process is not dockerd: the daemon is started beside it, directly, as on a
machine without systemd, so that a restart does not end the container. Their names start with ``dockyard-dmn-``
unless a test names another prefix.
"""

from __future__ import annotations

import json
import subprocess
import time
import uuid

import yaml

from support import ROOT, run_module

HOST_SETTINGS = yaml.safe_load((ROOT / "molecule" / "resources" / "docker_host.yml").read_text())[
    "dockyard_molecule_docker_host"]
SEEDED = {"log-level": "warn", "runtimes": {"crun": {"path": "/usr/bin/crun"}}}
DAEMON_JSON = "/etc/docker/daemon.json"


def docker(*args: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True, **kwargs)


class DockerHost:
    """A container with a dockerd of its own, started directly with ``flags`` (unless ``start`` is false), of ``image``
    (the molecule Docker host with the modules' Python libraries unless given).

    ``writable_proc_sys`` gives it a writable /proc/sys, as a machine has: dockerd sets route_localnet of its bridge
    there where userland-proxy is off. The molecule hosts' settings keep it read-only.
    """

    def __init__(self, flags: list[str], writable_proc_sys: bool = False, prefix: str = "dockyard-dmn-",
                 daemon_json: dict | None = None, image: str | None = None, start: bool = True) -> None:
        self.name = f"{prefix}{uuid.uuid4().hex[:8]}"
        self.flags = list(flags)
        options = [f"--cap-add={cap}" for cap in HOST_SETTINGS["capabilities"]]
        options += ["--security-opt=systempaths=unconfined"] if writable_proc_sys else []
        options += [f"--security-opt={opt}" for opt in HOST_SETTINGS["security_opts"]]
        options += [f"--cgroupns={HOST_SETTINGS['cgroupns_mode']}"]
        options += [f"--volume={volume}" for volume in HOST_SETTINGS["volumes"]]
        docker("run", "--detach", "--name", self.name, *options, image or HOST_SETTINGS["libraries_image"],
               "/usr/bin/tini", "--", "sleep", "infinity")
        try:
            self.exec("mkdir", "-p", "/etc/docker")
            self.write(DAEMON_JSON, json.dumps(SEEDED if daemon_json is None else daemon_json, indent=2) + "\n")
            if start:
                self.start_dockerd()
        except BaseException:
            self.remove()
            raise

    def start_dockerd(self) -> None:
        command = "/usr/local/sbin/dockyard-dind " + " ".join(self.flags) + " >>/var/log/dockerd.log 2>&1"
        docker("exec", "--detach", self.name, "sh", "-c", command)
        self.wait_until_answering()

    def restart_dockerd(self, timeout: float = 60) -> None:
        """Stop the daemon as a service manager would (SIGTERM, then wait for it to exit), and start it again."""
        pid = self.dockerd_pid()
        self.exec("sh", "-c", f"kill -TERM {pid}")
        deadline = time.monotonic() + timeout
        while self.exec("sh", "-c", f"kill -0 {pid}", check=False).returncode == 0:
            if time.monotonic() > deadline:
                raise AssertionError(f"dockerd in {self.name} did not stop: {self.read('/var/log/dockerd.log')}")
            time.sleep(0.2)
        self.start_dockerd()

    def exec(self, *args: str, check: bool = True, stdin: str | bytes | None = None) -> subprocess.CompletedProcess:
        if isinstance(stdin, bytes):
            return subprocess.run(["docker", "exec", "-i", self.name, *args], check=check, capture_output=True,
                                  input=stdin)
        return docker("exec", "-i", self.name, *args, check=check, input=stdin)

    def write(self, path: str, content: str | bytes) -> None:
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
        return self.run("dockyard.registry.docker_daemon_config", args, *extra)

    def run(self, module: str, args: dict, *extra: str, timeout: float | None = None) -> dict:
        """Run ``module`` on this host through the Docker connection, and return its result; a run longer than
        ``timeout`` seconds fails the test (the module hung)."""
        return run_module(module, args, "-c", "community.docker.docker",
                          "-e", "ansible_python_interpreter=/usr/bin/python3", *extra,
                          host=self.name, inventory=f"{self.name},", timeout=timeout)

    def remove(self) -> None:
        docker("rm", "--force", "--volumes", self.name, check=False)


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


def write_inventory(path, hosts: list[DockerHost], host_vars: dict | None = None, **group_vars) -> str:
    """An inventory whose group docker_hosts is ``hosts``, reached through the Docker connection plugin."""
    host_vars = host_vars or {}
    inventory = {"all": {
        "vars": {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3",
                 **group_vars},
        "children": {"docker_hosts": {"hosts": {host.name: host_vars.get(host.name) or {} for host in hosts}}},
    }}
    path.write_text(yaml.safe_dump(inventory))
    return str(path)
