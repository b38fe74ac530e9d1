"""dockyard.registry.registry_store: the command line and security.toml it writes, run by SeaweedFS's real weed.

One ``weed server`` (master, volume server, filer and S3 gateway) starts here on loopback and free ports, with the
certificate the collection's signing code issues (serverAuth and clientAuth) and the files the module writes. Its ports
are then asked with and without a certificate of the CA, through the module's own client and with ``requests``.
The binary is the one the registry_store action plugin keeps on the controller (skipped where none was downloaded).
"""

from __future__ import annotations

import datetime
import socket
import subprocess
import time
from pathlib import Path

import pytest
import requests

from ansible_collections.dockyard.registry.plugins.module_utils import _pki as pki
from ansible_collections.dockyard.registry.plugins.module_utils._seaweedfs import (
    s3_identities,
    security_toml,
    server_argv,
)
from ansible_collections.dockyard.registry.plugins.module_utils._seaweedfs_host import http_json, leader, tls_state
from ansible_collections.dockyard.registry.plugins.module_utils._service import ServiceError
from ansible_collections.dockyard.registry.plugins.module_utils._tls_files import tls_paths

WEED = Path("~/.cache/dockyard.registry/seaweedfs/4.48/x86_64/weed").expanduser()
KEYS = {"volume_write": "v" * 32, "volume_read": "r" * 32, "filer_write": "f" * 32, "filer_read": "g" * 32}
ADDRESS = "127.0.0.1"

pytestmark = pytest.mark.skipif(not WEED.is_file(), reason="no weed 4.48 binary downloaded on this machine")


def free_port() -> int:
    """A free port whose gRPC twin (10000 higher) is free too."""
    while True:
        with socket.socket() as first:
            first.bind((ADDRESS, 0))
            port = first.getsockname()[1]
        if port + 10000 > 65535:
            continue
        with socket.socket() as second:
            try:
                second.bind((ADDRESS, port + 10000))
            except OSError:
                continue
        return port


def answers(port: int) -> bool:
    try:
        with socket.create_connection((ADDRESS, port), timeout=2):
            return True
    except OSError:
        return False


def shell(config_dir: Path, master: str, command: str) -> str:
    """What weed's shell prints for ``command`` within 15 s (without keys it retries the master until killed)."""
    try:
        done = subprocess.run([str(WEED), f"-config_dir={config_dir}", "shell", f"-master={master}"],
                              check=False, input=command,
                              capture_output=True, text=True, timeout=15, cwd=config_dir, env={"HOME": str(config_dir)})
        return done.stdout + done.stderr
    except subprocess.TimeoutExpired as expired:
        return (expired.stdout or b"").decode() + (expired.stderr or b"").decode()


@pytest.fixture(scope="module")
def store(tmp_path_factory, test_ca):
    """A running one-host store with mutual TLS, as the module configures it; its paths and ports."""
    root = tmp_path_factory.mktemp("store")
    tls = tls_paths(str(root / "tls"))
    (root / "tls").mkdir()
    ca, ca_key = test_ca
    key = pki.new_key("ECC")
    sans = [f"IP:{ADDRESS}"]
    certificate = pki.sign(pki.certificate_request(key, sans), ca, ca_key, datetime.timedelta(days=1), sans,
                           client_auth=True)
    Path(tls["key"]).write_bytes(pki.key_pem(key))
    Path(tls["cert"]).write_bytes(pki.certificate_pem(certificate))
    Path(tls["ca"]).write_bytes(pki.certificate_pem(ca))
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    (root / "s3.json").write_bytes(s3_identities("AKTEST", "secret-test-key"))
    (root / "security.toml").write_bytes(security_toml(KEYS, [ADDRESS], tls, tls_state(tls, False)))
    (root / "data" / "master").mkdir(parents=True)
    argv = server_argv(str(WEED), address=ADDRESS, bind_address="", data_dir=str(root / "data"),
                       masters=[f"{ADDRESS}:{ports['master']}"], master=True, ports=ports, replication="000",
                       volume_size_limit_mb=64, volume_max=4, s3_config=str(root / "s3.json"), config_dir=str(root),
                       tls=tls)
    with open(root / "weed.log", "wb") as log:
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    try:
        deadline = time.monotonic() + 60
        while leader([f"{ADDRESS}:{ports['master']}"], tls) is None or not all(map(answers, ports.values())):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"weed did not elect itself leader: {(root / 'weed.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"tls": tls, "ports": ports, "root": root}
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_the_module_reads_the_cluster_status_over_mutual_tls(store):
    status, body = http_json(f"https://{ADDRESS}:{store['ports']['master']}/cluster/status", store["tls"])
    assert status == 200 and body["IsLeader"], body


@pytest.mark.parametrize("server", ["master", "volume", "filer"])
def test_an_http_port_refuses_a_client_without_a_certificate_of_the_ca(store, server):
    url = f"https://{ADDRESS}:{store['ports'][server]}/"
    with pytest.raises((requests.exceptions.SSLError, requests.exceptions.ConnectionError)):
        requests.get(url, verify=store["tls"]["ca"], timeout=10)
    # The same request with the host's certificate gets an HTTP answer (whatever the server makes of it).
    answered = requests.get(url, verify=store["tls"]["ca"], cert=(store["tls"]["cert"], store["tls"]["key"]), timeout=10)
    assert answered.status_code in (200, 400, 401, 404), answered.status_code


@pytest.mark.parametrize("server", ["master", "volume", "filer", "s3"])
def test_a_grpc_port_refuses_a_client_without_a_certificate_of_the_ca(store, server):
    """weed's shell without a security.toml cannot reach the master's gRPC port; with the store's it lists the
    cluster. The other gRPC ports take TLS only: a plain connection gets no gRPC answer."""
    if server == "master":
        empty = store["root"] / "no-keys"
        empty.mkdir(exist_ok=True)
        master = f"{ADDRESS}:{store['ports']['master']}"
        with_keys = shell(store["root"], master, "cluster.ps\n")
        assert f"{ADDRESS}:{store['ports']['filer']}" in with_keys, with_keys
        without = shell(empty, master, "cluster.ps\n")
        assert f"{ADDRESS}:{store['ports']['filer']}" not in without, without
        return
    port = int(store["ports"][server]) + 10000
    with socket.create_connection((ADDRESS, port), timeout=5) as connection:
        # The HTTP/2 preface of a plain gRPC client: a TLS server answers with an alert or closes.
        connection.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        connection.settimeout(5)
        try:
            answer = connection.recv(64)
        except (ConnectionResetError, TimeoutError):
            answer = b""
    assert not answer.startswith(b"\x00\x00"), answer  # no HTTP/2 frame: the port does not speak plain gRPC


def test_the_s3_gateway_serves_tls_that_the_ca_verifies_without_asking_a_client_certificate(store):
    url = f"https://{ADDRESS}:{store['ports']['s3']}/"
    answered = requests.get(url, verify=store["tls"]["ca"], timeout=10)
    assert answered.status_code == 403, answered.status_code  # no S3 keys: refused by the gateway, not by TLS
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(url, verify=True, timeout=10)  # the system's roots do not know the collection's CA
    # Plain HTTP gets Go's answer to a plain request on a TLS port, nothing of the gateway's.
    assert requests.get(f"http://{ADDRESS}:{store['ports']['s3']}/", timeout=10).status_code == 400


def test_missing_tls_files_are_refused_before_any_change_but_predicted_in_check_mode(tmp_path):
    tls = tls_paths(str(tmp_path))
    assert tls_state(tls, True) == ""
    with pytest.raises(ServiceError, match="tls_dir lacks"):
        tls_state(tls, False)
