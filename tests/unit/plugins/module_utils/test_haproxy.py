"""HAProxy's runtime API answers, as HAProxy 2.6 (Debian bookworm) gave them: r1 drained through the API, r2 with no
server listening (its health check refused)."""

from pathlib import Path

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._haproxy import (
    ADMIN_FORCED_DRAIN,
    parse_admin_state,
    parse_stat,
    set_state,
)

ANSWERS = Path(__file__).with_name("haproxy")


def test_show_stat_gives_each_server_with_its_status_sessions_and_check():
    servers = parse_stat((ANSWERS / "show_stat.csv").read_text())
    assert [(row["backend"], row["name"], row["status"], row["sessions"], row["check"]) for row in servers] == [
        ("registry_replicas", "r1", "DRAIN", 0, "L7OK"),
        ("registry_replicas", "r2", "DOWN", 0, "L4CON"),
    ]


def test_show_servers_state_tells_a_drain_set_through_the_api():
    answer = (ANSWERS / "show_servers_state.txt").read_text()
    assert parse_admin_state(answer, "registry_replicas", "r1") == ADMIN_FORCED_DRAIN
    assert parse_admin_state(answer, "registry_replicas", "r2") == 0


@pytest.mark.parametrize(("answer", "backend", "name"), [
    ((ANSWERS / "show_servers_state.txt").read_text(), "registry_replicas", "r3"),
    ((ANSWERS / "show_servers_state.txt").read_text(), "other", "r1"),
    ("Can't find backend.\n", "registry_replicas", "r1"),
])
def test_show_servers_state_without_the_server_says_none(answer, backend, name):
    assert parse_admin_state(answer, backend, name) is None


def test_only_the_states_of_the_runtime_api_are_set():
    with pytest.raises(ValueError, match="state must be one of ready, drain, maint"):
        set_state("/nonexistent.sock", "registry_replicas", "r1", "up")
