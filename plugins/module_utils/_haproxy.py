# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: HAProxy's runtime API (its admin-level stats socket).

One command a connection, as HAProxy's non-interactive mode takes them: ``show stat`` for every server's state and
sessions, ``set server <backend>/<server> state ready|drain|maint`` to take a server out of the load and put it back.
Standard library only: the load balancers need no Python library of their own.
"""

from __future__ import annotations

import csv
import io
import os
import socket
import time

POLL_INTERVAL = 0.5
STATES = ("ready", "drain", "maint")
# Bits of srv_admin_state (``show servers state``) that the runtime API sets: forced maintenance and forced drain.
ADMIN_FORCED_MAINT = 0x01
ADMIN_FORCED_DRAIN = 0x08


class RuntimeAPIError(Exception):
    """HAProxy's runtime API could not be reached, or refused a command; the message says which."""


def runtime(socket_path: str, command: str, timeout: float = 5) -> str:
    """One command on HAProxy's runtime API; its answer."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.settimeout(timeout)
            connection.connect(socket_path)
            connection.sendall(command.encode() + b"\n")
            answer = b""
            while chunk := connection.recv(65536):
                answer += chunk
    except OSError as exc:
        raise RuntimeAPIError(f"HAProxy's runtime API at {socket_path} did not answer {command!r}: {exc}") from exc
    return answer.decode("utf-8", "replace")


def answers(socket_path: str) -> bool:
    """Whether a runtime API socket is there (HAProxy runs)."""
    return os.path.exists(socket_path)


def parse_stat(table: str) -> list[dict]:
    """Every backend server of a ``show stat`` answer: backend, name, address, status (UP, DOWN, DRAIN, MAINT,
    UP 1/2, ...), its current sessions and its last health check."""
    rows = csv.DictReader(io.StringIO(table.lstrip("# ")))
    return [{"backend": row["pxname"], "name": row["svname"], "address": row.get("addr") or "", "status": row["status"],
             "sessions": int(row.get("scur") or 0), "check": row.get("check_status") or ""}
            for row in rows if row.get("svname") not in (None, "FRONTEND", "BACKEND")]


def parse_admin_state(answer: str, backend: str, name: str) -> int | None:
    """The srv_admin_state bits of one server in a ``show servers state`` answer, or None where it is not there."""
    lines = answer.splitlines()
    header = next((line.lstrip("# ").split() for line in lines if line.startswith("# be_id")), None)
    if header is None:
        return None
    for line in lines:
        fields = dict(zip(header, line.split()))
        if fields.get("be_name") == backend and fields.get("srv_name") == name:
            return int(fields["srv_admin_state"])
    return None


def servers(socket_path: str) -> list[dict]:
    """Every backend server, as :func:`parse_stat` reads HAProxy's ``show stat``."""
    return parse_stat(runtime(socket_path, "show stat"))


def server(socket_path: str, backend: str, name: str) -> dict | None:
    """One server of ``servers``, or None where the backend has no such server."""
    return next((row for row in servers(socket_path) if row["backend"] == backend and row["name"] == name), None)


def admin_state(socket_path: str, backend: str, name: str) -> int | None:
    """The server's administrative state bits (srv_admin_state of ``show servers state``), or None where the backend
    has no such server. ``show stat`` cannot tell: a drained server whose checks fail shows DOWN there."""
    return parse_admin_state(runtime(socket_path, f"show servers state {backend}"), backend, name)


def set_state(socket_path: str, backend: str, name: str, state: str) -> None:
    """``set server <backend>/<name> state <state>``: HAProxy answers nothing when it complies."""
    if state not in STATES:
        raise ValueError(f"state must be one of {', '.join(STATES)}; got {state!r}")
    answer = runtime(socket_path, f"set server {backend}/{name} state {state}").strip()
    if answer:
        raise RuntimeAPIError(f"HAProxy refused to set {backend}/{name} to {state}: {answer}")


def wait_until(socket_path: str, backend: str, name: str, done, timeout: float) -> tuple[dict, float]:
    """Ask ``show stat`` until ``done(server)`` holds or ``timeout`` seconds pass; the server's last state and the
    seconds waited. The caller judges a state that never came."""
    started = time.monotonic()
    while True:
        current = server(socket_path, backend, name)
        if current is None:
            raise RuntimeAPIError(f"HAProxy has no server {backend}/{name} any more")
        waited = time.monotonic() - started
        if done(current) or waited >= timeout:
            return current, waited
        time.sleep(POLL_INTERVAL)
