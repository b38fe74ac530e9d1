"""The fleet report's entries, table, Markdown and JSON, from results shaped as the modules and Ansible return them."""

from __future__ import annotations

import json

from ansible_collections.dockyard.registry.plugins.module_utils import _verdicts
from ansible_collections.dockyard.registry.plugins.plugin_utils import _fleet_report as fleet

CENSORED = "the output has been hidden due to the fact that 'no_log: true' was specified for this result"
ADDRESS = "192.0.2.10:5000"
NAME = "registry.example.com:5000"


def probe(registry: str, status: str = "ok", detail: str = "GET /v2/ answered 200", remedy: str = "", **extra) -> dict:
    return {"registry": registry, "status": status, "detail": detail, "remedy": remedy, "problems": [], **extra}


def trust_result(**extra) -> dict:
    """A registry_trust result as the module returns it today: Docker only, CA mode, logged in at both addresses."""
    result = {"changed": False, "addresses": [ADDRESS, NAME], "mode": "ca", "state": "present", "files": [],
              "in_force": [f"/etc/docker/certs.d/{ADDRESS}/ca.crt", f"/etc/docker/certs.d/{NAME}/ca.crt"],
              "logins": {ADDRESS: "logged in", NAME: "logged in"},
              "probe": [probe(ADDRESS), probe(NAME)], "unresolved": []}
    return {**result, **extra}


def test_a_result_without_runtimes_stands_for_docker_with_its_files():
    entry = fleet.host_entry("node1", trust=trust_result())
    assert entry["runtimes"] == {"docker": {"mode": "ca", "state": "present", "in_force": trust_result()["in_force"]}}
    assert fleet.cells(entry) == ["node1", "ok", "docker", "ca, 2 files", "yes", "ok", ""]
    assert entry["fix"] is False


def test_every_runtime_the_result_lists_is_shown_with_its_own_mode_and_files():
    result = trust_result(runtimes={
        "docker": {},  # Docker's files are the result's own in_force
        "containerd": {"in_force": [f"/etc/containerd/certs.d/{ADDRESS}/hosts.toml",
                                    f"/etc/containerd/certs.d/{ADDRESS}/ca.crt"]},
        "podman": {"mode": "insecure", "in_force": ["/etc/containers/registries.conf.d/50-dockyard-registry.conf"]},
    })
    entry = fleet.host_entry("node1", trust=result)
    assert list(entry["runtimes"]) == ["docker", "containerd", "podman"]
    assert entry["runtimes"]["containerd"]["mode"] == "ca"
    assert fleet.cells(entry)[2:4] == ["docker,containerd,podman", "ca/insecure, 5 files"]
    document = fleet.markdown(fleet.report([entry], playbooks=["playbooks/trust.yml"], finished="now"))
    assert f"`/etc/containerd/certs.d/{ADDRESS}/hosts.toml`<br>" in document
    assert "`/etc/containers/registries.conf.d/50-dockyard-registry.conf`" in document


def test_each_runtime_says_whether_it_refuses_unsigned_images():
    result = trust_result(runtimes={
        "docker": {"signatures": "not enforceable: Docker pulls unsigned images whatever the registry holds; check "
                                 "signatures before deployment"},
        "podman": {"signatures": "enforced", "in_force": []},
    })
    entry = fleet.host_entry("node1", trust=result)
    assert entry["runtimes"]["podman"]["signatures"] == "enforced"
    assert entry["runtimes"]["docker"]["signatures"].startswith("not enforceable: Docker pulls unsigned images")
    assert fleet.cells(entry)[3] == "ca, 2 files; signatures: docker cannot enforce, podman enforced"


def test_no_signature_word_where_the_policy_is_off():
    result = trust_result(runtimes={"podman": {"signatures": "not enforced (registry_signature_policy: off)"}})
    assert "signatures" not in fleet.cells(fleet.host_entry("node1", trust=result))[3]


def test_runtimes_given_as_names_take_the_results_mode():
    found = fleet.runtimes(trust_result(runtimes=["docker", "podman"]))
    assert found["docker"]["in_force"] == trust_result()["in_force"]
    assert found["podman"] == {"mode": "ca", "state": "present", "in_force": []}


def test_the_first_failing_address_gives_the_verdict_and_the_remedy():
    probes = [probe(ADDRESS), probe(NAME, "unknown_authority", "the certificate's issuer 'other CA' is not trusted",
                                    "Put the CA in /etc/docker/certs.d/registry.example.com:5000/ca.crt."),
              probe("registry:5000", "expired", "expired", "Renew it.")]
    entry = fleet.host_entry("node1", trust=trust_result(probe=probes), changed=True)
    assert (entry["result"], entry["fix"]) == ("changed", True)
    assert entry["probe"]["verdict"] == "unknown_authority"
    assert entry["note"] == "Put the CA in /etc/docker/certs.d/registry.example.com:5000/ca.crt."


def test_an_address_the_host_does_not_resolve_is_noted_but_needs_no_fix():
    entry = fleet.host_entry("node1", trust=trust_result(
        probe=[probe(ADDRESS), probe(NAME, "unresolved", "registry.example.com does not resolve")],
        logins={ADDRESS: "logged in", NAME: "skipped: not resolved here"}))
    assert (entry["probe"]["verdict"], entry["logged_in"], entry["fix"]) == ("ok", "yes", False)
    assert entry["note"] == f"not resolved here: {NAME}"


def test_a_host_that_resolves_no_address_is_to_fix():
    verdict = fleet.probe_verdict([probe(NAME, "unresolved")])
    assert verdict["verdict"] == "unresolved"
    assert verdict["remedy"] == "Fix its DNS or /etc/hosts, or add a name it resolves to registry_names."


def test_logged_in_counts_the_addresses_the_registry_accepted():
    assert fleet.logged_in(trust_result(logins={ADDRESS: "logged in", NAME: "skipped: refused"}), None) == "1 of 2"
    assert fleet.logged_in(trust_result(logins={ADDRESS: "logged out", NAME: "logged out"}), None) == "logged out"
    assert fleet.logged_in(trust_result(logins={NAME: "skipped: not resolved here"}), None) == "no"
    # No registry_users: the run did not log in, and the probe knows nothing of a login.
    assert fleet.logged_in({key: value for key, value in trust_result().items() if key != "logins"},
                           [probe(ADDRESS)]) == "-"


def test_the_role_of_the_login_is_shown_as_the_registrys_proxy_named_it():
    probes = [probe(ADDRESS, login_role="pull"), probe(NAME, login_role="pull")]
    entry = fleet.host_entry("node1", trust=trust_result(probe=probes))
    assert (entry["login_role"], fleet.cells(entry)[4]) == ("pull", "yes (pull)")
    assert entry["probe"]["addresses"][0]["login_role"] == "pull"
    pushing = fleet.host_entry("ci-runner", probes=[probe(ADDRESS, credentials="user ci", login_role="push team-a/*")])
    assert fleet.cells(pushing)[4] == "yes (push team-a/*)"
    # A login the registry refused, or a registry without the proxy, names no role.
    refused = fleet.host_entry("node2", probes=[probe(ADDRESS, "auth_refused", login_role="pull")])
    assert refused["login_role"] == ""
    assert fleet.host_entry("node3", trust=trust_result())["login_role"] == ""


def test_logged_in_from_the_probe_alone():
    assert fleet.logged_in(None, [probe(ADDRESS, credentials="user ci from the Docker login stored in x")]) == "yes"
    assert fleet.logged_in(None, [probe(ADDRESS, "auth_required")]) == "no"
    assert fleet.logged_in(None, None) == "-"


def test_a_probe_only_host_is_a_docker_host_of_unknown_trust():
    entry = fleet.host_entry("node1", probes=[probe(ADDRESS)])
    assert fleet.cells(entry) == ["node1", "ok", "docker", "-", "-", "ok", ""]


def test_a_censored_result_stays_censored():
    assert fleet.failure_message({"censored": CENSORED, "changed": False}) == CENSORED
    looped = {"censored": CENSORED, "results": [{"censored": CENSORED, "failed": True}]}
    assert fleet.failure_message(looped) == CENSORED
    # A loop whose failed item alone is censored: that item says nothing but that it is censored.
    mixed = {"msg": "One or more items failed",
             "results": [{"failed": True, "censored": CENSORED, "_ansible_no_log": True},
                         {"failed": False, "msg": "fine", "_ansible_item_label": "b"}]}
    assert fleet.failure_message(mixed) == CENSORED


def test_failed_loop_items_each_say_what_failed():
    result = {"msg": "One or more items failed", "results": [
        {"failed": True, "msg": f"{ADDRESS}: unknown_authority: not trusted. Put the CA there.",
         "_ansible_item_label": f"{ADDRESS}: unknown_authority"},
        {"failed": False, "msg": "All assertions passed", "_ansible_item_label": f"{NAME}: ok"},
        {"failed": True, "msg": "no such\nfile", "item": {"name": "b"}}]}
    assert fleet.failure_message(result) == (f"{ADDRESS}: unknown_authority: not trusted. Put the CA there.; "
                                             '{"name": "b"}: no such file')


def test_a_command_failure_says_its_last_line_of_stderr():
    assert fleet.failure_message({"msg": "non-zero return code", "stderr": "warming up\nno space left\n\n"}) == \
        "non-zero return code: no space left"
    assert fleet.failure_message({}) == "failed without a message"


def test_a_failed_host_shows_the_task_and_message_besides_what_its_result_told():
    failure = {"play": "Make every Docker host trust the registry", "task": "registry_trust : Make this host trust",
               "message": f"{ADDRESS}: unreachable: no route.\n  Check the routes.", "unreachable": False}
    entry = fleet.host_entry("node2", trust=trust_result(probe=[probe(ADDRESS, "unreachable")]), failure=failure)
    assert fleet.cells(entry) == ["node2", "failed", "docker", "ca, 2 files", "yes", "unreachable",
                                  f"registry_trust : Make this host trust: {ADDRESS}: unreachable: no route. Check the routes."]
    assert entry["failure"]["play"] == "Make every Docker host trust the registry"
    unreachable = fleet.host_entry("node3", failure={**failure, "unreachable": True, "message": "ssh: refused"})
    assert fleet.cells(unreachable) == ["node3", "unreachable", "-", "-", "-", "-",
                                        "registry_trust : Make this host trust: ssh: refused"]


def test_a_host_the_run_did_not_reach_says_why():
    entry = fleet.host_entry("node4", not_reached="the run stopped before it got here (failed: node2)")
    assert fleet.cells(entry) == ["node4", "not reached", "-", "-", "-", "-",
                                  "the run stopped before it got here (failed: node2)"]
    assert entry["fix"] is True


def sample_report() -> dict:
    failure = {"play": "Check the inventory", "task": "Check registry_port", "message": "registry_port must be",
               "unreachable": False}
    entries = [
        fleet.host_entry("node-b", trust=trust_result(), changed=True),
        fleet.host_entry("node-a", trust=trust_result()),
        fleet.host_entry("zeta", not_reached="the run stopped before it got here (failed: alpha)"),
        fleet.host_entry("alpha", failure=failure),
        fleet.host_entry("node-c", trust=trust_result(probe=[probe(ADDRESS, "expired", "expired", "Renew | it.")])),
    ]
    return fleet.report(entries, playbooks=["playbooks/site.yml"], finished="2026-11-29 21:00:00 UTC")


def test_the_table_is_one_aligned_line_per_host_with_the_causes_last():
    lines = fleet.table(sample_report())
    assert lines == [
        "HOST    RESULT       RUNTIMES  TRUST        LOGIN  PROBE    REMEDY OR FAILURE",
        "node-a  ok           docker    ca, 2 files  yes    ok",
        "node-b  changed      docker    ca, 2 files  yes    ok",
        "node-c  ok           docker    ca, 2 files  yes    expired  Renew | it.",
        "zeta    not reached  -         -            -      -        the run stopped before it got here (failed: alpha)",
        "alpha   failed       -         -            -      -        Check registry_port: registry_port must be",
        "5 hosts: 2 ok (1 changed), 3 to fix (1 probe expired, 1 not reached, 1 failed): alpha, zeta, node-c",
    ]


def test_the_summary_names_ten_hosts_to_fix_at_most():
    entries = [fleet.host_entry(f"h{index:02}", not_reached="stopped") for index in range(12)]
    line = fleet.table(fleet.report(entries, playbooks=[], finished="now"))[-1]
    assert line.startswith("12 hosts: 0 ok, 12 to fix (12 not reached): h11, h10, ")
    assert line.endswith(", h02 and 2 more")


def test_markdown_has_one_row_per_host_with_its_files_and_escapes_pipes():
    document = fleet.markdown(sample_report())
    lines = document.splitlines()
    assert lines[0] == "# Fleet report"
    assert lines[2] == ("`playbooks/site.yml`, finished 2026-11-29 21:00:00 UTC. 5 hosts: 2 ok (1 changed), 3 to fix "
                        "(1 probe expired, 1 not reached, 1 failed): alpha, zeta, node-c.")
    rows = [line for line in lines if line.startswith("| ") and not line.startswith("| host") and "---" not in line]
    assert len(rows) == 5
    assert rows[0] == (f"| node-a | ok | docker | ca, 2 files | `/etc/docker/certs.d/{ADDRESS}/ca.crt`<br>"
                       f"`/etc/docker/certs.d/{NAME}/ca.crt` | yes | ok |   |")
    assert rows[2].endswith("| expired | Renew \\| it. |")
    assert all(row.count(" | ") == 7 for row in rows[:2] + rows[3:])


def test_json_keeps_every_entry_and_the_summary():
    loaded = json.loads(fleet.dumps(sample_report()))
    assert loaded["format"] == 1
    assert loaded["summary"] == {"hosts": 5, "ok": 2, "changed": 1, "to_fix": ["alpha", "zeta", "node-c"],
                                 "to_fix_by_result": {"probe expired": 1, "not reached": 1, "failed": 1}}
    assert [entry["host"] for entry in loaded["hosts"]] == ["node-a", "node-b", "node-c", "zeta", "alpha"]
    assert loaded["hosts"][4]["failure"] == {"play": "Check the inventory", "task": "Check registry_port",
                                             "message": "registry_port must be", "unreachable": False}
    assert loaded["hosts"][2]["probe"]["addresses"] == [
        {"registry": ADDRESS, "status": "expired", "detail": "expired", "remedy": "Renew | it."}]


def test_the_verdicts_the_report_knows_are_the_probes():
    assert (fleet.OK, fleet.UNRESOLVED, fleet.AUTH_REQUIRED, fleet.AUTH_REFUSED) == (
        _verdicts.OK, _verdicts.UNRESOLVED, _verdicts.AUTH_REQUIRED, _verdicts.AUTH_REFUSED)
