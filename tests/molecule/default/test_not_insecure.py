"""CA mode never falls back on insecure-registries: TLS is verified for every address (CIS Docker Benchmark 2.5)."""

from __future__ import annotations

import json

from conftest import run_ok


def test_ca_mode_hosts_list_no_registry_address_as_insecure(fleet, docker_host):
    info = json.loads(run_ok(fleet.host(docker_host), "docker info --format %s", "{{json .RegistryConfig}}"))
    insecure = {name for name, config in info["IndexConfigs"].items() if not config["Secure"]}
    assert not insecure & set(fleet.addresses), f"{docker_host}: the daemon lists {sorted(insecure)} as insecure"
