"""dockyard.registry.registry_cache: the redis.conf it renders, run by Debian's real redis-server.

Each server is started here, on loopback and a free port, from the configuration the module writes, and stopped at the
end of its test. What the registry's password may do is read from Redis itself (ACL DRYRUN over every command Redis
has, with redis-cli), and Distribution 2.8.2's own command sequence is replayed with it, through the module's client.
`make unit-deps` installs redis-server (and redis-cli).
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
import redis

from ansible_collections.dockyard.registry.plugins.modules.registry_cache import (
    ADMIN_USER,
    connect,
    flush,
    input_problems,
    redis_conf,
)

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


class Redis(types.SimpleNamespace):
    host: str
    port: int
    conf: bytes

    def ask(self, credentials: tuple[str, ...], *command: str):
        """Redis's reply, or the error it answered (a ResponseError: NOPERM...)."""
        with connect(self.host, self.port, credentials) as client:
            try:
                return client.execute_command(*command)
            except redis.ResponseError as exc:
                return exc

    def cli(self, commands: list[list[str]], *options: str) -> list[str]:
        """``commands`` through one redis-cli as the inspector: its output's lines."""
        lines = "".join(" ".join(command) + "\n" for command in commands)
        done = subprocess.run([REDIS_CLI, "-h", self.host, "-p", str(self.port), "--user", INSPECTOR[0], "--pass",
                               INSPECTOR[1], "--no-auth-warning", *options], input=lines, capture_output=True,
                              text=True, check=True)
        return done.stdout.splitlines()


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


def test_a_client_without_the_password_or_with_another_one_is_refused(start_redis):
    server = start_redis()
    with socket.create_connection((server.host, server.port), timeout=3) as connection:
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
    assert flush(module, server.host, server.port, ADMIN) == 3
    assert server.ask(ADMIN, "DBSIZE") == 3  # check mode counted, removed nothing
    module.check_mode = False
    assert flush(module, server.host, server.port, ADMIN) == 3
    assert server.ask(ADMIN, "DBSIZE") == 0
    for command in (("CONFIG", "SET", "dir", "/tmp"), ("HGET", "blobs::x", "digest")):
        assert isinstance(server.ask(ADMIN, *command), redis.exceptions.NoPermissionError), command


def test_flush_fails_naming_redis_where_the_registrys_password_is_given(start_redis):
    server = start_redis()
    module = types.SimpleNamespace(check_mode=False, fail_json=lambda msg: pytest.fail(msg, pytrace=False))
    with pytest.raises(pytest.fail.Exception, match=f"Redis at 127.0.0.1:{server.port} refused to count or flush"):
        flush(module, server.host, server.port, REGISTRY)


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
