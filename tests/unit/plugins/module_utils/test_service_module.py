"""The skeleton the service modules share (registry_store, registry_cache, registry_lb): their common options, a run's
result with its diff, the program kept running (as check mode predicts it), and the failure a module reports."""

from __future__ import annotations

import json
import socket
import sys

import pytest
from ansible.module_utils import basic

from ansible_collections.dockyard.registry.plugins.module_utils._service import ServiceError
from ansible_collections.dockyard.registry.plugins.module_utils._service_module import (
    ServiceHost,
    listening,
    run_module,
    service_options,
)


@pytest.fixture
def service_module(monkeypatch, tmp_path):
    """A real ``AnsibleModule`` with the options every service module has (its files in ``tmp_path``)."""

    def build(check_mode: bool = True, **params) -> basic.AnsibleModule:
        args = {"config_dir": str(tmp_path / "config"), "log": str(tmp_path / "log" / "program.log"),
                "service_manager": "direct", **params, "_ansible_check_mode": check_mode, "_ansible_diff": True}
        monkeypatch.setattr(basic, "_ANSIBLE_ARGS", json.dumps({"ANSIBLE_MODULE_ARGS": args}).encode())
        monkeypatch.setattr(basic, "_ANSIBLE_PROFILE", "legacy", raising=False)  # ansible-core 2.19 and later
        spec = service_options(binary=sys.executable, config_dir="/etc/dockyard/test", log="/var/log/dockyard/test.log",
                               timeout=5)
        return basic.AnsibleModule(argument_spec=spec, supports_check_mode=True)
    return build


def test_the_common_options_carry_the_modules_defaults():
    spec = service_options(binary="/usr/sbin/haproxy", config_dir="/etc/dockyard/haproxy",
                           log="/var/log/dockyard/haproxy.log", timeout=60)
    assert {name: option.get("default") for name, option in spec.items()} == {
        "binary": "/usr/sbin/haproxy", "config_dir": "/etc/dockyard/haproxy", "log": "/var/log/dockyard/haproxy.log",
        "service_manager": "auto", "timeout": 60}
    assert spec["service_manager"]["choices"] == ["auto", "systemd", "direct"]


def test_check_mode_predicts_the_start_and_the_result_carries_the_files_and_their_diff(service_module, tmp_path):
    host = ServiceHost(service_module(check_mode=True))
    action = host.keep_running("dockyard-test-skeleton", [sys.executable, "-c", "pass"], description="Test program",
                               files_changed=False, ready=lambda: pytest.fail("check mode starts nothing to wait for"))
    result = host.result(action, address="127.0.0.1:1")
    assert action == "started" and result["service"] == "started" and result["changed"] is True
    assert str(tmp_path / "config" / "dockyard-test-skeleton.run") in result["files"]
    assert "service dockyard-test-skeleton" in result["files"]
    assert result["address"] == "127.0.0.1:1"
    assert set(result["ansible_facts"]["dockyard_host"]) == {"fqdn", "default_ipv4"}
    assert result["diff"] and all({"before", "after"} <= set(diff) for diff in result["diff"])
    assert not (tmp_path / "config").exists()  # check mode wrote nothing


def test_a_run_without_a_change_has_no_diff_unless_something_else_changed(service_module):
    host = ServiceHost(service_module())
    result = host.result(None)
    assert (result["changed"], result["files"], result["service"]) == (False, [], None) and "diff" not in result
    assert host.result(None, also_changed=True, flushed=3)["changed"] is True


def test_a_missing_program_changes_nothing_and_says_which(service_module, tmp_path):
    assert ServiceHost(service_module()).missing_program() is None  # sys.executable
    missing = str(tmp_path / "no-such-program")
    assert ServiceHost(service_module(binary=missing)).missing_program() == {
        "changed": False, "missing_program": missing}


def test_listening_tells_a_port_that_takes_connections_from_one_that_does_not():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        port = server.getsockname()[1]
        assert listening("127.0.0.1", port)
    assert not listening("127.0.0.1", port)


def test_run_module_fails_the_module_with_the_message_of_what_went_wrong(service_module, capsys):
    class Broken(ServiceHost):
        def run(self) -> dict:
            raise ServiceError("Test program (dockyard-test) did not answer within 5 s: nothing listens")

    with pytest.raises(SystemExit) as exited:
        run_module(service_module(), Broken)
    assert exited.value.code == 1
    result = json.loads(capsys.readouterr().out)
    assert result["failed"] is True and result["msg"] == ("Test program (dockyard-test) did not answer within 5 s: "
                                                          "nothing listens")


def test_run_module_exits_with_the_hosts_result(service_module, capsys):
    class Done(ServiceHost):
        def run(self) -> dict:
            return self.result(None, endpoint="https://127.0.0.1:8333")

    with pytest.raises(SystemExit) as exited:
        run_module(service_module(), Done)
    assert exited.value.code == 0
    result = json.loads(capsys.readouterr().out)
    assert (result["changed"], result["service"], result["endpoint"]) == (False, None, "https://127.0.0.1:8333")
