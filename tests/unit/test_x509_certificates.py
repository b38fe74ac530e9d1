"""The tests' one certificate builder makes what a strict TLS client takes, as the registry_pki role's CA is taken.

Python 3.13 verifies with VERIFY_X509_STRICT by default: a CA without keyUsage, or a certificate under a CA without
an authority key identifier, is refused there. The flag is set here, so that any Python proves it.
"""

from __future__ import annotations

import socket
import ssl
import threading

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID
from x509_certificates import Authority, key_pem, pem, registry_ca


def strict_handshake(tmp_path, trusted: Authority, served: list, key) -> str | None:
    """None where a client verifying strictly and trusting ``trusted`` accepts ``served`` over TLS, else its error."""
    (tmp_path / "server.crt").write_bytes(pem(*served))
    (tmp_path / "server.key").write_bytes(key_pem(key))
    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(tmp_path / "server.crt", tmp_path / "server.key")
    client_context = ssl.create_default_context(cadata=trusted.pem.decode())
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT
    server_end, client_end = socket.socketpair()

    def serve():
        try:
            server_context.wrap_socket(server_end, server_side=True).close()
        except (ssl.SSLError, OSError):
            pass  # the client refused the certificate

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        with client_context.wrap_socket(client_end, server_hostname="registry.example.test"):
            return None
    except ssl.SSLCertVerificationError as error:
        return error.verify_message
    finally:
        client_end.close()
        thread.join(5)


def test_the_role_s_ca_and_what_it_issues_pass_strict_verification(tmp_path):
    ca = registry_ca()
    certificate, key = ca.issue_with_key(["registry.example.test"], extended_usage=[ExtendedKeyUsageOID.SERVER_AUTH])
    assert strict_handshake(tmp_path, ca, [certificate], key) is None


def test_a_chain_through_an_intermediate_passes_strict_verification(tmp_path):
    root = Authority("root CA")
    intermediate = Authority("issuing CA", root)
    certificate, key = intermediate.issue_with_key(["registry.example.test"])
    assert strict_handshake(tmp_path, root, [certificate, *intermediate.chain], key) is None


@pytest.mark.parametrize(("authority", "issued", "refusal"), [
    ({"usage": None}, {}, "CA cert does not include key usage extension"),
    ({"key_ids": False}, {"key_ids": False}, "Missing Authority Key Identifier"),
], ids=["ca-without-key-usage", "without-key-identifiers"])
def test_what_a_test_leaves_out_on_purpose_is_refused(tmp_path, authority, issued, refusal):
    ca = Authority("defective CA", **authority)
    certificate, key = ca.issue_with_key(["registry.example.test"], **issued)
    assert strict_handshake(tmp_path, ca, [certificate], key) == refusal
