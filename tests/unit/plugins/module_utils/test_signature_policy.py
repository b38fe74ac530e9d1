"""The Podman family's signature policy: policy.json merged, registries.d attachments, removal, refusals."""

import base64
import json
import re
from pathlib import Path

import pytest
import yaml
from test_runtimes_docker_podman import host  # the host file tree of the Podman family's other tests

from ansible_collections.dockyard.registry.plugins.module_utils._host_trust import HostTrust, TrustError
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.plan import RuntimeConfigError, apply
from ansible_collections.dockyard.registry.plugins.module_utils._runtimes.podman import signature_plan

ADDRESSES = ["192.0.2.10:5000", "registry.example.test:5000"]
KEYS = Path(__file__).parents[3] / "cosign-keys"
KEY = (KEYS / "pipeline.pub").read_text()
OTHER_KEY = (KEYS / "other.pub").read_text()
# Debian's containers-common policy.json, with a scope of the operator's own.
EXISTING = {
    "default": [{"type": "insecureAcceptAnything"}],
    "transports": {"docker": {"quay.example:443": [{"type": "reject"}]},
                   "docker-daemon": {"": [{"type": "insecureAcceptAnything"}]}},
}
POLICY = "/etc/containers/policy.json"
ATTACHMENTS = "/etc/containers/registries.d/dockyard-registry.yaml"


@pytest.fixture
def run(plan_writer):
    """``run(fs, policy, keys, state)``: the plan, what performing it through the module's writer changed, the writer."""
    def plan_and_apply(fs, policy, keys=(KEY,), state="present"):
        writer = plan_writer(fs)
        plan = signature_plan(ADDRESSES, policy, list(keys), state=state, fs=fs)
        return plan, apply(plan, writer), writer
    return plan_and_apply


def read_policy(tmp_path) -> dict:
    return json.loads((tmp_path / POLICY.lstrip("/")).read_text())


def test_enforce_merges_a_sigstore_scope_per_address_keeping_the_rest_with_a_backup(tmp_path, run):
    fs = host(tmp_path, {POLICY: json.dumps(EXISTING).encode()})
    _plan, outcome, writer = run(fs, "enforce")
    assert outcome["changed"] and len(writer.backups) == 1
    policy = read_policy(tmp_path)
    assert policy["default"] == EXISTING["default"]
    assert policy["transports"]["docker-daemon"] == EXISTING["transports"]["docker-daemon"]
    assert policy["transports"]["docker"]["quay.example:443"] == [{"type": "reject"}]
    for address in ADDRESSES:
        [requirement] = policy["transports"]["docker"][address]
        assert requirement["type"] == "sigstoreSigned"
        assert base64.b64decode(requirement["keyData"]).decode() == KEY.strip() + "\n"
        assert requirement["signedIdentity"] == {"type": "matchRepository"}
    attachments = yaml.safe_load((tmp_path / ATTACHMENTS.lstrip("/")).read_text())
    assert attachments == {"docker": {address: {"use-sigstore-attachments": True} for address in ADDRESSES}}


def test_a_second_run_changes_nothing_and_two_keys_go_to_key_datas(tmp_path, run):
    fs = host(tmp_path, {POLICY: json.dumps(EXISTING).encode()})
    run(fs, "enforce", (KEY, OTHER_KEY))
    plan, outcome, _writer = run(fs, "enforce", (KEY, OTHER_KEY))
    assert not outcome["changed"] and plan.pending == []
    assert len(read_policy(tmp_path)["transports"]["docker"][ADDRESSES[0]][0]["keyDatas"]) == 2


def test_without_a_policy_file_enforce_writes_one_that_accepts_everything_else(tmp_path, run):
    fs = host(tmp_path, {})
    run(fs, "enforce")
    assert read_policy(tmp_path)["default"] == [{"type": "insecureAcceptAnything"}]


def test_off_and_absent_take_out_only_what_enforce_wrote(tmp_path, run):
    fs = host(tmp_path, {POLICY: json.dumps(EXISTING).encode()})
    run(fs, "enforce")
    _plan, outcome, _writer = run(fs, "off", ())
    assert outcome["changed"]
    assert read_policy(tmp_path) == EXISTING
    assert not (tmp_path / ATTACHMENTS.lstrip("/")).exists()
    assert not run(fs, "off", ())[1]["changed"]
    run(fs, "enforce")
    run(fs, "enforce", state="absent")
    assert read_policy(tmp_path) == EXISTING


def test_a_scope_of_the_operators_own_for_the_address_is_kept_by_off(tmp_path, run):
    own = json.loads(json.dumps(EXISTING))
    own["transports"]["docker"][ADDRESSES[0]] = [{"type": "reject"}]
    fs = host(tmp_path, {POLICY: json.dumps(own).encode()})
    assert not run(fs, "off", ())[1]["changed"]


@pytest.mark.parametrize(("content", "reason"), [
    (b"{not json", "is not valid JSON"),
    (b'{"transports": {"docker": []}}', "is not a containers-policy.json(5) policy"),
    (b"[]", "is not a containers-policy.json(5) policy"),
])
def test_an_invalid_policy_file_is_refused_and_left_as_it_is(tmp_path, content, reason):
    fs = host(tmp_path, {POLICY: content})
    with pytest.raises(RuntimeConfigError, match=rf"^/etc/containers/policy.json {re.escape(reason)}.*nothing was changed"):
        signature_plan(ADDRESSES, "enforce", [KEY], fs=fs)
    assert (tmp_path / POLICY.lstrip("/")).read_bytes() == content


def test_the_diff_shows_the_policy_before_and_after(tmp_path):
    fs = host(tmp_path, {POLICY: json.dumps(EXISTING).encode()})
    plan = signature_plan(ADDRESSES, "enforce", [KEY], fs=fs)
    [policy_diff] = [operation.diff() for operation in plan.pending if operation.path == POLICY]
    assert "sigstoreSigned" not in policy_diff["before"] and "sigstoreSigned" in policy_diff["after"]


@pytest.mark.parametrize(("keys", "message"), [
    ([], "signature_policy=enforce needs public_keys (registry_signature_public_keys"),
    ([KEY, "not a key"], "public_keys item(s) 2 are no PEM public key"),
])
def test_registry_trust_refuses_unusable_keys_before_reading_the_host(ansible_module, keys, message):
    module = ansible_module()
    module.params = {"signature_policy": "enforce", "public_keys": keys, "addresses": ADDRESSES, "mode": "ca",
                     "state": "present", "login": None}
    with pytest.raises(TrustError, match=re.escape(message)):
        HostTrust(module).run()


def test_with_the_policy_off_an_invalid_policy_file_is_only_warned_about(tmp_path, run):
    fs = host(tmp_path, {POLICY: b"{not json"})
    plan, outcome, _writer = run(fs, "off", ())
    assert not outcome["changed"] and plan.warnings[0].startswith("/etc/containers/policy.json is not valid JSON")
