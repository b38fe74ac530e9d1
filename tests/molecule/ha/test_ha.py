"""A registry behind a load balancer, after `playbooks/site.yml`: two replicas on a three-host SeaweedFS cluster,
sharing the blob descriptor cache in the load balancer host's Redis, behind HAProxy.

Docker hosts push and pull through the load balancer; an upload whose requests go to both replicas completes; while
both replicas pull in a loop (bounded in count and time), one replica's registry is killed, then the registry's
configuration changes (a rolling replacement, one replica at a time): the failed pulls of each phase are counted, and
printed with the other figures (``DOCKYARD_HA_FIGURES=<file>`` keeps them as JSON, for bench/ha_bench.py). Garbage
collection with the replicas leaves no stale cache: an image it deleted, pushed again, pulls. Bad input is refused by
the preflight before any host changes. Last, a store host stops: every image still pulls.

The pulling loop runs on the replicas, each a Docker host with a dockerd of its own; the commands of the test go to
the hosts with ``docker exec`` from this machine, which also reaches the hosts' addresses on the scenario's network.
"""

from __future__ import annotations

import base64
import concurrent.futures
import dataclasses
import hashlib
import hmac
import json
import os
import re
import shlex
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests
import yaml
from conftest import PushedImage, assert_pulls_by_digest, push_options, run_ok, write_file

REGISTRY_CONTAINER = "dockyard-registry"
BACKEND = "registry_replicas"
RUNTIME_SOCKET = "/run/dockyard/haproxy.sock"
ACCOUNT = "dockyard"  # the account the registry has by default
LOOP_SCRIPT = "/usr/local/bin/dockyard-pull-loop"
# The pulling loop's bounds: it stops by itself after this many pulls or seconds, or when the test says so.
LOOP_MAX_PULLS = 1500
LOOP_MAX_SECONDS = 300
# How long the pulls go on after the load balancer has marked the killed replica down.
AFTER_DOWN_SECONDS = 8
# Seconds between two pulls of a loop.
LOOP_PAUSE = "0.5"
FIGURES = os.environ.get("DOCKYARD_HA_FIGURES", "")

# Pulls by digest until its bounds or a stop file, pausing between pulls (the machine's two CPUs also run the
# playbooks of the test); a line a pull: started, ended (epoch seconds), ok or failed.
PULL_LOOP = """#!/bin/sh
reference=$1; max=$2; end=$(( $(date +%s) + $3 )); log=$4; stop=$5; count=0
: >"$log"
while [ "$count" -lt "$max" ] && [ "$(date +%s)" -lt "$end" ] && [ ! -e "$stop" ]; do
  started=$(date +%s.%N)
  if docker pull --quiet "$reference" >/dev/null 2>>"$log.err"; then result=ok; else result=failed; fi
  echo "$started $(date +%s.%N) $result" >>"$log"
  docker image rm --force "$reference" >/dev/null 2>&1
  count=$((count + 1))
  sleep "$6"
done
echo stopped >"$log.end"
"""

# HAProxy's `show stat` through its runtime API, from the load balancer's own Python (standard library only).
SHOW_STAT = """
import csv, io, socket
with socket.socket(socket.AF_UNIX) as connection:
    connection.connect({socket!r})
    connection.sendall(b"show stat\\n")
    answer = b""
    while chunk := connection.recv(65536):
        answer += chunk
for row in csv.DictReader(io.StringIO(answer.decode().lstrip("# "))):
    if row["pxname"] == {backend!r} and row["svname"] not in ("FRONTEND", "BACKEND"):
        print(row["svname"], row["status"], row["scur"], sep=",")
"""


def local(*args: str, check: bool = True, timeout: float = 120, input: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(args, check=check, capture_output=True, text=True, timeout=timeout, input=input)


def in_host(fleet, name: str, *command: str, check: bool = True) -> subprocess.CompletedProcess:
    """``command`` in the host's container, with ``docker exec`` (quicker than testinfra's Ansible backend)."""
    done = local("docker", "exec", fleet.container(name), *command, check=False)
    if check and done.returncode != 0:
        pytest.fail(f"{name}: `{shlex.join(command)}` exited {done.returncode}: {(done.stderr or done.stdout).strip()}",
                    pytrace=False)
    return done


def lb_servers(fleet) -> dict[str, tuple[str, int]]:
    """Each replica's status and open connections on the load balancer."""
    script = SHOW_STAT.format(socket=RUNTIME_SOCKET, backend=BACKEND)
    lines = in_host(fleet, fleet.balancers[0], "python3", "-c", script).stdout.splitlines()
    return {name: (status, int(sessions)) for name, status, sessions in (line.split(",") for line in lines)}


def wait_for(condition, timeout: float, what: str, interval: float = 0.25):
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting until {what}", pytrace=False)
        time.sleep(interval)


def secret(fleet, name: str) -> str:
    return (fleet.pki_dir / "secrets" / name).read_text().split()[0]


def host_address(fleet, name: str) -> str:
    """The replica's own address (the load balancer's backend address for it)."""
    return json.loads(local("docker", "inspect", "--format", "{{json .NetworkSettings.Networks}}",
                            fleet.container(name)).stdout).popitem()[1]["IPAddress"]


@pytest.fixture(scope="module")
def api(fleet):
    """Requests straight to a replica (by its address, which its certificate names), with the CA and the account."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(fleet.pki_dir / "ca.crt")
    session.auth = (ACCOUNT, secret(fleet, f"registry-account-{ACCOUNT}"))
    yield session
    session.close()


def manifest_blobs(fleet, api, image: PushedImage) -> list[str]:
    """The config and layer digests of ``image``, read from a replica."""
    replica = fleet.group("registry")[0]
    accept = "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json"
    response = api.get(f"https://{host_address(fleet, replica)}:{fleet.port}/v2/{image.repository}/manifests/"
                       f"{image.digest}", timeout=30, headers={"Accept": accept})
    response.raise_for_status()
    assert f"sha256:{hashlib.sha256(response.content).hexdigest()}" == image.digest
    manifest = response.json()
    return [manifest["config"]["digest"], *(layer["digest"] for layer in manifest["layers"])]


def test_push_through_the_load_balancer_and_pull_by_digest_on_the_other_replica(fleet, pushed_image, address):
    assert fleet.pusher != fleet.puller, "the scenario needs two Docker hosts"
    assert_pulls_by_digest(fleet, fleet.puller, address, pushed_image)


# From a Docker host, with the CA its trust put in certs.d for the address: the standard library's verified TLS.
VERIFIED_GET = """
import ssl, sys, urllib.error, urllib.request
context = ssl.create_default_context(cafile=sys.argv[1])
try:
    urllib.request.urlopen(sys.argv[2], context=context, timeout=30)
except urllib.error.HTTPError as answer:
    print(answer.code)
"""


def test_a_client_reaches_the_load_balancer_by_its_address_over_verified_tls(fleet):
    """The replicas' certificates name the load balancer's address as well as its names, and every Docker host
    trusts the CA at that address: a client that writes the address gets the registry, not a TLS failure."""
    lb_ip = fleet.ips(fleet.balancers[0])[0]
    address = f"{lb_ip}:{fleet.port}"
    assert address in fleet.addresses
    answer = in_host(fleet, fleet.puller, "python3", "-c", VERIFIED_GET, f"/etc/docker/certs.d/{address}/ca.crt",
                     f"https://{address}/v2/")
    assert answer.stdout.strip() == "401", f"{fleet.puller}: GET https://{address}/v2/ answered {answer.stdout}"


def test_registry_image_re_hashes_every_blob_through_the_load_balancer(fleet, pushed_image):
    result = fleet.host(fleet.puller).ansible(
        "dockyard.registry.registry_image",
        json.dumps({"name": f"{fleet.address}/{pushed_image.repository}:{pushed_image.tag}",
                    "digest": pushed_image.digest, "state": "verified", "verify": "blobs", "pull": False}),
        check=False)
    assert result.get("digest") == pushed_image.digest, f"{fleet.puller}: {result}"
    assert result["blobs"]["blobs"] >= 2, f"{fleet.puller}: re-hashed {result['blobs']}"


REDIS_TLS = "/etc/dockyard/redis/tls"  # the Redis host's key, certificate and CA bundle (registry_cache_tls_dir)
REDIS_PORT = 6379
REDIS_NETWORK = f"{REGISTRY_CONTAINER}-cache"  # the registry container's own Docker network on each replica host

# What a server at argv[1]:argv[2] answers a PING, from a host's Python (standard library only): plain TCP, or TLS
# that verifies the server with the CA bundle argv[3] and presents the certificate argv[4] and key argv[5] where given.
# Prints the answer's first line, "closed" where the server closed the connection or ended TLS without a word, or
# "refused" where nothing listens.
REDIS_PING = """
import socket, ssl, sys
address, port, ca, cert, key = (sys.argv[1:] + ["", "", ""])[:5]
try:
    connection = socket.create_connection((address, int(port)), timeout=10)
    if ca:
        context = ssl.create_default_context(cafile=ca)
        if cert:
            context.load_cert_chain(cert, key)
        connection = context.wrap_socket(connection, server_hostname=address)
    connection.sendall(b"*1\\r\\n$4\\r\\nPING\\r\\n")
    answer = connection.recv(256)
except ConnectionRefusedError:  # nothing listens there
    answer = None
except (OSError, ssl.SSLError):  # reset, or TLS ended: no word of Redis's
    answer = b""
print("refused" if answer is None else answer.decode(errors="replace").splitlines()[0] if answer else "closed")
"""


def redis_cli(fleet, *command: str, user: str | None = None, password: str | None = None) -> str:
    """``command`` with redis-cli on the Redis host, at the address Redis listens on, over TLS with the Redis host's
    certificate of the collection's CA: with ``password`` alone (as the registry authenticates, the user default), with
    ``user`` and ``password``, or with no credential."""
    lb = fleet.balancers[0]
    auth = (["--user", user] if user else []) + (["--pass", password, "--no-auth-warning"] if password else [])
    tls = ["--tls", "--cert", f"{REDIS_TLS}/server.crt", "--key", f"{REDIS_TLS}/server.key", "--cacert",
           f"{REDIS_TLS}/ca.crt"]
    done = in_host(fleet, lb, "redis-cli", "-h", fleet.variables(lb)["registry_cache_bind_address"], "-p",
                   str(REDIS_PORT), *tls, *auth, *command, check=False)
    return (done.stdout + done.stderr).strip()


def redis_ping(fleet, host: str, address: str, *tls: str) -> str:
    """What ``address``:6379 answers a PING from ``host``: in plain TCP, or over TLS with ``tls`` (CA bundle, and
    optionally certificate and key: paths on that host)."""
    return in_host(fleet, host, "python3", "-c", REDIS_PING, address, str(REDIS_PORT), *tls).stdout.strip()


def test_redis_refuses_plain_tcp_and_tls_without_a_client_certificate_of_the_ca(fleet):
    """From a store host, which holds no certificate for Redis and presents none: Redis's port speaks no plain TCP
    (the registry's password would cross the network in clear text) and ends TLS before any command. The same
    request with a certificate of the CA (the Redis host's own) gets Redis's answer, so the refusal is the
    certificate's."""
    lb = fleet.balancers[0]
    address = fleet.variables(lb)["registry_cache_bind_address"]
    stranger = fleet.group("registry_store")[0]
    ca = "/etc/dockyard/seaweedfs/tls/ca.crt"  # the collection's CA, which verifies Redis's certificate
    assert redis_ping(fleet, stranger, address) == "closed"
    assert redis_ping(fleet, stranger, address, ca) == "closed"
    assert redis_ping(fleet, lb, address, f"{REDIS_TLS}/ca.crt", f"{REDIS_TLS}/server.crt",
                      f"{REDIS_TLS}/server.key") == "-NOAUTH Authentication required."
    conf = in_host(fleet, lb, "cat", "/etc/dockyard/redis/redis.conf").stdout.splitlines()
    assert {"port 0", f"tls-port {REDIS_PORT}", "tls-auth-clients yes"} <= set(conf), conf
    mode = in_host(fleet, lb, "stat", "-c", "%a %U", f"{REDIS_TLS}/server.key").stdout.split()
    assert mode == ["400", "redis"], mode


def test_each_replicas_registry_reaches_redis_through_its_hosts_proxy_which_only_its_container_reaches(fleet):
    """The registry (plain TCP only) names its host's HAProxy on the gateway of its own Docker network; HAProxy
    closes connections from anywhere else, the host itself included, and forwards over mutual TLS."""
    for replica in fleet.group("registry"):
        network = json.loads(in_host(fleet, replica, "docker", "network", "inspect", REDIS_NETWORK).stdout)[0]
        gateway = network["IPAM"]["Config"][0]["Gateway"]
        assert [container["Name"] for container in network["Containers"].values()] == [REGISTRY_CONTAINER]
        config = yaml.safe_load(in_host(fleet, replica, "cat", "/etc/dockyard/registry/config.yml").stdout)
        assert config["redis"]["addr"] == f"{gateway}:{REDIS_PORT}", config["redis"]
        # A process on the host is not the registry container: closed before a byte reaches Redis.
        assert redis_ping(fleet, replica, gateway) == "closed", replica
        # From the rest of the network, the endpoint is not there at all.
        with pytest.raises(OSError):
            socket.create_connection((host_address(fleet, replica), REDIS_PORT), timeout=5).close()


def test_the_replicas_keep_blob_descriptors_in_redis_with_a_user_that_cannot_configure_it(fleet, api, pushed_image):
    lb = fleet.balancers[0]
    address = fleet.variables(lb)["registry_cache_bind_address"]
    password = secret(fleet, "redis-password")
    blobs = manifest_blobs(fleet, api, pushed_image)
    # The replicas' blob descriptors, read with the replicas' own credential (SISMEMBER, as Distribution reads them).
    members = [redis_cli(fleet, "SISMEMBER", f"repository::{pushed_image.repository}::blobs", blob, password=password)
               for blob in blobs]
    assert "1" in members, members
    # That credential cannot configure Redis (CONFIG SET dir would write files as the Redis user), list or flush.
    for command in (["CONFIG", "GET", "dir"], ["CONFIG", "SET", "dir", "/tmp"], ["KEYS", "*"], ["FLUSHALL"]):
        assert "NOPERM" in redis_cli(fleet, *command, password=password), command
    assert "NOAUTH" in redis_cli(fleet, "GET", "anything")
    # The module's own user neither.
    admin = secret(fleet, "redis-admin-password")
    assert "NOPERM" in redis_cli(fleet, "CONFIG", "GET", "dir", user="dockyard-admin", password=admin)
    conf = in_host(fleet, lb, "cat", "/etc/dockyard/redis/redis.conf").stdout.splitlines()
    assert {"maxmemory-policy allkeys-lru", f"bind {address}"} <= set(conf), conf
    assert password not in "\n".join(conf) and admin not in "\n".join(conf)
    mode = in_host(fleet, lb, "stat", "-c", "%a %U:%G", "/etc/dockyard/redis/redis.conf").stdout.split()
    assert mode == ["640", "root:redis"], mode
    # Redis runs as its own user, which can gain no privilege (as the collection's other services do).
    pid = in_host(fleet, lb, "cat", "/run/dockyard/dockyard-redis.pid").stdout.strip()
    status = dict(line.split(":", 1) for line in in_host(fleet, lb, "cat", f"/proc/{pid}/status").stdout.splitlines())
    redis_uid = in_host(fleet, lb, "id", "-u", "redis").stdout.strip()
    assert (status["Name"].strip(), status["Uid"].split(), status["NoNewPrivs"].strip()) == (
        "redis-server", [redis_uid] * 4, "1"), status


def test_the_flush_entry_point_empties_the_shared_cache_which_fills_again(fleet, api, pushed_image):
    """What garbage collection with replicas runs before the replicas take pushes again."""
    lb = fleet.balancers[0]

    def keys() -> int:
        return int(redis_cli(fleet, "DBSIZE", user="dockyard-admin", password=secret(fleet, "redis-admin-password")))

    assert keys() > 0
    run = fleet.ansible_playbook(Path(__file__).with_name("flush_cache.yml"))
    assert run.returncode == 0 and re.search(rf"^{lb} .* changed=1 ", run.stdout, re.MULTILINE), run.stdout[-3000:]
    assert keys() == 0
    manifest_blobs(fleet, api, pushed_image)  # the replicas read the store again, and fill the cache
    assert_pulls_by_digest(fleet, fleet.puller, fleet.address, pushed_image)
    assert keys() > 0


# Requests from a host, with the standard library only: [method, url, body or null, token or null, and optionally true
# for the answer's body instead of its status] each, and a TLS identity ({"ca", "cert", "key"}: paths on the host, each
# optional); prints the status of each, or, where no HTTP answer came, "tls" (the handshake failed: the server asked
# for a certificate the host does not have) or 0 (no connection).
HTTP_STATUSES = """
import json, ssl, sys, urllib.error, urllib.request
identity = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
context = ssl.create_default_context(cafile=identity.get("ca"))
if identity.get("cert"):
    context.load_cert_chain(identity["cert"], identity["key"])
def status(method, url, body, token, want_body=False):
    request = urllib.request.Request(url, data=body.encode() if body is not None else None, method=method)
    if token:
        request.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            if want_body:
                return response.read().decode()
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except urllib.error.URLError as error:
        return refusal(error.reason)
    except OSError as error:
        return refusal(error)
def refusal(error):
    # A server that wants a client certificate ends the handshake with an alert, or closes the connection.
    if isinstance(error, ConnectionRefusedError):
        return 0
    return "tls" if isinstance(error, (ssl.SSLError, ConnectionError)) else 0
print(json.dumps([status(*request) for request in json.loads(sys.argv[1])]))
"""

# A store host's TLS identity, as the registry_store role installs it (registry_store_tls_dir).
STORE_TLS_DIR = "/etc/dockyard/seaweedfs/tls"
STORE_TLS = {"ca": f"{STORE_TLS_DIR}/ca.crt", "cert": f"{STORE_TLS_DIR}/server.crt", "key": f"{STORE_TLS_DIR}/server.key"}
# Where a host without keys keeps the CA (public): it verifies the store's servers, so a refusal is the store's.
PROBE_CA = "/tmp/dockyard-store-ca.crt"


def http_statuses(fleet, host: str, requests_: list[tuple], identity: dict | None = None) -> list:
    return json.loads(in_host(fleet, host, "python3", "-c", HTTP_STATUSES, json.dumps(requests_),
                              json.dumps(identity or {})).stdout)


def store_json(fleet, host: str, url: str, token: str | None = None) -> dict:
    """The JSON answer of a GET from a store host, with its certificate."""
    return json.loads(http_statuses(fleet, host, [("GET", url, None, token, True)], STORE_TLS)[0])


def seaweedfs_token(key: str, **claims) -> str:
    """A token as SeaweedFS signs them (HS256), valid for a minute: what a host holding the key could make."""
    def encode(data: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    signed = f"{encode({'alg': 'HS256', 'typ': 'JWT'})}.{encode({**claims, 'exp': int(time.time()) + 60})}"
    signature = hmac.new(key.encode(), signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(signature).rstrip(b'=').decode()}"


def store_addresses(fleet) -> list[str]:
    return [fleet.variables(store)["registry_store_address"] for store in fleet.group("registry_store")]


@pytest.fixture(scope="module")
def probe(fleet):
    """The load balancer's host, which holds no key of the store: the CA's certificate (public) only."""
    local("docker", "cp", str(fleet.pki_dir / "ca.crt"), f"{fleet.container(fleet.balancers[0])}:{PROBE_CA}")
    yield fleet.balancers[0]
    in_host(fleet, fleet.balancers[0], "rm", "-f", PROBE_CA, check=False)


def test_seaweedfs_runs_three_masters_and_the_registry_bucket(fleet):
    stores = fleet.group("registry_store")
    address = fleet.variables(stores[1])["registry_store_address"]
    status = store_json(fleet, stores[1], f"https://{address}:9333/cluster/status")
    assert status["Leader"] and len(status["Peers"]) == 2, status
    # The filer answers only with a token: the store's own read key signs one here.
    token = seaweedfs_token(secret(fleet, "seaweedfs-filer-read-key"))
    bucket = [("GET", f"https://{address}:8888/buckets/registry/?metadata=true", None, token)]
    assert http_statuses(fleet, stores[1], bucket, STORE_TLS) == [200]
    # Without systemd in the hosts, a supervisor keeps each host's servers running, as the user seaweedfs.
    for store in stores:
        supervisor = in_host(fleet, store, "cat", "/run/dockyard/dockyard-seaweedfs.supervisor.pid").stdout.strip()
        assert supervisor.isdigit() and in_host(fleet, store, "test", "-d", f"/proc/{supervisor}").returncode == 0
        weed = in_host(fleet, store, "cat", "/run/dockyard/dockyard-seaweedfs.pid").stdout.strip()
        owner = in_host(fleet, store, "stat", "-c", "%U", f"/proc/{weed}").stdout.strip()
        assert owner == "seaweedfs", f"{store}: weed runs as {owner}"
        files = in_host(fleet, store, "stat", "-c", "%n %U %a", "/etc/dockyard/seaweedfs/security.toml",
                        "/etc/dockyard/seaweedfs/s3.json", "/var/lib/dockyard/seaweedfs", STORE_TLS["key"]).stdout.split("\n")
        assert files[:4] == ["/etc/dockyard/seaweedfs/security.toml seaweedfs 600",
                             "/etc/dockyard/seaweedfs/s3.json seaweedfs 600",
                             "/var/lib/dockyard/seaweedfs seaweedfs 700",
                             f"{STORE_TLS['key']} seaweedfs 400"], files


def test_each_store_host_has_a_certificate_of_the_ca_for_its_address_that_serves_and_authenticates_clients(fleet):
    from cryptography import x509
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca = x509.load_pem_x509_certificate((fleet.pki_dir / "ca.crt").read_bytes())
    for store, address in zip(fleet.group("registry_store"), store_addresses(fleet)):
        pem = in_host(fleet, store, "cat", STORE_TLS["cert"]).stdout.encode()
        certificate = x509.load_pem_x509_certificate(pem)
        certificate.verify_directly_issued_by(ca)
        usages = list(certificate.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value)
        assert usages == [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH], usages
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert address in [str(ip) for ip in names.get_values_for_type(x509.IPAddress)], names


def test_every_port_of_the_store_listens_on_the_store_address_only(fleet):
    """Every port weed opens to the network is on the store address; weed also listens on 127.0.0.1 for the master,
    the filer and the S3 gateway (it always does, for clients on the host itself), and Docker's resolver on
    127.0.0.11: nothing on any other address, nothing on the wildcard."""
    for store, address in zip(fleet.group("registry_store"), store_addresses(fleet)):
        listening = in_host(fleet, store, "cat", "/proc/net/tcp", "/proc/net/tcp6").stdout.splitlines()
        sockets = {line.split()[1] for line in listening if line.split()[3:4] == ["0A"]}  # 0A: LISTEN
        ours = "".join(f"{int(part):02X}" for part in reversed(address.split(".")))
        # /proc/net/tcp writes 127.x.y.z as ..7F (little-endian), /proc/net/tcp6 ::1 as 0...01000000.
        outside = [entry for entry in sockets
                   if not entry.split(":")[0].endswith("7F") and entry.split(":")[0] != "0" * 24 + "01000000"]
        network = sorted(int(entry.split(":")[1], 16) for entry in outside)
        assert {entry.split(":")[0] for entry in outside} == {ours}, sorted(sockets)
        assert network == [8080, 8333, 8888, 9333, 18080, 18333, 18888, 19333], f"{store}: {network}"


def test_a_host_without_keys_can_neither_read_nor_write_the_store(fleet, api, probe):
    """From the load balancer's host, which holds no key (the CA's certificate only, so that it verifies the store):
    every master refuses a write assignment, every filer a write and a read, every volume server a read of a blob the
    registry wrote and a write; each port asks for a client certificate of the CA before any HTTP request. The same
    requests from the same host with a store host's certificate and a token signed by the store's keys pass, so the
    refusals are the keys' doing."""
    stores = fleet.group("registry_store")
    addresses = store_addresses(fleet)
    image = push_random_image(fleet, "dockyard/ha-locked", 300000)
    layer = manifest_blobs(fleet, api, image)[-1].split(":")[1]
    blob = f"/buckets/registry/registry/docker/registry/v2/blobs/sha256/{layer[:2]}/{layer}/data"
    filer_read = seaweedfs_token(secret(fleet, "seaweedfs-filer-read-key"))
    meta = store_json(fleet, stores[0], f"https://{addresses[0]}:8888{blob}?metadata=true", filer_read)
    chunk = meta["chunks"][0]
    fid = chunk.get("file_id") or chunk["fileId"]
    volume = fid.split(",")[0]
    leader = store_json(fleet, stores[0], f"https://{addresses[0]}:9333/cluster/status")["Leader"].split(":")[0]
    without_keys = {"ca": PROBE_CA}
    assert http_statuses(fleet, probe, [("GET", f"https://{leader}:9333/dir/assign", None, None)],
                         without_keys) == ["tls"]
    refused = []
    for address in addresses:
        answers = http_statuses(fleet, probe, [
            ("POST", f"https://{address}:8888/dockyard-probe/{uuid.uuid4().hex}", "written by a host without keys", None),
            ("GET", f"https://{address}:8888{blob}", None, None),
            ("GET", f"https://{address}:8080/{fid}", None, None),
            ("POST", f"https://{address}:8080/{fid}", "overwritten by a host without keys", None),
            ("POST", f"https://{address}:8080/{volume},{uuid.uuid4().hex[:10]}", "written by a host without keys", None),
            ("DELETE", f"https://{address}:8080/{fid}", None, None),
            # Plain HTTP on the same ports gets no answer of the store either.
            ("GET", f"http://{address}:8080/{fid}", None, None),
            ("GET", f"http://{address}:9333/dir/assign", None, None),
        ], without_keys)
        refused.append(answers)
    assert refused == [["tls"] * 6 + [400, 400]] * len(addresses), refused
    # The same host with a store host's certificate (copied there for the test) and the keys' tokens reads; the
    # guard still hands it no assignment (only the store hosts' addresses get one), a store host gets one.
    with_certificate = {"ca": PROBE_CA, "cert": "/tmp/dockyard-store.crt", "key": "/tmp/dockyard-store.key"}
    try:
        for name in ("cert", "key"):
            local("docker", "cp", "--follow-link", f"{fleet.container(stores[0])}:{STORE_TLS[name]}",
                  f"/tmp/dockyard-{fleet.container(stores[0])}-{name}")
            local("docker", "cp", f"/tmp/dockyard-{fleet.container(stores[0])}-{name}",
                  f"{fleet.container(probe)}:{with_certificate[name]}")
        volume_read = seaweedfs_token(secret(fleet, "seaweedfs-volume-read-key"), fid=fid)
        with_tokens = http_statuses(fleet, probe, [
            ("GET", f"https://{addresses[0]}:8888{blob}", None, filer_read),
            ("GET", f"https://{addresses[0]}:8888{blob}", None, None),
            ("GET", f"https://{leader}:9333/dir/assign", None, None)] + [
            ("GET", f"https://{address}:8080/{fid}", None, volume_read) for address in addresses], with_certificate)
        assert with_tokens[:3] == [200, 401, 401] and 200 in with_tokens[3:] and 401 not in with_tokens[3:], with_tokens
    finally:
        for name in ("cert", "key"):
            Path(f"/tmp/dockyard-{fleet.container(stores[0])}-{name}").unlink(missing_ok=True)
        in_host(fleet, probe, "rm", "-f", with_certificate["cert"], with_certificate["key"], check=False)
    assert http_statuses(fleet, stores[1], [("GET", f"https://{leader}:9333/dir/assign", None, None)],
                         STORE_TLS) == [200]
    # The image still pulls by digest on the other replica, through the S3 gateway's keys and its tokens.
    assert_pulls_by_digest(fleet, fleet.puller, fleet.address, image)


def test_a_follower_master_hands_no_write_assignment_to_a_host_without_keys(fleet, probe):
    """Every master, followers included, asks for a client certificate before it proxies anything to the leader; a
    store host, with its certificate, gets an assignment through each of them."""
    addresses = store_addresses(fleet)
    answers = http_statuses(fleet, probe, [("GET", f"https://{address}:9333/dir/assign", None, None)
                                           for address in addresses], {"ca": PROBE_CA})
    assert answers == ["tls"] * len(answers), answers
    through_each = http_statuses(fleet, fleet.group("registry_store")[1], [
        ("GET", f"https://{address}:9333/dir/assign", None, None) for address in addresses], STORE_TLS)
    assert through_each == [200] * len(addresses), through_each


def test_a_host_without_keys_cannot_change_the_store_through_its_grpc_ports(fleet, probe, tmp_path):
    """weed's own shell, from the load balancer's host without any key, tries to make a directory in the registry's
    bucket through the filer's gRPC port (it retries a master it cannot reach until its time is up); a store host then
    looks for it through the filer with a token. The same shell with a store host's security.toml (its certificate)
    reaches the cluster."""
    store = fleet.group("registry_store")[0]
    address = store_addresses(fleet)[0]
    local("docker", "cp", f"{fleet.container(store)}:/usr/local/bin/weed", str(tmp_path / "weed"))
    local("docker", "cp", str(tmp_path / "weed"), f"{fleet.container(probe)}:/tmp/dockyard-weed")
    path = f"/buckets/registry/dockyard-grpc-probe-{uuid.uuid4().hex[:8]}"
    try:
        done = local("docker", "exec", "--interactive", "--workdir", "/tmp", fleet.container(probe), "timeout", "20",
                     "/tmp/dockyard-weed", "shell", f"-master={address}:9333", check=False, timeout=60,
                     input=f"fs.mkdir {path}\n")
        token = seaweedfs_token(secret(fleet, "seaweedfs-filer-read-key"))
        found = http_statuses(fleet, store, [("GET", f"https://{address}:8888{path}?metadata=true", None, token)],
                              STORE_TLS)
        assert found == [404], f"made {path} without keys ({found}): {done.stdout[-500:]}{done.stderr[-500:]}"
        # The store host's own shell, with its security.toml, lists the bucket through the same ports.
        listed = in_host(fleet, store, "sh", "-c", f"echo 'fs.ls /buckets' | timeout 60 /usr/local/bin/weed "
                         f"-config_dir=/etc/dockyard/seaweedfs shell -master={address}:9333")
        assert "registry" in listed.stdout, listed.stdout[-500:] + listed.stderr[-500:]
    finally:
        in_host(fleet, probe, "rm", "-f", "/tmp/dockyard-weed", check=False)


def test_the_replicas_reach_the_store_over_tls_that_the_ca_verifies(fleet, tmp_path):
    """The registry's S3 endpoint is the store's HTTPS, verified (skipverify false) with the CA bundle mounted as the
    container's only roots; the registry's own storage walk (garbage-collect --dry-run, which reads every repository
    through the S3 driver) passes with it and fails with another CA in its place."""
    from x509_certificates import registry_ca

    replica = fleet.group("registry")[0]
    config = yaml.safe_load(in_host(fleet, replica, "cat", "/etc/dockyard/registry/config.yml").stdout)
    s3 = config["storage"]["s3"]
    assert s3["regionendpoint"] == f"https://{store_addresses(fleet)[0]}:8333", s3["regionendpoint"]
    assert s3["secure"] is True and s3["skipverify"] is False, s3
    environment = in_host(fleet, replica, "docker", "inspect", "--format", "{{json .Config.Env}}",
                          REGISTRY_CONTAINER).stdout
    assert "SSL_CERT_FILE=/etc/docker/registry/store-ca.crt" in json.loads(environment), environment
    walk = ("docker", "exec", REGISTRY_CONTAINER, "/bin/registry", "garbage-collect", "--dry-run",
            "/etc/docker/registry/config.yml")
    verified = in_host(fleet, replica, *walk, check=False)
    assert verified.returncode == 0, verified.stdout[-1000:] + verified.stderr[-1000:]
    # Another CA, of the same kind, in the container's data directory: the same walk must fail on the certificate.
    (tmp_path / "other-ca.crt").write_bytes(registry_ca("another CA").pem)
    local("docker", "cp", str(tmp_path / "other-ca.crt"), f"{fleet.container(replica)}:/var/lib/dockyard/registry/other-ca.crt")
    in_host(fleet, replica, "chmod", "0644", "/var/lib/dockyard/registry/other-ca.crt")
    try:
        refused = in_host(fleet, replica, "docker", "exec", "--env", "SSL_CERT_FILE=/var/lib/registry/other-ca.crt",
                          *walk[2:], check=False)
    finally:
        in_host(fleet, replica, "rm", "-f", "/var/lib/dockyard/registry/other-ca.crt", check=False)
    assert refused.returncode != 0, refused.stdout[-1000:]
    assert "x509" in refused.stdout + refused.stderr, refused.stdout[-1000:] + refused.stderr[-1000:]


def test_an_upload_whose_requests_go_to_both_replicas_completes(fleet, api):
    """The shared http.secret signs the upload's state, and the shared store holds its data: either replica goes on."""
    one, other = (f"https://{host_address(fleet, name)}:{fleet.port}" for name in fleet.group("registry"))
    content = uuid.uuid4().bytes * 4096
    digest = f"sha256:{hashlib.sha256(content).hexdigest()}"

    def path(response) -> str:
        location = response.headers["Location"]
        return location[location.index("/v2/"):]

    started = api.post(f"{one}/v2/dockyard/ha-upload/blobs/uploads/", timeout=30)
    assert started.status_code == 202, started.text
    chunk = api.patch(f"{other}{path(started)}", data=content[:30000], timeout=30,
                      headers={"Content-Type": "application/octet-stream"})
    assert chunk.status_code == 202, chunk.text
    query = "&" if "?" in path(chunk) else "?"
    done = api.put(f"{one}{path(chunk)}{query}digest={digest}", data=content[30000:], timeout=30,
                   headers={"Content-Type": "application/octet-stream"})
    assert done.status_code == 201, done.text
    fetched = api.get(f"{other}/v2/dockyard/ha-upload/blobs/{digest}", timeout=30)
    assert fetched.status_code == 200 and fetched.content == content


@dataclasses.dataclass
class Pull:
    host: str
    started: float
    ended: float
    ok: bool


class PullLoops:
    """The pulling loop on each Docker host of the fleet, started detached, read back from its log."""

    def __init__(self, fleet, reference: str) -> None:
        self.fleet, self.reference = fleet, reference
        self.hosts = fleet.docker_hosts
        self.log = f"/tmp/dockyard-pull-loop-{uuid.uuid4().hex[:8]}.log"  # on each host

    def start(self) -> None:
        for host in self.hosts:
            write_file(self.fleet.host(host), LOOP_SCRIPT, PULL_LOOP.encode(), "0755")
            local("docker", "exec", "--detach", self.fleet.container(host), LOOP_SCRIPT, self.reference,
                  str(LOOP_MAX_PULLS), str(LOOP_MAX_SECONDS), self.log, f"{self.log}.stop", LOOP_PAUSE)

    def pulls(self) -> list[Pull]:
        found = []
        for host in self.hosts:
            for line in in_host(self.fleet, host, "cat", self.log).stdout.splitlines():
                started, ended, result = line.split()
                found.append(Pull(host, float(started), float(ended), result == "ok"))
        return sorted(found, key=lambda pull: pull.started)

    def errors(self) -> str:
        return "\n".join(in_host(self.fleet, host, "sh", "-c", f"tail -n 5 {self.log}.err || true").stdout
                         for host in self.hosts)

    def stop(self) -> None:
        """Stop every loop (again, too) and wait until each has."""
        for host in self.hosts:
            in_host(self.fleet, host, "touch", f"{self.log}.stop", check=False)
        for host in self.hosts:
            wait_for(lambda host=host: in_host(self.fleet, host, "test", "-e", f"{self.log}.end",
                                               check=False).returncode == 0, 60, f"the loop on {host} stops")


def push_random_image(fleet, repository: str, size: int) -> PushedImage:
    """An image of one layer of ``size`` random bytes, built on the pusher and pushed through the load balancer."""
    host = fleet.host(fleet.pusher)
    tag = uuid.uuid4().hex[:12]
    context = f"/tmp/dockyard-molecule-{tag}"
    run_ok(host, "mkdir -p %s && head -c %s /dev/urandom > %s/payload.bin", context, str(size), context)
    write_file(host, f"{context}/Dockerfile", b"FROM scratch\nCOPY payload.bin /payload.bin\n", "0644")
    run_ok(host, "docker build --quiet --tag %s %s", f"{repository}:{tag}", context)
    result = host.ansible("dockyard.registry.registry_image",
                          json.dumps({"name": f"{fleet.address}/{repository}:{tag}", "source": f"{repository}:{tag}",
                                      "state": "pushed", **push_options(fleet)}), check=False)
    assert str(result.get("digest", "")).startswith("sha256:"), result
    return PushedImage(fleet.pusher, repository, tag, result["digest"])


@pytest.fixture(scope="module")
def loop_image(fleet) -> PushedImage:
    """An image of one 2 MB layer of random bytes, pushed from the pusher through the load balancer."""
    return push_random_image(fleet, "dockyard/ha-loop", 2000000)


@pytest.fixture(scope="module")
def pull_loops(fleet, loop_image):
    loops = PullLoops(fleet, loop_image.by_digest(fleet.address))
    loops.start()
    wait_for(lambda: {pull.host for pull in loops.pulls() if pull.ok} == set(loops.hosts), 60,
             "each host has pulled once")
    try:
        yield loops
    finally:
        loops.stop()


@pytest.fixture(scope="module")
def figures(fleet):
    """The failure figures of the scenario, printed at the end of the module (and kept as JSON where asked)."""
    found: dict = {"scenario": "ha", "pulling_hosts": fleet.docker_hosts, "replicas": fleet.group("registry"),
                   "loop_bounds": {"pulls": LOOP_MAX_PULLS, "seconds": LOOP_MAX_SECONDS}}
    yield found
    print("\n[ha] figures: " + json.dumps(found, indent=2))
    if FIGURES:
        Path(FIGURES).parent.mkdir(parents=True, exist_ok=True)
        Path(FIGURES).write_text(json.dumps(found, indent=2) + "\n")


def replica_container_id(fleet, replica: str) -> str:
    return in_host(fleet, replica, "docker", "inspect", "--format", "{{.Id}}", REGISTRY_CONTAINER).stdout.strip()


def test_a_killed_replica_costs_no_pull_once_the_load_balancer_marks_it_down(fleet, pull_loops, figures):
    victim = fleet.group("registry")[0]
    time.sleep(2)
    killed = time.time()
    in_host(fleet, victim, "docker", "kill", REGISTRY_CONTAINER)
    wait_for(lambda: lb_servers(fleet)[victim][0].startswith("DOWN"), 30, f"the load balancer marks {victim} down")
    down = time.time()
    time.sleep(AFTER_DOWN_SECONDS)
    restarted = time.time()
    in_host(fleet, victim, "docker", "start", REGISTRY_CONTAINER)
    wait_for(lambda: lb_servers(fleet)[victim][0] == "UP", 60, f"the load balancer has {victim} up again")
    up = time.time()
    pulls = pull_loops.pulls()
    during_loss = [pull for pull in pulls if pull.ended >= killed and pull.started < down]
    after_down = [pull for pull in pulls if pull.started >= down and pull.ended <= restarted]
    back = [pull for pull in pulls if pull.started >= restarted and pull.ended <= up]
    figures["replica_killed"] = {
        "replica": victim, "seconds_to_mark_down": round(down - killed, 2),
        "pulls_until_marked_down": len(during_loss), "failed_until_marked_down": sum(not p.ok for p in during_loss),
        "pulls_after_marked_down": len(after_down), "failed_after_marked_down": sum(not p.ok for p in after_down),
        "pulls_while_it_came_back": len(back), "failed_while_it_came_back": sum(not p.ok for p in back)}
    print(f"\n[ha] replica killed: {figures['replica_killed']}")
    assert len(after_down) >= 4, f"too few pulls after {victim} was marked down to judge: {after_down}"
    assert all(pull.ok for pull in after_down + back), (
        f"pulls failed after the load balancer marked {victim} down: {figures['replica_killed']}; "
        f"the daemons said:\n{pull_loops.errors()}")


def test_a_rolling_change_of_the_configuration_costs_no_pull(fleet, pull_loops, figures):
    replicas = fleet.group("registry")
    before = {replica: replica_container_id(fleet, replica) for replica in replicas}
    # Another log level than the one in force: the configuration of every replica changes.
    config = in_host(fleet, replicas[0], "cat", "/etc/dockyard/registry/config.yml").stdout
    level = "info" if re.search(r"^  level: warn$", config, re.MULTILINE) else "warn"
    started = time.time()
    run = fleet.ansible_playbook(Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "playbooks" / "server.yml",
                                 extra_vars={"registry_server_log_level": level})
    ended = time.time()
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    after = {replica: replica_container_id(fleet, replica) for replica in replicas}
    assert all(before[replica] != after[replica] for replica in replicas), f"not every replica was replaced: {after}"
    # One replica at a time: each drained, replaced and back up before the next is drained.
    # The only delegated tasks of server.yml: the drain and the return of each replica, on the load balancer.
    moves = re.findall(r"^changed: \[(\S+) -> ", run.stdout, re.MULTILINE)
    assert moves == [replica for replica in replicas for _step in ("drained", "ready")], run.stdout[-6000:]
    pull_loops.stop()  # no load on the tests after this one
    pulls = [pull for pull in pull_loops.pulls() if pull.ended >= started and pull.started <= ended]
    figures["rolling_change"] = {"seconds": round(ended - started, 1), "pulls": len(pulls),
                                 "failed": sum(not pull.ok for pull in pulls)}
    print(f"\n[ha] rolling change: {figures['rolling_change']}")
    assert len(pulls) >= 10, f"too few pulls during the rolling change to judge: {pulls}"
    assert all(pull.ok for pull in pulls), (
        f"pulls failed during the rolling change: {figures['rolling_change']}; the daemons said:\n{pull_loops.errors()}")
    wait_for(lambda: {status for status, _sessions in lb_servers(fleet).values()} == {"UP"}, 30, "both replicas are up")


def task_output(run: subprocess.CompletedProcess, name: str) -> str:
    """What the run printed under the task ``name`` (the role's prefix aside), up to the next task."""
    found = re.search(rf"^TASK \[(?:[^\]]*: )?{re.escape(name)}\] \**\n(.*?)(?=^TASK \[|^PLAY RECAP)", run.stdout,
                      re.MULTILINE | re.DOTALL)
    assert found, f"the run has no task {name!r}: {run.stdout[-4000:]}"
    return found.group(1)


def test_garbage_collection_with_replicas_leaves_no_stale_cache_for_a_push_of_what_it_deleted(fleet, api, pushed_image):
    """An image deleted, collected, and pushed again pulls: its blobs were gone, and no replica took them for present
    from the shared cache (distribution#2945), so the push uploaded them again."""
    replicas = fleet.group("registry")
    doomed = push_random_image(fleet, "dockyard/ha-gc", 300000)
    layer = manifest_blobs(fleet, api, doomed)[-1]
    urls = [f"https://{host_address(fleet, replica)}:{fleet.port}/v2/{doomed.repository}" for replica in replicas]
    for url in urls:  # each replica has seen the layer: the shared cache holds it
        assert api.head(f"{url}/blobs/{layer}", timeout=30).status_code == 200
    deleted = api.delete(f"{urls[0]}/manifests/{doomed.digest}", timeout=30)
    assert deleted.status_code == 202, deleted.text

    playbook = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "playbooks" / "gc.yml"
    run = fleet.ansible_playbook(playbook, extra_vars={"registry_gc_verify": [pushed_image.by_digest(fleet.address)]})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    # Read-only, then back: one replica at a time each way, drained and put back on the load balancer. Which
    # replica goes first in each phase is the order in which Ansible gathers the hosts' includes, which it does not
    # promise; that each replica is drained and back before the next one moves is what matters.
    # The flush is delegated to the Redis host: its line is not a move.
    flushed = task_output(run, "Empty the replicas' shared blob descriptor cache")
    moves = re.findall(r"^changed: \[(\S+) -> ", run.stdout.replace(flushed, ""), re.MULTILINE)
    assert len(moves) == 4 * len(replicas), run.stdout[-6000:]
    for phase in (moves[:2 * len(replicas)], moves[2 * len(replicas):]):
        pairs = [phase[index:index + 2] for index in range(0, len(phase), 2)]
        assert all(drained == ready for drained, ready in pairs), (moves, run.stdout[-6000:])
        assert sorted(drained for drained, _ready in pairs) == sorted(replicas), (moves, run.stdout[-6000:])
    assert re.search(r"Deleted from dockyard-registry: [1-9][0-9]* blobs", run.stdout), run.stdout[-6000:]
    # On the Redis host (the load balancer here), as Ansible names a delegated host: "lb(<its address>)".
    assert f"changed: [{replicas[0]} -> {fleet.balancers[0]}(" in flushed, flushed
    said = " ".join(run.stdout.split())
    assert f"{pushed_image.by_digest(fleet.address)}: 2 blobs re-hashed, digests agree" in said, said[-3000:]
    for url in urls:  # gone from the store, and no replica says otherwise
        assert api.head(f"{url}/blobs/{layer}", timeout=30).status_code == 404

    again = fleet.host(fleet.pusher).ansible(
        "dockyard.registry.registry_image",
        json.dumps({"name": f"{fleet.address}/{doomed.repository}:{doomed.tag}",
                    "source": f"{doomed.repository}:{doomed.tag}", "state": "pushed", **push_options(fleet)}),
        check=False)
    assert again.get("digest") == doomed.digest, again
    assert_pulls_by_digest(fleet, fleet.puller, fleet.address, doomed)


def site_run(fleet, inventory: Path, limit: str, **extra_vars) -> subprocess.CompletedProcess:
    playbook = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "playbooks" / "site.yml"
    return fleet.ansible_playbook(playbook, inventory=inventory, extra_vars=extra_vars, limit=limit)


def assert_refused_in_preflight(run: subprocess.CompletedProcess, message: str) -> None:
    """The run failed with ``message`` in its first play, the preflight, and changed nothing on any host."""
    said = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0 and message in said, said[-4000:]
    assert re.findall(r"^PLAY \[(.*?)\]", run.stdout, re.MULTILINE) == ["Check the inventory before any host changes"]
    recap = run.stdout[run.stdout.rindex("PLAY RECAP"):]
    changed = [line.split()[0] for line in recap.splitlines()[1:] if "changed=" in line and "changed=0" not in line]
    assert changed == [], f"hosts changed by a refused run: {changed}\n{recap}"


def test_bad_input_is_refused_in_preflight_before_any_host_changes(fleet, tmp_path):
    replica = fleet.group("registry")[0]
    container_before = replica_container_id(fleet, replica)
    # s3 storage without the collection's store needs the bucket and the keys of the user's own store: a copy of the
    # inventory without the group registry_store, beside the scenario's CA and passphrase.
    inventory = tmp_path / "inventory"
    subprocess.run(["cp", "-rL", str(fleet.inventory), str(inventory)], check=True)
    for state in ("pki", "credentials"):
        (tmp_path / state).symlink_to(fleet.inventory.parent / state)
    hosts_file = inventory / "ansible_inventory.yml"
    hosts = yaml.safe_load(hosts_file.read_text())
    del hosts["registry_store"]
    hosts_file.write_text(yaml.safe_dump(hosts))
    cases = {  # the message each run must stop with, and the inventory and extra variables it runs with
        "each would keep its own blobs": (fleet.inventory, {"registry_storage": "filesystem"}),
        "has no replica to send clients to": (fleet.inventory, {"registry_lb_backend_hosts": []}),
        "registry_s3_bucket is empty": (inventory, {}),
        "registry_s3_access_key or registry_s3_secret_key is empty": (inventory, {"registry_s3_bucket": "mine"}),
        # Inventory values that would reach weed's command line or its security.toml with a line break in them.
        "registry_store_rack must be empty or letters": (fleet.inventory, {"registry_store_rack": "r1\n-whiteList="}),
        "registry_store_data_center must be empty or letters": (fleet.inventory,
                                                                {"registry_store_data_center": "dc 1"}),
        "registry_store_bind_address must be empty": (fleet.inventory,
                                                      {"registry_store_bind_address": "0.0.0.0 -ip.bind=0.0.0.0"}),
        # A TLS directory that would reach redis.conf with a directive of its own.
        "registry_cache_tls_dir must be an absolute path": (fleet.inventory,
                                                            {"registry_cache_tls_dir": "/tls\ntls-auth-clients no"}),
    }
    # The runs at once (they only read), each on a replica, the load balancer and a store host, whose checks these are.
    limit = f"{replica},{fleet.balancers[0]},{fleet.group('registry_store')[0]}"
    with concurrent.futures.ThreadPoolExecutor(len(cases)) as pool:
        runs = {message: pool.submit(site_run, fleet, where, limit=limit, **extra)
                for message, (where, extra) in cases.items()}
    for message, run in runs.items():
        assert_refused_in_preflight(run.result(), message)
    assert replica_container_id(fleet, replica) == container_before


def test_every_image_pulls_by_digest_with_a_store_host_stopped(fleet, pushed_image, loop_image, figures):
    store = fleet.group("registry_store")[-1]
    local("docker", "stop", "--time", "2", fleet.container(store))
    stopped = time.monotonic()
    try:
        for image in (pushed_image, loop_image):
            # The cluster takes a while to notice a lost volume server: a read may wait for that, bounded here,
            # but every blob must come back from its other copy.
            deadline = time.monotonic() + 120
            while True:
                try:
                    assert_pulls_by_digest(fleet, fleet.puller, fleet.address, image)
                    break
                except pytest.fail.Exception:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(2)
        figures["store_host_stopped"] = {"store_host": store, "images": 2,
                                         "seconds_until_every_image_pulled": round(time.monotonic() - stopped, 1)}
        print(f"\n[ha] store host stopped: {figures['store_host_stopped']}")
    finally:
        # Its servers do not start with the container: the store playbook starts them again.
        local("docker", "start", fleet.container(store))
        playbook = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"]) / "playbooks" / "store.yml"
        restored = fleet.ansible_playbook(playbook, limit=store)
        assert restored.returncode == 0, restored.stdout[-3000:] + restored.stderr[-2000:]
