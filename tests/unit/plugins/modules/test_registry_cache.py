"""dockyard.registry.registry_cache: the redis.conf it renders, run by Debian's real redis-server.

Each server is started here, on loopback and a free port, from the configuration the module writes, with a
certificate the test's CA issues as the controller's does (TLS only, clients with a certificate of the CA only), and
stopped at the end of its test. What the registry's password may do is read from Redis itself (ACL DRYRUN over every
command Redis has, with redis-cli), and Distribution 2.8.2's own command sequence is replayed with it, through the
module's client. `make unit-deps` installs redis-server (and redis-cli).
"""

from __future__ import annotations

import datetime
import hashlib
import shutil
import socket
import ssl
import subprocess
import time
import types
from pathlib import Path

import pytest
import redis
from x509_certificates import Authority, key_usage

from ansible_collections.dockyard.registry.plugins.module_utils import _pki as pki
from ansible_collections.dockyard.registry.plugins.module_utils._redis_host import (
    ADMIN_USER,
    connect,
    flush,
    input_problems,
    redis_conf,
)
from ansible_collections.dockyard.registry.plugins.module_utils._tls_files import tls_digest, tls_paths

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REDIS_CLI = shutil.which("redis-cli") or "/usr/bin/redis-cli"
REGISTRY_PASSWORD = "registry-Password-0123456789"
ADMIN_PASSWORD = "admin-Password-9876543210"
REGISTRY = (REGISTRY_PASSWORD,)  # AUTH <password>, as Distribution 2.8.2 sends it
ADMIN = (ADMIN_USER, ADMIN_PASSWORD)
# Commands Redis lets every connection run, authenticated or not (AUTH, HELLO, QUIT, RESET).
ALWAYS_ALLOWED = {"auth", "hello", "quit", "reset"}
# A user of the test's own that may read ACLs, added only to the server that lists permissions.
INSPECTOR = ("inspector", "inspector-password-0123")
INSPECTOR_LINE = f"user {INSPECTOR[0]} on >{INSPECTOR[1]} ~* &* +@all\n"
HOST = "127.0.0.1"


def tls_identity(directory: Path, ca, ca_key, sans=(f"IP:{HOST}",)) -> dict:
    """A host's key, its certificate (serverAuth and clientAuth) from ``ca`` and the CA bundle, in ``directory`` as
    the registry_certificate module writes them: their paths."""
    directory.mkdir(parents=True, exist_ok=True)
    tls = tls_paths(str(directory))
    key = pki.new_key("ECC")
    certificate = pki.sign(pki.certificate_request(key, list(sans)), ca, ca_key, datetime.timedelta(days=1),
                           list(sans), client_auth=True)
    Path(tls["key"]).unlink(missing_ok=True)
    Path(tls["key"]).write_bytes(pki.key_pem(key))
    Path(tls["key"]).chmod(0o400)
    Path(tls["cert"]).write_bytes(pki.certificate_pem(certificate))
    Path(tls["ca"]).write_bytes(pki.certificate_pem(ca))
    return tls


@pytest.fixture(scope="module")
def other_ca():
    """A CA that is not the collection's: (certificate, key)."""
    authority = Authority("another CA", usage=key_usage("key_cert_sign", "crl_sign"))
    return authority.certificate, authority.key


class Redis(types.SimpleNamespace):
    host: str
    port: int
    conf: bytes
    tls: dict  # a client's certificate of the collection's CA (the Redis host's own, as the module presents it)

    def ask(self, credentials: tuple[str, ...], *command: str, tls: dict | None = None):
        """Redis's reply, or the error it answered (a ResponseError: NOPERM...), through the module's client."""
        with connect(self.host, self.port, credentials, tls or self.tls) as client:
            try:
                return client.execute_command(*command)
            except redis.ResponseError as exc:
                return exc

    def cli(self, commands: list[list[str]], *options: str) -> list[str]:
        """``commands`` through one redis-cli as the inspector, over TLS with the client certificate: its output's
        lines."""
        lines = "".join(" ".join(command) + "\n" for command in commands)
        done = subprocess.run([REDIS_CLI, "-h", self.host, "-p", str(self.port), "--tls", "--cert", self.tls["cert"],
                               "--key", self.tls["key"], "--cacert", self.tls["ca"], "--user", INSPECTOR[0], "--pass",
                               INSPECTOR[1], "--no-auth-warning", *options], input=lines, capture_output=True,
                              text=True, check=True)
        return done.stdout.splitlines()


@pytest.fixture
def start_redis(tmp_path, test_ca):
    """Starts redis-server from the module's redis.conf (plus ``extra`` lines) with a certificate of the test's CA (or
    of ``server_ca``); each is stopped after the test."""
    assert Path(REDIS_SERVER).exists(), "redis-server is missing: make unit-deps installs Debian's redis-server"
    started = []

    def start(extra: str = "", server_ca=None) -> Redis:
        with socket.socket() as probe:
            probe.bind((HOST, 0))
            port = probe.getsockname()[1]
        client_tls = tls_identity(tmp_path / f"tls-{port}", *test_ca)
        server_tls = client_tls if server_ca is None else tls_identity(tmp_path / f"server-tls-{port}", *server_ca)
        if server_ca is not None:  # Redis takes the clients of the test's CA, and presents another's certificate
            Path(server_tls["ca"]).write_bytes(Path(client_tls["ca"]).read_bytes())
        conf = redis_conf(HOST, port, REGISTRY_PASSWORD, ADMIN_PASSWORD, "16mb", "allkeys-lru", str(tmp_path),
                          server_tls, tls_digest(server_tls, False, "the test", "Redis"))
        path = tmp_path / f"redis-{port}.conf"
        path.write_bytes(conf + extra.encode())
        path.chmod(0o600)
        log = (tmp_path / f"redis-{port}.log").open("wb")
        process = subprocess.Popen([REDIS_SERVER, str(path)], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        started.append(process)
        server = Redis(host=HOST, port=port, conf=conf, tls=client_tls)
        deadline = time.monotonic() + 10
        while True:
            if server_ca is not None:
                if subprocess.run([REDIS_CLI, "-h", HOST, "-p", str(port), "--tls", "--insecure", "--cert",
                                   client_tls["cert"], "--key", client_tls["key"], "--user", ADMIN_USER, "--pass",
                                   ADMIN_PASSWORD, "--no-auth-warning", "PING"], check=False, capture_output=True,
                                  text=True).stdout.strip() == "PONG":
                    return server
            else:
                try:
                    if server.ask(ADMIN, "PING") is True:
                        return server
                except redis.ConnectionError:
                    pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / f"redis-{port}.log").read_text()
            time.sleep(0.05)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def permitted(server: Redis, user: str) -> set[str]:
    """Every command (subcommands as ``container|sub``) that Redis says ``user`` may run, on a key of its own.

    ACL DRYRUN wants a command's number of arguments: each is tried with 0 to 7 arguments (keys of the registry's)."""
    names = server.cli([["COMMAND", "LIST"]])
    assert len(names) > 200, names  # Redis listed its commands
    containers = {name.split("|")[0] for name in names if "|" in name}
    commands = sorted(set(names) - containers)
    tries = range(8)
    # --no-raw: one line per reply, errors too.
    answers = iter(server.cli([["ACL", "DRYRUN", user, *name.split("|"), *["blobs::sha256:0"] * count]
                               for name in commands for count in tries], "--no-raw"))
    allowed = set()
    for name in commands:
        answered = [answer for _count in tries if "wrong number of arguments" not in (answer := next(answers))]
        assert answered and (answered[0] == "OK" or "no permissions" in answered[0]), (name, answered)
        if answered[0] == "OK":
            allowed.add(name)
    return allowed


def test_the_registry_password_may_run_exactly_what_distributions_cache_sends(start_redis):
    server = start_redis(INSPECTOR_LINE)
    assert permitted(server, "default") == ALWAYS_ALLOWED | {
        "ping", "hget", "hmget", "hset", "hmset", "hsetnx", "hdel", "sadd", "sismember"}


def test_the_admin_user_may_only_check_count_and_flush(start_redis):
    server = start_redis(INSPECTOR_LINE)
    assert permitted(server, ADMIN_USER) == ALWAYS_ALLOWED | {"ping", "dbsize", "flushdb"}


def test_distributions_command_sequence_succeeds_with_the_registry_password(start_redis):
    """registry/storage/cache/redis/redis.go of Distribution 2.8.2, SetDescriptor, Stat and Clear, in its order."""
    server = start_redis()
    digest = "sha256:" + "a" * 64
    blob = f"blobs::{digest}"
    repository_set = "repository::team/app::blobs"
    repository_blob = f"repository::team/app::blobs::{digest}"
    media_type = b"application/octet-stream"
    sequence = [
        (("PING",), True),  # TestOnBorrow of the connection pool
        (("SADD", repository_set, digest), 1),
        (("HMSET", blob, "digest", digest, "size", "1234"), True),
        (("HSETNX", blob, "mediatype", media_type), 1),
        (("HSET", repository_blob, "mediatype", media_type), 1),
        (("SISMEMBER", repository_set, digest), 1),
        (("HGET", repository_blob, "mediatype"), media_type),
        (("HMGET", blob, "digest", "size", "mediatype"), [digest.encode(), b"1234", media_type]),
        (("HDEL", blob, "digest", "size", "mediatype"), 3),
    ]
    for command, expected in sequence:
        assert server.ask(REGISTRY, *command) == expected, command


@pytest.mark.parametrize("command", [
    ("CONFIG", "SET", "dir", "/tmp"),
    ("CONFIG", "GET", "dir"),
    ("CONFIG", "REWRITE"),
    ("FLUSHALL",),
    ("FLUSHDB",),
    ("KEYS", "*"),
    ("SCAN", "0"),
    ("DBSIZE",),
    ("SAVE",),
    ("BGSAVE",),
    ("CLIENT", "LIST"),
    ("MODULE", "LIST"),
    ("EVAL", "return 1", "0"),
    ("ACL", "LIST"),
    ("SLAVEOF", "127.0.0.1", "1"),
    ("SELECT", "1"),
    ("SET", "blobs::x", "y"),
    ("DEL", "blobs::x"),
    ("SHUTDOWN",),
], ids=lambda command: " ".join(command[:2]))
def test_the_registry_password_is_refused_every_other_command(start_redis, command):
    server = start_redis()
    assert isinstance(server.ask(REGISTRY, *command), redis.exceptions.NoPermissionError), command
    assert server.ask(ADMIN, "PING") is True  # still running: SHUTDOWN was refused


def test_the_registry_password_reaches_only_the_registrys_keys(start_redis):
    server = start_redis()
    for command in (("HSET", "elsewhere", "field", "value"), ("HGET", "elsewhere", "field"),
                    ("PUBLISH", "blobs::x", "message")):
        assert isinstance(server.ask(REGISTRY, *command), redis.exceptions.NoPermissionError), command


def tls_client(server: Redis, certificate: dict | None) -> ssl.SSLSocket:
    """A TLS connection to ``server`` that verifies its certificate with the collection's CA and presents
    ``certificate`` (the paths of a key and its certificate), or none."""
    context = ssl.create_default_context(cafile=server.tls["ca"])
    if certificate:
        context.load_cert_chain(certificate["cert"], certificate["key"])
    return context.wrap_socket(socket.create_connection((server.host, server.port), timeout=3),
                               server_hostname=server.host)


def refused(connection) -> bool:
    """True where the server answers a PING with nothing of Redis's (it closed the connection or ended TLS)."""
    try:
        connection.sendall(b"*1\r\n$4\r\nPING\r\n")
        return connection.recv(64) == b""
    except (OSError, ssl.SSLError):
        return True


def test_redis_speaks_tls_only_and_only_to_clients_with_a_certificate_of_the_collections_ca(
        start_redis, tmp_path, other_ca):
    server = start_redis()
    # Plain TCP: not a word of Redis's (no NOAUTH, no PONG), the password would never be sent in clear.
    with socket.create_connection((server.host, server.port), timeout=3) as plain:
        assert refused(plain)
    # TLS without a client certificate, or with one another CA issued: refused before any command.
    with tls_client(server, None) as anonymous:
        assert refused(anonymous)
    stranger = tls_identity(tmp_path / "stranger", *other_ca)
    with tls_client(server, stranger) as foreign:
        assert refused(foreign)
    # A client with a certificate of the collection's CA gets Redis's answer: authentication required.
    with tls_client(server, server.tls) as trusted:
        trusted.sendall(b"*1\r\n$4\r\nPING\r\n")
        assert trusted.recv(64).strip() == b"-NOAUTH Authentication required."
    assert server.ask(REGISTRY, "PING") is True
    conf = server.conf.decode().splitlines()
    assert "port 0" in conf and f"tls-port {server.port}" in conf and "tls-auth-clients yes" in conf


def test_the_modules_client_refuses_a_redis_whose_certificate_another_ca_issued(start_redis, other_ca):
    server = start_redis(server_ca=other_ca)
    with pytest.raises(redis.ConnectionError, match="certificate verify failed"):
        server.ask(ADMIN, "PING")


def test_a_new_certificate_or_ca_changes_redis_conf_so_that_redis_restarts(tmp_path, test_ca, other_ca):
    tls = tls_identity(tmp_path / "tls", *test_ca)
    first = redis_conf(HOST, 6379, REGISTRY_PASSWORD, ADMIN_PASSWORD, "16mb", "allkeys-lru", str(tmp_path), tls,
                       tls_digest(tls, False, "the test", "Redis"))
    tls_identity(tmp_path / "tls", *test_ca)  # renewed: a new key and certificate
    second = redis_conf(HOST, 6379, REGISTRY_PASSWORD, ADMIN_PASSWORD, "16mb", "allkeys-lru", str(tmp_path), tls,
                        tls_digest(tls, False, "the test", "Redis"))
    assert first != second
    Path(tls["ca"]).write_bytes(pki.certificate_pem(other_ca[0]))  # a CA rollover
    third = redis_conf(HOST, 6379, REGISTRY_PASSWORD, ADMIN_PASSWORD, "16mb", "allkeys-lru", str(tmp_path), tls,
                       tls_digest(tls, False, "the test", "Redis"))
    assert len({first, second, third}) == 3


def test_missing_tls_files_are_refused_before_any_change_but_predicted_in_check_mode(tmp_path):
    tls = tls_paths(str(tmp_path / "tls"))
    assert tls_digest(tls, True, "the registry_cache role", "Redis") == ""
    with pytest.raises(ValueError, match="tls_dir lacks .*server.key.*the registry_cache role issues"):
        tls_digest(tls, False, "the registry_cache role", "Redis")


def test_a_client_without_the_password_or_with_another_one_is_refused(start_redis):
    server = start_redis()
    with tls_client(server, server.tls) as connection:
        connection.sendall(b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
        reader = connection.makefile("rb")
        assert [reader.readline().strip() for _reply in range(2)] == [b"-NOAUTH Authentication required."] * 2
    for credentials in (("default", ADMIN_PASSWORD), (ADMIN_USER, REGISTRY_PASSWORD), ("not the password",)):
        try:  # redis 4.3 answers Redis's WRONGPASS as a ResponseError, newer ones raise an AuthenticationError
            answer = server.ask(credentials, "PING")
        except redis.AuthenticationError as exc:
            answer = exc
        assert "invalid username-password pair" in str(answer), credentials


def test_the_admin_user_flushes_what_the_registry_cached_and_cannot_change_the_configuration(start_redis):
    server = start_redis()
    for number in range(3):
        assert server.ask(REGISTRY, "SADD", f"repository::r{number}::blobs", "sha256:0") == 1
    module = types.SimpleNamespace(check_mode=True, fail_json=pytest.fail)
    assert flush(module, server.host, server.port, ADMIN, server.tls) == 3
    assert server.ask(ADMIN, "DBSIZE") == 3  # check mode counted, removed nothing
    module.check_mode = False
    assert flush(module, server.host, server.port, ADMIN, server.tls) == 3
    assert server.ask(ADMIN, "DBSIZE") == 0
    for command in (("CONFIG", "SET", "dir", "/tmp"), ("HGET", "blobs::x", "digest")):
        assert isinstance(server.ask(ADMIN, *command), redis.exceptions.NoPermissionError), command


def test_flush_fails_naming_redis_where_the_registrys_password_is_given(start_redis):
    server = start_redis()
    module = types.SimpleNamespace(check_mode=False, fail_json=lambda msg: pytest.fail(msg, pytrace=False))
    with pytest.raises(pytest.fail.Exception, match=f"Redis at 127.0.0.1:{server.port} refused to count or flush"):
        flush(module, server.host, server.port, REGISTRY, server.tls)


def test_redis_conf_holds_the_passwords_sha256_only(start_redis):
    conf = start_redis().conf.decode()
    for password in (REGISTRY_PASSWORD, ADMIN_PASSWORD):
        assert password not in conf
        assert f"#{hashlib.sha256(password.encode()).hexdigest()}" in conf
    assert "requirepass" not in conf


@pytest.mark.parametrize(("option", "value"), [
    ("password", "registry-Password-0123456789\nuser evil on nopass ~* +@all"),
    ("password", "sixteen chars no"),
    ("password", "short"),
    ("admin_password", "admin-Password-9876543210\r\n"),
    ("maxmemory", "256mb\n"),
    ("maxmemory", "256mb\nrename-command CONFIG \"\""),
    ("data_dir", "/var/lib/dockyard/redis\ndir /etc"),
    ("config_dir", "/etc/dockyard/my redis"),
    ("log", "relative.log"),
    ("binary", "/usr/bin/redis-server --enable-debug-command yes"),
    ("tls_dir", "/etc/dockyard/redis/tls\ntls-auth-clients no"),
])
def test_values_that_would_break_out_of_redis_conf_or_the_command_line_are_refused(option, value):
    params = {"password": REGISTRY_PASSWORD, "admin_password": ADMIN_PASSWORD, "maxmemory": "256mb",
              "binary": "/usr/bin/redis-server", "config_dir": "/etc/dockyard/redis",
              "data_dir": "/var/lib/dockyard/redis", "log": "/var/log/dockyard/redis.log",
              "tls_dir": "/etc/dockyard/redis/tls"}
    assert input_problems(params) == []
    problems = input_problems({**params, option: value})
    assert len(problems) == 1 and problems[0].startswith(f"{option} must be"), problems
    if "password" in option:
        assert value not in problems[0]
