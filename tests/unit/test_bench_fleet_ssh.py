"""bench/fleet_ssh_bench.py: its inventories, and a report that names the transport beside each figure."""

from __future__ import annotations

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))

import fleet_ssh_bench as bench


def timing(median: float) -> dict:
    return {"best": median - 0.1, "median": median, "worst": median + 0.1, "rounds": [median]}


def measured(ping: float, site: float, trust: float, cpu_trust: float, cpu_trust_one: float = 1.0) -> dict:
    return {"converge": {"seconds": 120.0, "changed": 40},
            "seconds": {"ping": timing(ping), "site": timing(site), "trust": timing(trust),
                        "trust_one": timing(trust * 0.8)},
            "cpu": {"ping": 0.9, "site": 4.0, "trust": cpu_trust, "trust_one": cpu_trust_one},
            "masters_cpu": {"ping": 0.01, "site": 0.05, "trust": 0.02, "trust_one": 0.01}}


RESULTS = {
    "when": "2026-12-06T23:59:00Z", "rounds": 5,
    "machine": {"cpus": 2, "cpu": "Some CPU", "memory_gib": 23.5, "docker": "20.10", "python": "3.11",
                "load_average": (0.5, 0.5, 0.5)},
    "load": {"load": (0.4, 0.5, 0.6), "limit": 1.5, "quiet": True, "waited": 0},
    "ssh": {"pipelining": True, "ssh_args": "-C -o ControlMaster=auto -o ControlPersist=60s"},
    "transports": {"ssh": measured(ping=2.0, site=9.0, trust=4.0, cpu_trust=1.4),
                   "docker": measured(ping=1.0, site=8.0, trust=3.0, cpu_trust=3.0)},
}


def table_rows(text: str) -> list[list[str]]:
    rows = [line.strip("|").split("|") for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[2:]]  # after the header and its rule


def test_figures_are_ratios_against_the_ping_playbook_of_the_same_run():
    figures = bench.figures(RESULTS["transports"]["ssh"])
    assert figures["site"] == 4.5
    assert figures["trust"] == 2.0
    # What a host adds: the run on the three hosts against the run on one, over the two between them.
    assert figures["trust_cpu_per_host"] == (1.4 - 1.0) / (len(bench.HOSTS) - 1)
    assert figures["trust_cpu_divided"] == 1.4 / len(bench.HOSTS)


def test_every_figure_of_the_report_names_its_transport_and_only_ssh_is_held_to_the_targets():
    rows = table_rows(bench.report(RESULTS))
    assert rows and {row[0] for row in rows} == {"SSH", "`docker exec`"}
    ssh = [row for row in rows if row[0] == "SSH" and row[5]]
    # site 4.5x <= 5, trust 2.0x <= 2 (met at the limit), 0.2 CPU-s a host <= 0.25.
    assert [(row[4], row[5], row[6]) for row in ssh] == [
        ("4.5×", "<= 5×", "yes"), ("2.0×", "<= 2×", "yes"), ("0.20", "<= 0.25", "yes")]
    docker = [row for row in rows if row[0] == "`docker exec`"]
    assert all(row[6] == "" for row in docker)
    assert any(row[4] == "8.0×" and row[5] == "(for information)" for row in docker)
    assert "ControlPersist=60s" in bench.report(RESULTS)


def test_a_figure_over_its_target_is_reported_not_met():
    results = {**RESULTS, "transports": {"ssh": measured(ping=1.0, site=8.1, trust=3.4, cpu_trust=1.8)}}
    ssh = [row for row in table_rows(bench.report(results)) if row[5]]
    assert [row[6] for row in ssh] == ["NO", "NO", "NO"]


def test_the_two_inventories_differ_only_in_how_the_hosts_are_reached(tmp_path):
    fleet = bench.Fleet(tmp_path / "work")
    ssh = json.loads(fleet.inventory("ssh").read_text())
    docker = json.loads(fleet.inventory("docker").read_text())
    ssh_vars = ssh["all"]["children"]["docker_hosts"].pop("vars")
    docker_vars = docker["all"]["children"]["docker_hosts"].pop("vars")
    assert ssh == docker
    assert ssh_vars["ansible_connection"] == "ssh" and docker_vars["ansible_connection"] == "community.docker.docker"
    assert "StrictHostKeyChecking=yes" in ssh_vars["ansible_ssh_common_args"]
    shared = set(ssh_vars) & set(docker_vars)
    assert {key: ssh_vars[key] for key in shared} == {key: docker_vars[key] for key in shared} | {
        "ansible_connection": "ssh"}
    # Both reach the same users and addresses: the registry's certificate names ansible_host.
    hosts = ssh["all"]["children"]["docker_hosts"]["hosts"]
    assert {name: host["ansible_host"] for name, host in hosts.items()} == {
        name: address for name, (_image, _release, address) in bench.HOSTS.items()}
    assert {release for _image, release, _address in bench.HOSTS.values()} == {"12", "13"}


def test_the_floors_of_trust_yml_are_figures_for_information_beside_the_targets():
    data = measured(ping=2.0, site=9.0, trust=4.0, cpu_trust=1.4)
    data["seconds"].update(trust_module=timing(3.0), trust_module_one=timing(2.5), trust_role=timing(3.8),
                           trust_role_one=timing(3.0))
    data["cpu"].update(trust_module=1.2, trust_module_one=1.0, trust_role=1.5, trust_role_one=1.0)
    figures = bench.figures(data)
    assert figures["trust_module"] == 1.5 and figures["trust_role"] == 1.9
    assert figures["trust_module_cpu_per_host"] == (1.2 - 1.0) / (len(bench.HOSTS) - 1)
    assert figures["trust_role_cpu_per_host"] == (1.5 - 1.0) / (len(bench.HOSTS) - 1)
    rows = table_rows(bench.report({**RESULTS, "transports": {"ssh": data}}))
    floors = [row for row in rows if row[1].startswith("floor of `trust.yml`")]
    assert [(row[4], row[5], row[6]) for row in floors] == [
        ("1.5×", "", ""), ("0.10", "", ""), ("1.9×", "", ""), ("0.25", "", "")]
    # The targets' rows are those of results measured before the floors were added.
    assert [row[6] for row in rows if row[5]] == ["yes", "yes", "yes"]
