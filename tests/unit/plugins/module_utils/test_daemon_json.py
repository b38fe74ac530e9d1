import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_json import (
    DaemonJsonError,
    changed_keys,
    flag_conflicts,
    merge,
    parse,
    render,
)
from ansible_collections.dockyard.registry.plugins.module_utils._daemon_keys import lightest_action

SEEDED = {"log-level": "warn", "runtimes": {"crun": {"path": "/usr/bin/crun"}},
          "insecure-registries": ["old.example:5000"]}


def test_parse_names_line_and_column_of_a_syntax_error():
    with pytest.raises(DaemonJsonError, match=r"/etc/docker/daemon.json is not valid JSON: line 3, column 3"):
        parse('{\n  "debug": true\n  "log-level": "warn"\n}\n', "/etc/docker/daemon.json")


def test_parse_refuses_a_top_level_that_is_not_an_object():
    with pytest.raises(DaemonJsonError, match="must hold a JSON object, not a list"):
        parse("[]")


def test_parse_takes_an_empty_file_as_no_settings():
    assert parse("  \n") == {}


def test_merge_adds_list_entries_as_a_set_and_keeps_every_other_key():
    merged = merge(SEEDED, {"insecure-registries": ["new.example:5000", "old.example:5000", "new.example:5000"]})
    assert merged == {**SEEDED, "insecure-registries": ["old.example:5000", "new.example:5000"]}
    assert SEEDED["insecure-registries"] == ["old.example:5000"]  # the input is left alone


def test_merge_creates_a_missing_list_key():
    assert merge({}, {"registry-mirrors": ["https://mirror.example"]}) == {"registry-mirrors": ["https://mirror.example"]}


def test_merge_replaces_scalar_and_object_values():
    merged = merge(SEEDED, {"log-level": "info", "runtimes": {"runc": {"path": "runc"}}})
    assert merged["log-level"] == "info"
    assert merged["runtimes"] == {"runc": {"path": "runc"}}


def test_merge_absent_removes_entries_and_leaves_an_empty_list_that_a_reload_applies():
    current = {"insecure-registries": ["a:5000", "b:5000"], "debug": True}
    assert merge(current, {"insecure-registries": ["a:5000"]}, "absent") == {
        "insecure-registries": ["b:5000"], "debug": True}
    emptied = merge(current, {"insecure-registries": ["a:5000", "b:5000"]}, "absent")
    assert emptied == {"insecure-registries": [], "debug": True}
    assert merge(emptied, {"insecure-registries": ["a:5000"]}, "absent") == emptied
    assert merge({"debug": True}, {"registry-mirrors": ["https://m.example"]}, "absent") == {"debug": True}


def test_merge_absent_removes_a_scalar_only_when_it_matches_or_is_null():
    current = {"log-level": "warn", "debug": True}
    assert merge(current, {"log-level": "info"}, "absent") == current
    assert merge(current, {"log-level": "warn"}, "absent") == {"debug": True}
    assert merge(current, {"debug": None}, "absent") == {"log-level": "warn"}


def test_merge_refuses_a_list_where_the_file_has_another_type():
    with pytest.raises(DaemonJsonError, match="insecure-registries is a list in the settings given but str"):
        merge({"insecure-registries": "a:5000"}, {"insecure-registries": ["b:5000"]})


def test_merging_twice_is_merging_once():
    wanted = {"insecure-registries": ["new.example:5000"], "debug": True}
    once = merge(SEEDED, wanted)
    assert merge(once, wanted) == once
    assert changed_keys(once, merge(once, wanted)) == []


def test_changed_keys_sees_added_removed_and_altered_keys():
    assert changed_keys({"a": 1, "b": 2, "c": 3}, {"a": 1, "b": 5, "d": 4}) == ["b", "c", "d"]


@pytest.mark.parametrize(("keys", "action"), [
    ([], "none"),
    (["insecure-registries"], "reload"),
    (["insecure-registries", "registry-mirrors", "debug", "labels", "live-restore"], "reload"),
    (["insecure-registries", "storage-driver"], "restart"),
    (["log-level"], "restart"),
])
def test_lightest_action(keys, action):
    assert lightest_action(keys) == action


def test_flag_conflicts_find_plural_keys_given_as_singular_flags():
    argv = ["/usr/sbin/dockerd", "-H", "unix:///var/run/docker.sock", "--insecure-registry=a:5000",
            "--log-level", "warn", "--containerd=/run/containerd/containerd.sock"]
    settings = {"insecure-registries": ["b:5000"], "hosts": ["tcp://0.0.0.0:2375"], "log-level": "info",
                "debug": True}
    assert flag_conflicts(settings, argv) == [
        ("insecure-registries", "--insecure-registry"), ("hosts", "-H"), ("log-level", "--log-level")]


def test_flag_conflicts_find_short_flags_with_attached_values():
    assert flag_conflicts({"debug": True, "hosts": ["fd://"]}, ["dockerd", "-D", "-Hfd://"]) == [
        ("debug", "-D"), ("hosts", "-H")]


def test_no_conflict_for_keys_the_command_line_does_not_set():
    assert flag_conflicts({"insecure-registries": ["a:5000"]}, ["dockerd", "--data-root", "/srv/docker"]) == []


def test_render_keeps_key_order_and_ends_with_a_newline():
    assert render({"b": 1, "a": [1]}) == '{\n  "b": 1,\n  "a": [\n    1\n  ]\n}\n'
