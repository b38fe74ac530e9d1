"""The pull-through mirror of Docker Hub: registry_server's mirror entry point and registry_trust's registry-mirrors.

Nothing can be pulled from the internet here, so a registry of the test's own plays Docker Hub: its own CA, a
``library/...`` image pushed to it. The collection's playbooks (pki, server, trust) run on an inventory of the test's
own: this machine as the registry host (a registry and its mirror, named ``dockyard-dmn-*``, on ports of 5900-5949,
every directory and the CA under the test's temporary directory) and two Docker hosts of the test's own.
"""

from __future__ import annotations

import json
import sys
import time
import uuid

import pytest
import requests
import yaml
from daemon_hosts import DAEMON_JSON, SEEDED, DockerHost, docker
from scratch_registry import CA, DAEMON_PORTS, REGISTRY_IMAGE, RegistryAPI, ScratchRegistry, free_port, tar_layer

from support import CA_PASSPHRASE, run_playbook, stop_proxy


def write_inventory(root, machine_ip: str, hosts: list[DockerHost], ports: list[int], remote_url: str,
                    remote_ca: bytes, **extra) -> str:
    """Ports: the registry's, the mirror's. Every name, port and directory of the test's own."""
    suffix = uuid.uuid4().hex[:8]
    registry = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable, "ansible_host": machine_ip}
    group_vars = {
        "registry_pki_dir": str(root / "pki"),
        "registry_pki_ca_passphrase": CA_PASSPHRASE,
        "registry_pki_server_dir": str(root / "registry" / "tls"),
        "registry_port": ports[0],
        "registry_image": REGISTRY_IMAGE,
        "registry_image_source": "pull",
        "registry_server_container_name": f"dockyard-dmn-registry-{suffix}",
        "registry_server_config_dir": str(root / "registry"),
        "registry_server_tls_dir": str(root / "registry" / "tls"),
        "registry_server_data_dir": str(root / "registry-data"),
        "registry_server_bind_address": machine_ip,
        "registry_server_check_address": machine_ip,
        "registry_server_mirror_enabled": True,
        "registry_server_mirror_port": ports[1],
        "registry_server_mirror_container_name": f"dockyard-dmn-mirror-{suffix}",
        "registry_server_mirror_config_dir": str(root / "mirror"),
        "registry_server_mirror_tls_dir": str(root / "mirror" / "tls"),
        "registry_server_mirror_data_dir": str(root / "mirror-data"),
        "registry_server_mirror_remote_url": remote_url,
        "registry_server_mirror_remote_ca": remote_ca.decode(),
        **extra,
    }
    inventory = {"all": {"vars": group_vars, "children": {
        "registry": {"hosts": {"dmn-registry": registry}},
        "docker_hosts": {"hosts": {host.name: {"ansible_connection": "community.docker.docker",
                                               "ansible_python_interpreter": "/usr/bin/python3"} for host in hosts}},
    }}}
    path = root / "hosts.yml"
    path.write_text(yaml.safe_dump(inventory))
    return str(path)


def blob(storage, digest: str):
    hex_digest = digest.split(":", 1)[1]
    return storage / "docker/registry/v2/blobs/sha256" / hex_digest[:2] / hex_digest / "data"


@pytest.fixture
def containers_of_the_test():
    """Names of the containers the playbooks start here; removed afterwards, with the registry's authenticating proxy."""
    names = []
    yield names
    for name in names:
        docker("rm", "--force", "--volumes", name, check=False)
        stop_proxy(name)


def test_docker_hosts_pull_docker_hub_images_through_the_mirror_and_from_its_cache(
        docker_host, scratch_registry_image, machine_ip, tmp_path, containers_of_the_test):
    ca = CA("dockyard test Docker Hub CA")
    upstream_port = free_port(DAEMON_PORTS)
    name = f"dmn-{uuid.uuid4().hex[:8]}"
    with ScratchRegistry(f"dockyard-dmn-hub-{name}", machine_ip, upstream_port, tmp_path / "hub",
                         certificate=ca.issue([machine_ip])) as hub:
        (tmp_path / "hub-ca.crt").write_bytes(ca.pem)
        api = RegistryAPI(hub.url, str(tmp_path / "hub-ca.crt"))
        cached = api.push_image(f"library/{name}", "1", [tar_layer(tmp_path / "cached.tar", "cached", 4096)])
        never_pulled = api.push_image(f"library/{name}", "2", [tar_layer(tmp_path / "other.tar", "other", 4096)])
        api.close()
        ports = [port for port in DAEMON_PORTS if port != upstream_port][:2]
        ports = [free_port([port]) for port in ports]
        first, second = docker_host(), docker_host()
        inventory = write_inventory(tmp_path, machine_ip, [first, second], ports, hub.url, ca.pem)
        group_vars = yaml.safe_load((tmp_path / "hosts.yml").read_text())["all"]["vars"]
        containers_of_the_test.extend(group_vars[key] for key in ("registry_server_container_name",
                                                                  "registry_server_mirror_container_name"))
        mirror = f"https://{machine_ip}:{ports[1]}"
        mirror_dir = f"/etc/docker/certs.d/{machine_ip}:{ports[1]}"

        for playbook in ("playbooks/pki.yml", "playbooks/server.yml", "playbooks/trust.yml"):
            run = run_playbook(playbook, inventory=inventory)
            assert run.returncode == 0, str(run)

        for host in (first, second):
            assert json.loads(host.read(DAEMON_JSON))["registry-mirrors"] == [mirror]
            assert host.info()["RegistryConfig"]["Mirrors"] == [mirror + "/"]
            assert host.read(f"{mirror_dir}/ca.crt") == (tmp_path / "pki" / "ca.crt").read_text()
            # Its own client certificate, which the mirror asks for: the key readable by root alone.
            assert host.exec("stat", "-c", "%a %U", f"{mirror_dir}/client.key").stdout.split() == ["400", "root"]
            assert "BEGIN CERTIFICATE" in host.read(f"{mirror_dir}/client.cert")
        assert first.read(f"{mirror_dir}/client.cert") != second.read(f"{mirror_dir}/client.cert")

        # A client without a certificate of the CA gets no manifest: the mirror ends the TLS handshake. With the first
        # host's certificate, the same request is answered, so the refusal is the certificate's doing.
        manifest_url = f"{mirror}/v2/library/{name}/manifests/{cached['digest']}"
        accept = {"Accept": cached["mediaType"]}
        with requests.Session() as anonymous:
            anonymous.trust_env = False
            with pytest.raises(requests.exceptions.SSLError, match="certificate required|handshake|alert"):
                anonymous.get(manifest_url, headers=accept, verify=str(tmp_path / "pki" / "ca.crt"), timeout=10)
        (tmp_path / "client.cert").write_text(first.read(f"{mirror_dir}/client.cert"))
        (tmp_path / "client.key").write_text(first.read(f"{mirror_dir}/client.key"))
        with requests.Session() as client:
            client.trust_env = False
            answer = client.get(manifest_url, headers=accept, verify=str(tmp_path / "pki" / "ca.crt"), timeout=10,
                                cert=(str(tmp_path / "client.cert"), str(tmp_path / "client.key")))
        assert answer.status_code == 200, answer.text

        # A docker.io name, by digest: the daemon asks the mirror, which fetches from the upstream and keeps it.
        reference = f"{name}@{cached['digest']}"
        first.exec("docker", "pull", reference)
        storage = tmp_path / "mirror-data"
        wanted = [cached["digest"], cached["config"]["digest"], *(layer["digest"] for layer in cached["layers"])]
        deadline = time.monotonic() + 30
        while not all(blob(storage, digest).is_file() for digest in wanted) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert [digest for digest in wanted if not blob(storage, digest).is_file()] == []

    # The upstream is gone: the second host pulls from the mirror's cache, and what the cache lacks fails.
    second.exec("docker", "pull", reference)
    digests = json.loads(second.exec("docker", "image", "inspect", "--format", "{{json .RepoDigests}}",
                                     reference).stdout)
    assert digests == [f"{name}@{cached['digest']}"]
    missing = second.exec("docker", "pull", f"{name}@{never_pulled['digest']}", check=False)
    assert missing.returncode != 0

    again = [run_playbook(playbook, inventory=inventory) for playbook in ("playbooks/server.yml", "playbooks/trust.yml")]
    assert [(run.returncode, run.changed) for run in again] == [(0, 0), (0, 0)], "\n".join(map(str, again))

    # Taking the trust away takes the client certificate with it.
    gone = run_playbook("playbooks/trust.yml", inventory=inventory, extra_vars={"registry_trust_state": "absent"})
    assert gone.returncode == 0, str(gone)
    for host in (first, second):
        assert host.exec("test", "-e", mirror_dir, check=False).returncode == 1
        assert host.exec("test", "-e", "/etc/dockyard/mirror-client", check=False).returncode == 1


@pytest.mark.parametrize("url", ["http://mirror.example.test:5001", "https://mirror.example.test:5001/v2/", "https://.."])
def test_a_mirror_url_that_is_not_https_is_refused_before_any_host_changes(docker_host, machine_ip, tmp_path, url):
    host = docker_host()
    before = host.read(DAEMON_JSON), host.exec("ls", "-lR", "/etc/docker").stdout
    inventory = write_inventory(tmp_path, machine_ip, [host], list(DAEMON_PORTS[1:3]), "https://hub.example.test", b"",
                                registry_trust_mirrors=[url])

    run = run_playbook("playbooks/trust.yml", inventory=inventory)

    assert run.returncode != 0, str(run)
    assert ("registry_trust_mirrors must list https URLs of registries, https://<host>[:<port>] without a path "
            f"(Docker talks to a mirror over TLS it verifies); not \"{url}\".") in run.output, str(run)
    assert (host.read(DAEMON_JSON), host.exec("ls", "-lR", "/etc/docker").stdout) == before


@pytest.mark.parametrize("state", ["present", "absent"])
@pytest.mark.parametrize("url", ["https://..", "https://../", "https://.", "https://-m.example.test:5001"])
def test_a_mirror_url_whose_host_is_none_changes_nothing_in_etc_docker(docker_host, state, url):
    # "https://.." named /etc/docker itself as the mirror's certs.d directory: its ca.crt was written, or removed.
    host = docker_host()
    host.write("/etc/docker/ca.crt", "an operator's file\n")
    before = host.exec("ls", "-laR", "--time-style=full-iso", "/etc/docker").stdout, host.read(DAEMON_JSON)

    result = host.run("dockyard.registry.registry_trust", {
        "addresses": ["registry.example.test:5000"], "mode": "ca", "state": state, "probe": False,
        "ca": CA("mirror URL test CA").pem.decode(), "mirrors": [url]})

    assert result.get("failed"), result
    assert result["msg"].startswith(f"mirrors: {url!r} is not the https URL of a registry"), result["msg"]
    assert (host.exec("ls", "-laR", "--time-style=full-iso", "/etc/docker").stdout, host.read(DAEMON_JSON)) == before
    assert host.read("/etc/docker/ca.crt") == "an operator's file\n"


def test_insecure_mode_lists_the_mirrors_among_the_insecure_registries_too(docker_host):
    host = docker_host()
    args = {"addresses": ["registry.example.test:5000"], "mode": "insecure", "probe": False,
            "mirrors": ["https://mirror.example.test:5001"]}

    result = host.run("dockyard.registry.registry_trust", args)

    assert not result.get("failed"), result
    assert (result["daemon_action"], result["mirrors_action"]) == ("reload", "reload")
    assert json.loads(host.read(DAEMON_JSON))["registry-mirrors"] == ["https://mirror.example.test:5001"]
    assert host.insecure_registries() == ["mirror.example.test:5001", "registry.example.test:5000"]
    assert host.info()["RegistryConfig"]["Mirrors"] == ["https://mirror.example.test:5001/"]

    again = host.run("dockyard.registry.registry_trust", args)
    assert again["changed"] is False, again

    # Emptied lists stay in the file: a reload resets only the keys the file sets.
    gone = host.run("dockyard.registry.registry_trust", {**args, "state": "absent"})
    assert (gone["changed"], gone["daemon_action"], gone["mirrors_action"]) == (True, "reload", "reload"), gone
    assert json.loads(host.read(DAEMON_JSON)) == {**SEEDED, "insecure-registries": [], "registry-mirrors": []}
    assert host.insecure_registries() == []
    assert host.info()["RegistryConfig"]["Mirrors"] == []
