"""Hosts as they come: a Debian host with Docker and python3 only gets the modules' libraries from the preflight.

The host is a container of the molecule host image, which has none of the libraries the collection's modules
import there (cryptography, requests, the Docker SDK), reached with ``docker exec`` as molecule reaches its hosts.
"""

from __future__ import annotations

import subprocess
import uuid

import pytest
import yaml

from support import CA_PASSPHRASE, ROOT, run_module, run_playbook

HOST_IMAGE = yaml.safe_load((ROOT / "molecule" / "resources" / "docker_host.yml").read_text())[
    "dockyard_molecule_docker_host"]["image"]
PACKAGES = ["python3-cryptography", "python3-docker", "python3-requests", "python3-tomlkit"]


def installed(container: str) -> list[str]:
    listed = subprocess.run(["docker", "exec", container, "dpkg-query", "-W", "-f", "${Package} ${Status}\\n", *PACKAGES],
                            check=False, capture_output=True, text=True).stdout
    return sorted(line.split()[0] for line in listed.splitlines() if line.endswith("install ok installed"))


@pytest.fixture
def bare_host(tmp_path):
    """A host with Docker's packages and python3 only, and an inventory that makes it registry and Docker host."""
    name = f"dockyard-requirements-{uuid.uuid4().hex[:8]}"
    subprocess.run(["docker", "run", "--detach", "--name", name, HOST_IMAGE, "sleep", "infinity"], check=True,
                   capture_output=True)
    inventory = tmp_path / "hosts.yml"
    host = {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3",
            "registry_pki_dir": str(tmp_path / "pki"), "registry_pki_ca_passphrase": CA_PASSPHRASE}
    inventory.write_text(yaml.safe_dump({"all": {"children": {"registry": {"hosts": {name: host}},
                                                              "docker_hosts": {"hosts": {name: None}}}}}))
    yield name, inventory
    subprocess.run(["docker", "rm", "--force", name], check=False, capture_output=True)


def test_a_site_that_manages_packages_itself_is_told_which_to_install_and_nothing_changes(bare_host):
    name, inventory = bare_host
    run = run_playbook("playbooks/preflight.yml", inventory=inventory,
                       extra_vars={"registry_install_requirements": False})
    assert run.returncode != 0, str(run)
    assert (f"{name} lacks Python libraries that the collection's modules import with /usr/bin/python3: "
            "cryptography is missing") in run.output, str(run)
    assert "Install the OS packages python3-cryptography python3-tomlkit python3-requests python3-docker (apt)" in run.output, str(run)
    assert run.recap[name]["changed"] == 0
    assert installed(name) == []


def test_the_preflight_installs_the_libraries_from_the_os_packages_once(bare_host):
    name, inventory = bare_host
    check = run_playbook("playbooks/preflight.yml", "--check", inventory=inventory)
    assert check.returncode == 0, str(check)
    assert check.recap[name]["changed"] == 1
    assert installed(name) == []
    first = run_playbook("playbooks/preflight.yml", inventory=inventory)
    assert first.returncode == 0, str(first)
    assert first.recap[name]["changed"] == 1
    assert installed(name) == PACKAGES
    for library in ("cryptography", "requests", "docker", "tomlkit"):
        subprocess.run(["docker", "exec", name, "/usr/bin/python3", "-c", f"import {library}"], check=True)
    second = run_playbook("playbooks/preflight.yml", inventory=inventory)
    assert second.returncode == 0, str(second)
    assert second.recap[name]["changed"] == 0


def test_a_host_without_a_named_interpreter_is_asked_with_the_one_ansible_discovers(bare_host, tmp_path):
    name, _inventory = bare_host
    inventory = tmp_path / "discover.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": {name: {"ansible_connection": "community.docker.docker"}}}}))
    found = run_module("dockyard.registry.host_requirements", {"libraries": ["cryptography"]}, host=name,
                       inventory=inventory)
    assert not found.get("failed"), found
    discovered = found["ansible_facts"]["discovered_interpreter_python"]
    assert discovered.startswith("/usr/bin/python3"), "the Debian host's python3, as Ansible finds it"
    assert (found["interpreter"], found["missing"], found["packages"]) == (
        discovered, ["cryptography"], ["python3-cryptography"])
