"""The insecure fallback on a fleet: a plain-HTTP registry listed in every host's insecure-registries,
merged into daemon.json and applied by a reload that keeps the daemon's process and its containers."""

from __future__ import annotations

import json

from conftest import assert_pulls_by_digest, run_ok

SEEDED = {"log-level": "warn", "runtimes": {"dockyard-test-runtime": {"path": "/usr/bin/runc"}}}


def daemon_json(fleet, name: str) -> dict:
    return json.loads(run_ok(fleet.host(name), "cat /etc/docker/daemon.json"))


def test_seeded_keys_survive_beside_the_registry_addresses(fleet, docker_host):
    settings = daemon_json(fleet, docker_host)
    assert {key: settings.get(key) for key in SEEDED} == SEEDED, f"{docker_host}: daemon.json is {settings}"
    missing = [address for address in fleet.addresses if address not in settings.get("insecure-registries", [])]
    assert missing == [], f"{docker_host}: insecure-registries lacks {missing}: {settings}"


def test_daemon_was_reloaded_not_restarted(fleet, docker_host):
    host = fleet.host(docker_host)
    before = run_ok(host, "cat /root/dockerd-before-converge.pid").split()
    now = run_ok(host, "pidof dockerd").split()
    assert now == before, f"{docker_host}: dockerd pid was {before} before converge and is {now} now"


def test_container_started_before_converge_still_runs(fleet):
    node = next(name for name in fleet.docker_hosts if name != fleet.registry)  # prepare.yml started it there
    host = fleet.host(node)
    state = json.loads(run_ok(host, "docker inspect --format %s keeper", "{{json .State}}"))
    started_before = run_ok(host, "cat /root/keeper-started-at").strip()
    assert state["Running"] and state["StartedAt"] == started_before, (
        f"{node}: keeper started at {started_before} before converge, and is now {state}")


def test_daemon_lists_every_address_as_insecure(fleet, docker_host):
    info = json.loads(run_ok(fleet.host(docker_host), "docker info --format %s", "{{json .RegistryConfig}}"))
    insecure = {name for name, config in info["IndexConfigs"].items() if not config["Secure"]}
    assert set(fleet.addresses) <= insecure, f"{docker_host}: the daemon lists {sorted(insecure)} as insecure"


def test_registry_serves_plain_http(fleet):
    address = f"{fleet.registry}:{fleet.port}"
    answer = run_ok(fleet.host(fleet.pusher), "python3 -c %s",
                    f"import urllib.request; print(urllib.request.urlopen('http://{address}/v2/').read().decode())")
    assert answer.strip() == "{}"


def test_pushed_image_pulls_by_digest_through_each_address(fleet, pushed_image, address):
    assert_pulls_by_digest(fleet, fleet.registry, address, pushed_image)
