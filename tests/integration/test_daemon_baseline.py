"""playbooks/baseline.yml (the docker_daemon_baseline role) on Docker hosts of the test's own, containers running.

docker-bench-security cannot be installed here (no image can be pulled), so its conditions for the checks the baseline
answers are evaluated the way its scripts do (functions/helper_lib.sh and tests/2_docker_daemon_configuration.sh of
docker/docker-bench-security, CIS Docker Benchmark 1.6): the daemon's command line, the configuration file as
``jq --raw-output '.["<key>"]'`` prints it, and ``docker info``. Each is then checked in effect as well, where a
container shows it.
"""

from __future__ import annotations

import json
import re

import pytest
from daemon_hosts import DAEMON_JSON, SEEDED, DockerHost, process, start_keeper, write_inventory

from support import run_playbook

PLAYBOOK = "playbooks/baseline.yml"


def command_line_arg(host: DockerHost, option: str) -> str:
    """helper_lib's get_docker_effective_command_line_args: the daemon's last argument that starts with ``option``."""
    argv = host.exec("cat", f"/proc/{host.dockerd_pid()}/cmdline").stdout.split("\0")
    short = {"--debug": "-D", "--host": "-H", "--log-level": "-l", "--version": "-v"}
    argv = [short.get(arg.split("=", 1)[0], arg.split("=", 1)[0]) + arg[len(arg.split("=", 1)[0]):] for arg in argv]
    joined = re.sub(r"-([DHlv])[= ]([^- ][^ ]*)", r"-\1=\2", " ".join(argv))
    found = [arg for arg in joined.split(" ") if arg.startswith(option)]
    return found[-1] if found else ""


def config_file_arg(host: DockerHost, key: str) -> str:
    """helper_lib's get_docker_configuration_file_args, with jq: ``jq --raw-output '.["key"]' daemon.json``."""
    value = json.loads(host.read(DAEMON_JSON)).get(key)
    if value is None:
        return "null"
    return value if isinstance(value, str) else json.dumps(value, indent=2)


def docker_bench(host: DockerHost) -> dict[str, bool]:
    """The conditions of docker-bench-security's checks 2.2, 2.13, 2.14, 2.15 and 2.16: True where the check passes."""
    info = host.exec("docker", "info").stdout
    return {
        "2.2": "false" in command_line_arg(host, "--icc") or "false" in config_file_arg(host, "icc"),
        "2.13": "json-file" not in host.exec("docker", "info", "--format", "{{ .LoggingDriver }}").stdout,
        "2.14": ("no-new-privileges" in command_line_arg(host, "--no-new-privileges")
                 or "true" in config_file_arg(host, "no-new-privileges")),
        "2.15": (re.search(r"Live Restore Enabled:\s*true", info) is not None
                 or re.search(r"Swarm:*\sactive", info) is not None
                 or "live-restore" in command_line_arg(host, "--live-restore")),
        "2.16": ("false" in config_file_arg(host, "userland-proxy")
                 or "userland-proxy=false" in command_line_arg(host, "--userland-proxy=false")),
    }


def test_baseline_hardens_running_hosts_in_batches_keeping_every_container(docker_host, keeper_image, tmp_path):
    hosts = [docker_host(writable_proc_sys=True), docker_host(writable_proc_sys=True)]
    for host in hosts:
        start_keeper(host, keeper_image)
        start_keeper(host, keeper_image, "second")
    before = {host.name: {name: process(host, name) for name in ("keeper", "second")} for host in hosts}
    assert all(not any(docker_bench(host).values()) for host in hosts)
    inventory = write_inventory(tmp_path / "hosts.yml", hosts)

    run = run_playbook(PLAYBOOK, inventory=inventory, extra_vars={"docker_daemon_baseline_serial": 1})

    assert run.returncode == 0, str(run)
    assert run.output.count("PLAY [Apply the daemon baseline in batches") == 2  # one host per batch
    for host in hosts:
        assert docker_bench(host) == {"2.2": True, "2.13": True, "2.14": True, "2.15": True, "2.16": True}
        # The same processes, started at the same time: the containers ran on through the restart.
        assert {name: process(host, name) for name in ("keeper", "second")} == before[host.name]
        assert json.loads(host.read(DAEMON_JSON)) == {
            **SEEDED, "icc": False, "log-level": "info", "log-driver": "local",
            "log-opts": {"max-size": "10m", "max-file": "5"}, "no-new-privileges": True, "live-restore": True,
            "userland-proxy": False}
    assert "turn live-restore on by a reload, then restart (Docker 20.10.24)" in run.output
    assert "icc: the default bridge network keeps its settings while containers run" in run.output

    # In effect for a container started now: no new privileges, the local log driver, no docker-proxy for its port.
    host = hosts[0]
    host.exec("docker", "run", "--detach", "--name", "new", "--publish", "18080:5000", keeper_image)
    pid = process(host, "new")[1]
    assert "NoNewPrivs:\t1" in host.read(f"/proc/{pid}/status")
    assert host.exec("docker", "inspect", "--format", "{{.HostConfig.LogConfig.Type}}", "new").stdout.strip() == "local"
    assert host.exec("pidof", "docker-proxy", check=False).returncode == 1

    again = run_playbook(PLAYBOOK, inventory=inventory)
    assert again.returncode == 0, str(again)
    assert again.changed == 0, str(again)


def hosts_untouched(hosts: list[DockerHost], files: dict, pids: dict) -> bool:
    return all(host.read(DAEMON_JSON) == files[host.name] and host.dockerd_pid() == pids[host.name] for host in hosts)


@pytest.mark.parametrize(("flags", "host_vars", "expected"), [
    pytest.param([], {"docker_daemon_baseline_overrides": {"proxies": {"http-proxy": "http://proxy.example:3128"}}},
                 "Docker 20.10.24 does not know the daemon.json key proxies: it would refuse to start with it.",
                 id="key-the-engine-does-not-know"),
    pytest.param(["--no-new-privileges"], {},
                 "would set what the running daemon already gets as a command-line flag: no-new-privileges (the daemon "
                 "runs with --no-new-privileges)", id="flag-and-file-key-in-conflict"),
])
def test_baseline_a_host_would_refuse_stops_the_run_before_any_host_changes(docker_host, tmp_path, flags, host_vars,
                                                                            expected):
    good, bad = docker_host(), docker_host(flags)
    files = {host.name: host.read(DAEMON_JSON) for host in (good, bad)}
    pids = {host.name: host.dockerd_pid() for host in (good, bad)}
    inventory = write_inventory(tmp_path / "hosts.yml", [good, bad], {bad.name: host_vars})

    run = run_playbook(PLAYBOOK, inventory=inventory)

    assert run.returncode != 0, str(run)
    assert expected in run.output, str(run)
    assert "give the key the value null in docker_daemon_baseline_overrides" in run.output
    assert "PLAY [Apply the daemon baseline" not in run.output
    assert hosts_untouched([good, bad], files, pids)


def test_baseline_refuses_a_key_that_is_no_daemon_json_key_on_the_controller(docker_host, tmp_path):
    host = docker_host()
    inventory = write_inventory(tmp_path / "hosts.yml", [host],
                                docker_daemon_baseline_overrides={"No_New_Privileges": True})
    before = host.read(DAEMON_JSON)

    run = run_playbook(PLAYBOOK, inventory=inventory)

    assert run.returncode != 0, str(run)
    assert 'These are not daemon.json keys (lower-case words joined by hyphens, such as no-new-privileges): ' \
           '"No_New_Privileges".' in run.output, str(run)
    assert host.read(DAEMON_JSON) == before
