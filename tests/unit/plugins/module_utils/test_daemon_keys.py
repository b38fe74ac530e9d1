"""Which daemon.json keys an engine release knows and reloads, and what dockerd's log says when it refuses a file."""

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._daemon_keys import (
    KNOWN_20_10,
    RELOADABLE,
    lightest_action,
    reloadable,
    unknown_keys,
    version_text,
)
from ansible_collections.dockyard.registry.plugins.module_utils._docker_daemon import _error_message

CIS_KEYS = ["icc", "live-restore", "no-new-privileges", "userland-proxy", "log-driver", "log-opts", "log-level"]


def test_20_10_knows_the_cis_keys_and_refuses_a_misspelt_one():
    assert unknown_keys(CIS_KEYS, (20, 10, 24)) == []
    assert unknown_keys(["no-new-privilege", "icc", "proxies"], (20, 10, 24)) == ["no-new-privilege", "proxies"]


@pytest.mark.parametrize("version", [(), (19, 3, 15), (23, 0), (24, 0, 7), (29, 1)])
def test_releases_that_validate_themselves_or_are_not_covered_are_not_judged_here(version):
    assert unknown_keys(["no-such-key"], version) is None


def test_every_reloadable_key_is_one_20_10_knows():
    assert set(RELOADABLE) <= KNOWN_20_10


@pytest.mark.parametrize(("keys", "version", "action"), [
    (["default-runtime", "runtimes", "features", "shutdown-timeout"], (20, 10, 24), "reload"),
    (["allow-nondistributable-artifacts"], (28, 5), "reload"),
    (["allow-nondistributable-artifacts"], (29, 0), "restart"),
    (["allow-nondistributable-artifacts"], (), "reload"),
    (["live-restore", "icc"], (27, 1), "restart"),
])
def test_lightest_action_follows_the_release(keys, version, action):
    assert lightest_action(keys, version) == action


def test_a_key_no_longer_known_is_not_reloadable():
    assert reloadable("registry-mirrors", (29, 0)) and not reloadable("allow-nondistributable-artifacts", (29, 0))


def test_version_text():
    assert (version_text((20, 10, 24)), version_text(())) == ("20.10.24", "unknown")


UNKNOWN_KEY = ("unable to configure the Docker daemon with file /etc/docker/daemon.json: the following directives "
               "don't match any configuration option: no-such-key")
REFUSED_RELOAD = ('time="2026-11-29T21:46:08.654099601Z" level=error msg="file configuration validation failed: '
                  'specified default runtime \'nosuch\' does not exist"')


@pytest.mark.parametrize(("line", "message"), [
    (REFUSED_RELOAD, "file configuration validation failed: specified default runtime 'nosuch' does not exist"),
    (UNKNOWN_KEY, UNKNOWN_KEY),
    ("failed to start daemon: error initializing graphdriver: driver not supported",
     "failed to start daemon: error initializing graphdriver: driver not supported"),
    ('time="2026-11-29T21:46:17.867607978Z" level=info msg="Got signal to reload configuration"', ""),
    ('time="x" level=fatal msg="Error starting daemon: \\"quoted\\" words"', 'Error starting daemon: "quoted" words'),
    ("   ", ""),
])
def test_error_message_reads_dockerd_log_lines(line, message):
    assert _error_message(line) == message


def test_error_message_takes_warnings_where_asked():
    line = 'time="x" level=warning msg="could not create bridge network for id 1 bridge name docker0"'
    assert _error_message(line) == ""
    assert _error_message(line, ("warning",)) == "could not create bridge network for id 1 bridge name docker0"


def test_taking_a_key_out_of_the_file_takes_a_restart_unless_a_reload_resets_it():
    assert lightest_action(["debug", "live-restore"], (20, 10, 24), removed=["live-restore"]) == "restart"
    assert lightest_action(["max-concurrent-downloads"], (20, 10, 24), removed=["max-concurrent-downloads"]) == "reload"
    assert lightest_action(["registry-mirrors"], (20, 10, 24), removed=[]) == "reload"
