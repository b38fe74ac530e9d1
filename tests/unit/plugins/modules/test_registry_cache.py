"""dockyard.registry.registry_cache: the redis.conf it renders, run by Debian's real redis-server.

Each server is started here, on loopback and a free port, from the configuration the module writes, and stopped at the
end of its test. What the registry's password may do is read from Redis itself (ACL DRYRUN over every command Redis
has), and Distribution 2.8.2's own command sequence is replayed with it. `make unit-deps` installs redis-server.
"""

from __future__ import annotations

import hashlib
import shutil
import socket
import subprocess
import time
import types
from pathlib import Path

import pytest

from ansible_collections.dockyard.registry.plugins.modules.registry_cache import (
    ADMIN_USER,
    ask,
    flush,
    input_problems,
    redis_conf,
)

REDIS_SERVER = shutil.which("redis-server") or "/usr/bin/redis-server"
REGISTRY_PASSWORD = "registry-Password-0123456789"
ADMIN_PASSWORD = "admin-Password-9876543210"
REGISTRY = (REGISTRY_PASSWORD,)  # AUTH <password>, as Distribution 2.8.2 sends it
ADMIN = (ADMIN_USER, ADMIN_PASSWORD)
# Commands Redis lets every connection run, authenticated or not (AUTH, HELLO, QUIT, RESET).
ALWAYS_ALLOWED = {"auth", "hello", "quit", "reset"}
# A user of the test's own that may read ACLs, added only to the server that lists permissions.
INSPECTOR = ("inspector", "inspector-password-0123")
INSPECTOR_LINE = f"user {INSPECTOR[0]} on >{INSPECTOR[1]} ~* &* +@all\n"


class Redis(types.SimpleNamespace):
    host: str
    port: int
    conf: bytes

    def ask(self, credentials: tuple[str, ...], *command: str) -> list[str]:
        return ask(self.host, self.port, credentials, *command)


@pytest.fixture
def start_redis(tmp_path):
    """Starts redis-server from the module's redis.conf (plus ``extra`` lines); each is stopped after the test."""
    assert Path(REDIS_SERVER).exists(), "redis-server is missing: make unit-deps installs Debian's redis-server"
    started = []

    def start(extra: str = "") -> Redis:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        conf = redis_conf("127.0.0.1", port, REGISTRY_PASSWORD, ADMIN_PASSWORD, "16mb", "allkeys-lru", str(tmp_path))
        path = tmp_path / f"redis-{port}.conf"
        path.write_bytes(conf + extra.encode())
        path.chmod(0o600)
        log = (tmp_path / f"redis-{port}.log").open("wb")
        process = subprocess.Popen([REDIS_SERVER, str(path)], stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        started.append(process)
        server = Redis(host="127.0.0.1", port=port, conf=conf)
        deadline = time.monotonic() + 10
        while True:
            try:
                if server.ask(ADMIN, "PING") == ["+OK", "+PONG"]:
                    return server
            except OSError:
                pass
            assert process.poll() is None and time.monotonic() < deadline, (tmp_path / f"redis-{port}.log").read_text()
            time.sleep(0.05)

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=10)


def permitted(server: Redis, user: str) -> set[str]:
    """Every command (subcommands as ``container|sub``) that Redis says ``user`` may run, on a key of its own."""
    names = server.ask(INSPECTOR, "COMMAND", "LIST")[1].split()
    containers = {name.split("|")[0] for name in names if "|" in name}
    allowed = set()
    for name in sorted(set(names) - containers):
        arity = int(server.ask(INSPECTOR, "COMMAND", "INFO", name)[1].split()[1].lstrip(":"))
        words = name.split("|")
        argv = words + ["blobs::sha256:0"] * max(abs(arity) - len(words), 0)
        answer = server.ask(INSPECTOR, "ACL", "DRYRUN", user, *argv)[1]
        assert answer == "+OK" or "no permissions" in answer, (argv, answer)
        if answer == "+OK":
            allowed.add(name)
    assert len(names) > 200, names  # Redis listed its commands
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
    sequence = [
        (("PING",), "+PONG"),  # TestOnBorrow of the connection pool
        (("SADD", repository_set, digest), ":1"),
        (("HMSET", blob, "digest", digest, "size", "1234"), "+OK"),
        (("HSETNX", blob, "mediatype", "application/octet-stream"), ":1"),
        (("HSET", repository_blob, "mediatype", "application/octet-stream"), ":1"),
        (("SISMEMBER", repository_set, digest), ":1"),
        (("HGET", repository_blob, "mediatype"), "application/octet-stream"),
        (("HMGET", blob, "digest", "size", "mediatype"), f"{digest} 1234 application/octet-stream"),
        (("HDEL", blob, "digest", "size", "mediatype"), ":3"),
    ]
    for command, expected in sequence:
        assert server.ask(REGISTRY, *command) == ["+OK", expected], command


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
    assert server.ask(REGISTRY, *command)[1].startswith("-NOPERM"), command
    assert server.ask(ADMIN, "PING") == ["+OK", "+PONG"]  # still running: SHUTDOWN was refused


def test_the_registry_password_reaches_only_the_registrys_keys(start_redis):
    server = start_redis()
    assert server.ask(REGISTRY, "HSET", "elsewhere", "field", "value")[1].startswith("-NOPERM")
    assert server.ask(REGISTRY, "HGET", "elsewhere", "field")[1].startswith("-NOPERM")
    assert server.ask(REGISTRY, "SUBSCRIBE", "blobs::x")[1].startswith("-NOPERM")


def test_a_client_without_the_password_or_with_another_one_is_refused(start_redis):
    server = start_redis()
    with socket.create_connection((server.host, server.port), timeout=3) as connection:
        connection.sendall(b"*1\r\n$4\r\nPING\r\n*2\r\n$4\r\nKEYS\r\n$1\r\n*\r\n")
        reader = connection.makefile("rb")
        assert [reader.readline().strip() for _reply in range(2)] == [b"-NOAUTH Authentication required."] * 2
    assert server.ask(("default", ADMIN_PASSWORD), "PING")[0].startswith("-WRONGPASS")
    assert server.ask((ADMIN_USER, REGISTRY_PASSWORD), "PING")[0].startswith("-WRONGPASS")
    assert server.ask(("not the password",), "PING") == [
        "-WRONGPASS invalid username-password pair or user is disabled.", "-NOAUTH Authentication required."]


def test_the_admin_user_flushes_what_the_registry_cached_and_cannot_change_the_configuration(start_redis):
    server = start_redis()
    for number in range(3):
        assert server.ask(REGISTRY, "SADD", f"repository::r{number}::blobs", "sha256:0")[1] == ":1"
    module = types.SimpleNamespace(check_mode=True, fail_json=pytest.fail)
    assert flush(module, server.host, server.port, ADMIN) == 3
    assert server.ask(ADMIN, "DBSIZE") == ["+OK", ":3"]  # check mode counted, removed nothing
    module.check_mode = False
    assert flush(module, server.host, server.port, ADMIN) == 3
    assert server.ask(ADMIN, "DBSIZE") == ["+OK", ":0"]
    assert server.ask(ADMIN, "CONFIG", "SET", "dir", "/tmp")[1].startswith("-NOPERM")
    assert server.ask(ADMIN, "HGET", "blobs::x", "digest")[1].startswith("-NOPERM")


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
])
def test_values_that_would_break_out_of_redis_conf_or_the_command_line_are_refused(option, value):
    params = {"password": REGISTRY_PASSWORD, "admin_password": ADMIN_PASSWORD, "maxmemory": "256mb",
              "binary": "/usr/bin/redis-server", "config_dir": "/etc/dockyard/redis",
              "data_dir": "/var/lib/dockyard/redis", "log": "/var/log/dockyard/redis.log"}
    assert input_problems(params) == []
    problems = input_problems({**params, option: value})
    assert len(problems) == 1 and problems[0].startswith(f"{option} must be"), problems
    if "password" in option:
        assert value not in problems[0]
