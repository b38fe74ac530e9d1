"""The SeaweedFS host as data: weed's command line, its security.toml and the filer tokens the module signs."""

import base64
import hashlib
import hmac
import json

import pytest
import tomllib

from ansible_collections.dockyard.registry.plugins.module_utils._seaweedfs import (
    JWT_KEYS,
    filer_token,
    local_sockets,
    security_toml,
    server_argv,
)
from ansible_collections.dockyard.registry.plugins.module_utils._tls_files import tls_paths

KEYS = {"volume_write": "vw-key", "volume_read": "vr-key", "filer_write": "fw-key", "filer_read": "fr-key"}
PORTS = {"master": 9333, "volume": 8080, "filer": 8888, "s3": 8333}
TLS = tls_paths("/etc/dockyard/seaweedfs/tls/")


def argv(**changes):
    options = {"address": "10.0.3.1", "bind_address": "", "data_dir": "/var/lib/dockyard/seaweedfs",
               "masters": ["10.0.3.1:9333", "10.0.3.2:9333", "10.0.3.3:9333"], "master": True, "ports": PORTS,
               "replication": "001", "volume_size_limit_mb": 64, "volume_max": 0,
               "s3_config": "/etc/dockyard/seaweedfs/s3.json", "config_dir": "/etc/dockyard/seaweedfs", "tls": TLS}
    return server_argv("/usr/local/bin/weed", **{**options, **changes})


def test_weed_reads_security_toml_from_the_config_dir_and_logs_to_its_standard_error_only():
    command = argv()
    # Global options of weed come before the command.
    assert command[:4] == ["/usr/local/bin/weed", "-logtostderr", "-config_dir=/etc/dockyard/seaweedfs", "server"]


def test_every_server_listens_on_the_store_address_or_the_bind_address():
    assert "-ip.bind=10.0.3.1" in argv()
    bound = argv(bind_address="192.0.2.7")
    assert "-ip.bind=192.0.2.7" in bound and "-ip=10.0.3.1" in bound
    # The S3 gateway follows -ip.bind unless told otherwise; nothing tells it otherwise, and the optional
    # gateways are off.
    assert not [argument for argument in bound if argument.startswith("-s3.ip.bind")]
    assert "-s3.port.iceberg=0" in bound and "-s3.port.lance=0" in bound


def test_rack_and_data_center_are_one_argument_each():
    command = argv(rack="r1", data_center="dc-2")
    assert "-rack=r1" in command and "-dataCenter=dc-2" in command
    assert not [argument for argument in argv() if argument.startswith(("-rack", "-dataCenter"))]


def test_security_toml_gives_each_signing_key_its_section_and_the_guard_the_store_hosts():
    parsed = tomllib.loads(security_toml(KEYS, ["10.0.3.1", "10.0.3.2", "10.0.3.3"], TLS).decode())
    assert parsed["jwt"]["signing"]["key"] == "vw-key"
    assert parsed["jwt"]["signing"]["read"]["key"] == "vr-key"
    assert parsed["jwt"]["filer_signing"]["key"] == "fw-key"
    assert parsed["jwt"]["filer_signing"]["read"]["key"] == "fr-key"
    assert parsed["jwt"]["signing"]["expires_after_seconds"] == 10
    assert parsed["jwt"]["filer_signing"]["read"]["expires_after_seconds"] == 60
    # The parts of one weed server process call each other over unix sockets, which weed's guard sees as "@".
    assert parsed["guard"]["white_list"] == "10.0.3.1,10.0.3.2,10.0.3.3,@"
    assert parsed["access"]["ui"] is False
    assert parsed["filer"]["expose_directory_metadata"]["enabled"] is False


def test_security_toml_quotes_what_it_holds_and_refuses_a_line_break():
    parsed = tomllib.loads(security_toml({**KEYS, "filer_read": 'a"b\\c'}, ["10.0.0.0/24"], TLS).decode())
    assert parsed["jwt"]["filer_signing"]["read"]["key"] == 'a"b\\c'
    with pytest.raises(ValueError, match="control character"):
        security_toml(KEYS, ["10.0.3.1\n[guard]"], TLS)


@pytest.mark.parametrize("missing", sorted(JWT_KEYS))
def test_security_toml_needs_every_signing_key(missing):
    with pytest.raises(ValueError, match=missing):
        security_toml({**KEYS, missing: ""}, ["10.0.3.1"], TLS)


def test_every_grpc_server_and_client_speaks_mutual_tls_with_the_host_s_certificate_and_the_ca():
    parsed = tomllib.loads(security_toml(KEYS, ["10.0.3.1"], TLS).decode())
    identity = {"cert": "/etc/dockyard/seaweedfs/tls/server.crt", "key": "/etc/dockyard/seaweedfs/tls/server.key"}
    assert parsed["grpc"]["ca"] == "/etc/dockyard/seaweedfs/tls/ca.crt"
    for component in ("master", "volume", "filer", "s3", "client"):
        assert parsed["grpc"][component] == identity, component
    # No common-name filter: every certificate of the CA is a store host's (the CA signs only computed names).
    assert "allowed_wildcard_domain" not in parsed["grpc"]


def test_the_http_ports_serve_tls_and_ask_every_client_for_a_certificate_of_the_ca():
    parsed = tomllib.loads(security_toml(KEYS, ["10.0.3.1"], TLS).decode())
    for server in ("master", "volume", "filer"):
        assert parsed["https"][server] == {"cert": TLS["cert"], "key": TLS["key"], "ca": TLS["ca"]}, server
        assert "disable_tls_verify_client_cert" not in parsed["https"][server]
    # weed's own HTTP clients (a follower master's proxy, the filer's and the gateway's uploads) present the host's.
    assert parsed["https"]["client"] == {"enabled": True, "cert": TLS["cert"], "key": TLS["key"], "ca": TLS["ca"]}


def test_a_new_certificate_or_ca_changes_security_toml():
    first, second = hashlib.sha256(b"one").hexdigest(), hashlib.sha256(b"two").hexdigest()
    written = security_toml(KEYS, ["10.0.3.1"], TLS, first)
    assert first.encode() in written and written != security_toml(KEYS, ["10.0.3.1"], TLS, second)
    with pytest.raises(ValueError, match="SHA-256"):
        security_toml(KEYS, ["10.0.3.1"], TLS, "abc\n[guard]")


def test_the_s3_gateway_serves_tls_alone_with_the_host_s_certificate():
    command = argv()
    assert "-s3.cert.file=/etc/dockyard/seaweedfs/tls/server.crt" in command
    assert "-s3.key.file=/etc/dockyard/seaweedfs/tls/server.key" in command
    # No second, plain port, and no client certificate asked of the registry (it signs with its S3 keys).
    assert not [argument for argument in command if argument.startswith(("-s3.port.https", "-s3.tlsVerifyClientCert"))]


def test_a_filer_token_is_an_hs256_jwt_that_expires():
    token = filer_token("fr-key", seconds=60, now=1_000_000)
    header, claims, signature = token.split(".")

    def decode(part):
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

    assert json.loads(decode(header)) == {"alg": "HS256", "typ": "JWT"}
    assert json.loads(decode(claims)) == {"exp": 1_000_060}
    expected = hmac.new(b"fr-key", f"{header}.{claims}".encode(), hashlib.sha256).digest()
    assert decode(signature) == expected
    assert filer_token("other-key", seconds=60, now=1_000_000) != token


def test_the_local_sockets_are_the_ones_weed_server_makes_for_its_ports():
    assert local_sockets(PORTS) == [
        "/tmp/seaweedfs-master-grpc-19333.sock", "/tmp/seaweedfs-volume-grpc-18080.sock",
        "/tmp/seaweedfs-filer-grpc-18888.sock", "/tmp/seaweedfs-s3-grpc-18333.sock",
        "/tmp/seaweedfs-filer-8888.sock", "/tmp/seaweedfs-s3-8333.sock"]
