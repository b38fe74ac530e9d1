"""The registry speaks TLS 1.2 and 1.3 with AEAD cipher suites only: asked with ``openssl s_client``.

The refusals only count if this machine's OpenSSL can speak the old protocols at all (Debian's default
security level forbids them): a control server of this machine's own proves the client does, with the same
options, before the registry is asked.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import time

import pytest
from scratch_registry import CA

# The client's options that allow TLS 1.0 and 1.1 and the legacy suites (OpenSSL 3: security level 0).
LEGACY = ["-cipher", "DEFAULT:@SECLEVEL=0"]


def s_client(address: str, *options: str) -> subprocess.CompletedProcess:
    return subprocess.run(["openssl", "s_client", "-connect", address, "-brief", *options], input="", check=False,
                          capture_output=True, text=True, timeout=30)


def handshake_succeeded(run: subprocess.CompletedProcess) -> bool:
    return run.returncode == 0 and "CONNECTION ESTABLISHED" in run.stderr


@pytest.fixture(scope="module")
def legacy_server(tmp_path_factory):
    """An ``openssl s_server`` on loopback that accepts TLS 1.0 and CBC suites: the client's control."""
    directory = tmp_path_factory.mktemp("legacy-tls")
    server = CA("legacy control CA").issue(["127.0.0.1"])
    (directory / "server.crt").write_bytes(server.pem)
    (directory / "server.key").write_bytes(server.key_pem)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    process = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(directory / "server.crt"),
         "-key", str(directory / "server.key"), "-cipher", "ALL:@SECLEVEL=0", "-www"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
                break
            time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.parametrize("protocol", ["-tls1", "-tls1_1"])
def test_tls_1_0_and_1_1_handshakes_fail(registry, legacy_server, protocol):
    control = s_client(legacy_server, protocol, *LEGACY)
    assert handshake_succeeded(control), f"the client cannot speak {protocol} at all:\n{control.stderr}"
    refused = s_client(registry.address, protocol, *LEGACY)
    assert not handshake_succeeded(refused), refused.stderr
    assert "alert protocol version" in refused.stderr or "unsupported protocol" in refused.stderr, refused.stderr


@pytest.mark.parametrize("cipher", ["ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA",
                                    "ECDHE-ECDSA-AES128-SHA256", "ECDHE-ECDSA-AES256-SHA384"])
def test_tls_1_2_without_aead_fails(registry, legacy_server, cipher):
    control = s_client(legacy_server, "-tls1_2", "-cipher", f"{cipher}:@SECLEVEL=0")
    assert handshake_succeeded(control), f"the client cannot offer {cipher} at all:\n{control.stderr}"
    refused = s_client(registry.address, "-tls1_2", "-cipher", f"{cipher}:@SECLEVEL=0")
    assert not handshake_succeeded(refused), refused.stderr
    assert "handshake failure" in refused.stderr, refused.stderr


@pytest.mark.parametrize(("options", "expected"), [
    (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"], "ECDHE-ECDSA-AES128-GCM-SHA256"),
    (["-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-GCM-SHA384"], "ECDHE-ECDSA-AES256-GCM-SHA384"),
    (["-tls1_2", "-cipher", "ECDHE-ECDSA-CHACHA20-POLY1305"], "ECDHE-ECDSA-CHACHA20-POLY1305"),
    (["-tls1_3"], "TLS_"),
])
def test_tls_1_2_aead_and_tls_1_3_are_served(registry, options, expected):
    served = s_client(registry.address, "-CAfile", str(registry.ca_path), *options)
    assert handshake_succeeded(served), served.stderr
    assert "Verification: OK" in served.stderr, served.stderr
    cipher = next(line for line in served.stderr.splitlines() if line.startswith("Ciphersuite:"))
    assert expected in cipher, cipher
