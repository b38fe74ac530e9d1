"""docker_daemon_config against real Docker daemons, each inside a Docker host container of its own.

The host containers are run the way the molecule scenarios run them (molecule/resources/docker_host.yml),
except that their main process is not dockerd: the daemon is started beside it, directly, as on a
machine without systemd, so that a restart does not end the container.
"""

from __future__ import annotations

import json

from daemon_hosts import DAEMON_JSON, SEEDED, process, start_keeper


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
    assert host.exec("stat", "-c", "%a %U", result["backup_file"]).stdout.split() == ["600", "root"]


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
    assert (f"(changing default-runtime): the daemon (pid {pid}) refused to reload: file configuration validation "
            "failed: specified default runtime 'no-such-runtime' does not exist.") in result["msg"], result["msg"]
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


def test_restart_that_leaves_the_daemon_without_its_bridge_is_rolled_back(docker_host, keeper_image):
    # These hosts' /proc/sys is read-only: dockerd cannot set route_localnet, which userland-proxy=false needs, and
    # comes back without the default bridge that the running keeper holds it to.
    host = docker_host()
    start_keeper(host, keeper_image)
    keeper = process(host, "keeper")

    result = host.configure(settings={"userland-proxy": False}, keep_containers=True)

    assert result.get("failed"), result
    assert "without its default bridge network, where no container can start: could not create bridge network for id" \
        in result["msg"], result["msg"]
    assert "route_localnet: read-only file system" in result["msg"]
    assert json.loads(host.read(DAEMON_JSON)) == {**SEEDED, "live-restore": True}
    assert process(host, "keeper") == keeper
    host.exec("docker", "run", "--detach", "--name", "after", keeper_image)
    assert process(host, "after")[0] == "true"


def test_keep_containers_refuses_settings_that_turn_live_restore_off(docker_host):
    host = docker_host()
    before = host.read(DAEMON_JSON)

    result = host.configure(settings={"live-restore": False, "icc": False}, keep_containers=True)

    assert result.get("failed"), result
    assert result["msg"].startswith("keep_containers needs live-restore, which the settings turn off")
    assert host.read(DAEMON_JSON) == before
