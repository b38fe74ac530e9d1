"""``dockyard.registry.registry_retention`` against a real registry over TLS, checked from outside.

A registry of the test's own (``ScratchRegistry``: Distribution 2.8.2 with deletes enabled and an htpasswd account)
gets images pushed through its API with the creation times the test chooses: releases, old and new builds, a tag
that shares a digest with a kept one, two multi-platform images (OCI indexes) with a platform also tagged on its own,
and cosign-style signature tags. The module runs ad hoc on the local host, as a play would: check mode lists without
deleting, the real run deletes exactly what no rule keeps, a second run deletes nothing.
"""

from __future__ import annotations

import datetime
import shutil
import time

import pytest
from scratch_registry import CA, OCI_INDEX, OCI_MANIFEST, RegistryAPI, ScratchRegistry, free_port, htpasswd_line

from ansible_collections.dockyard.registry.plugins.module_utils._registry import client as client_module
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import Credentials
from ansible_collections.dockyard.registry.plugins.module_utils._registry.client import RegistryClient
from support import run_module, run_playbook

MODULE = "dockyard.registry.registry_retention"
USER, PASSWORD = "pipeline", "retention-test-password"
NOW = datetime.datetime.now(datetime.timezone.utc)
RULES = [{"repository": "team/*", "keep_newest": 1, "keep_tags": [r"v\d+\.\d+\.\d+", "stable"], "keep_days": 30}]


def ago(days: int) -> str:
    return (NOW - datetime.timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%S.123456789Z")


@pytest.fixture(scope="module")
def scratch(tmp_path_factory, machine_ip, scratch_registry_image):
    ca = CA("dockyard retention test CA")
    work = tmp_path_factory.mktemp("retention")
    ca_path = work / "ca.crt"
    ca_path.write_bytes(ca.pem)
    port = free_port()
    with ScratchRegistry(f"dockyard-probe-retention-{port}", machine_ip, port, work,
                         certificate=ca.issue([machine_ip]), htpasswd=htpasswd_line(USER, PASSWORD),
                         delete=True) as registry:
        api = RegistryAPI(registry.url, str(ca_path), (USER, PASSWORD))
        try:
            yield registry, api, str(ca_path)
        finally:
            api.close()


def index(api: RegistryAPI, repository: str, tag: str, created: dict[str, str]) -> dict:
    """An OCI index of one image per architecture, each with its own creation time."""
    children = {arch: api.push_image(repository, None, [f"{tag} {arch}".encode()], ("linux", arch), when)
                for arch, when in created.items()}
    body = {"schemaVersion": 2, "mediaType": OCI_INDEX,
            "manifests": [{k: child[k] for k in ("mediaType", "digest", "size", "platform")} for child in children.values()]}
    digest, _sent = api.put_manifest(repository, tag, body)
    return {"digest": digest, **{arch: child["digest"] for arch, child in children.items()}}


def tag_again(api: RegistryAPI, repository: str, digest: str, tag: str) -> None:
    got = api.session.get(f"{api.url}/v2/{repository}/manifests/{digest}", verify=api.verify, timeout=30,
                          headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"})
    got.raise_for_status()
    put = api.session.put(f"{api.url}/v2/{repository}/manifests/{tag}", data=got.content, verify=api.verify,
                          headers={"Content-Type": got.headers["Content-Type"]}, timeout=30)
    put.raise_for_status()


def signature(api: RegistryAPI, repository: str, subject: str, suffix: str = "sig") -> str:
    return api.push_image(repository, f"sha256-{subject[7:]}.{suffix}", [f"signs {subject}".encode()])["digest"]


def tags(api: RegistryAPI, repository: str) -> list[str]:
    listed = api.session.get(f"{api.url}/v2/{repository}/tags/list", verify=api.verify, timeout=30)
    return sorted(listed.json().get("tags") or []) if listed.status_code == 200 else []


def manifest_status(api: RegistryAPI, repository: str, digest: str) -> int:
    return api.session.head(f"{api.url}/v2/{repository}/manifests/{digest}", verify=api.verify, timeout=30,
                            headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"}).status_code


@pytest.fixture(scope="module")
def images(scratch):
    _registry, api, _ca = scratch
    repo = "team/app"
    pushed = {
        "v1.0.0": api.push_image(repo, "v1.0.0", [b"release"], created=ago(300))["digest"],
        "old-1": api.push_image(repo, "old-1", [b"old one"], created=ago(90))["digest"],
        "old-2": api.push_image(repo, "old-2", [b"old two"], created=ago(80))["digest"],
        "recent": api.push_image(repo, "recent", [b"recent"], created=ago(10))["digest"],
    }
    tag_again(api, repo, pushed["old-2"], "stable")
    multi = index(api, repo, "multi", {"amd64": ago(200), "arm64": ago(1)})  # as new as its arm64 platform
    old_multi = index(api, repo, "old-multi", {"amd64": ago(70), "arm64": ago(60)})
    tag_again(api, repo, multi["amd64"], "multi-amd64")  # old on its own, but a platform of a kept index
    signatures = {"kept": signature(api, repo, multi["digest"]), "kept-att": signature(api, repo, multi["digest"], "att"),
                  "gone": signature(api, repo, pushed["old-1"])}
    untouched = api.push_image("other/base", "ancient", [b"ancient"], created=ago(999))["digest"]
    return {"repo": repo, "pushed": pushed, "multi": multi, "old_multi": old_multi, "signatures": signatures,
            "untouched": untouched}


def retention(scratch, *extra: str, rules=None) -> dict:
    registry, _api, ca_path = scratch
    return run_module(MODULE, {"registry": registry.address, "ca_path": ca_path, "username": USER,
                               "password": PASSWORD, "rules": RULES if rules is None else rules}, *extra, timeout=120)


@pytest.mark.parametrize("rules, option", [
    ([{"repository": "team/*", "keep_tags": ["v(1"]}], "rules[0].keep_tags[0] 'v(1' is not a valid regular expression"),
    ([{"repository": "team/[app", "keep_newest": 1}], "rules[0].repository 'team/[app' is not a valid glob"),
    ([{"repository": "team/*", "keep_newest": -2}], "rules[0].keep_newest must be a whole number of 0 or more"),
    ([{"repository": "team/*"}], "rules[0] keeps nothing"),
    ([], "rules is empty"),
])
def test_bad_rules_are_refused_before_anything_is_deleted(scratch, images, rules, option):
    before = tags(scratch[1], images["repo"])
    result = retention(scratch, rules=rules)
    assert result.get("failed") and option in result["msg"], result
    assert tags(scratch[1], images["repo"]) == before


def test_retention_keeps_what_the_rules_and_references_need_and_deletes_the_rest(scratch, images):
    _registry, api, _ca = scratch
    repo, pushed, multi, old_multi, sigs = (images[k] for k in ("repo", "pushed", "multi", "old_multi", "signatures"))
    all_tags = tags(api, repo)
    doomed = {pushed["old-1"], old_multi["digest"], old_multi["amd64"], old_multi["arm64"], sigs["gone"]}
    kept_tags = ["multi", "multi-amd64", "old-2", "recent", f"sha256-{multi['digest'][7:]}.att",
                 f"sha256-{multi['digest'][7:]}.sig", "stable", "v1.0.0"]

    started = time.monotonic()
    dry = retention(scratch, "--check", "--diff")
    assert not dry.get("failed"), dry.get("msg", dry)
    assert dry["changed"] is True
    assert sorted(dry["deleted"]) == sorted(f"{repo}@{digest}" for digest in doomed)
    assert dry["diff"]["before"][repo] == all_tags and dry["diff"]["after"][repo] == kept_tags
    assert "other/base" not in dry["repositories"]  # no rule matches it
    assert tags(api, repo) == all_tags  # check mode deleted nothing
    assert all(manifest_status(api, repo, digest) == 200 for digest in doomed)
    reasons = {entry["tag"]: entry["reasons"] for entry in dry["repositories"][repo]["kept"]}
    assert "newest 1 of keep_newest 1" in reasons["multi"]  # as new as its arm64 platform, a day old
    assert reasons["recent"] == [f"created {ago(10)[:19]}.123456+00:00, within keep_days 30"]
    assert reasons["stable"] == ["matches keep_tags 'stable'"] and reasons["old-2"] == ["same digest as kept tag stable"]
    assert reasons["multi-amd64"] == ["a platform of a kept multi-platform image"]

    done = retention(scratch, "--diff")
    assert not done.get("failed"), done.get("msg", done)
    assert done["changed"] is True and sorted(done["deleted"]) == sorted(dry["deleted"])
    assert tags(api, repo) == kept_tags
    assert [manifest_status(api, repo, digest) for digest in sorted(doomed)] == [404] * len(doomed)
    still = [*pushed.values(), multi["digest"], multi["amd64"], multi["arm64"], sigs["kept"], sigs["kept-att"]]
    assert [d for d in still if d != pushed["old-1"] and manifest_status(api, repo, d) != 200] == []
    assert tags(api, "other/base") == ["ancient"]

    again = retention(scratch)
    assert not again.get("failed"), again.get("msg", again)
    assert again["changed"] is False and again["deleted"] == []
    assert tags(api, repo) == kept_tags
    print(f"three runs of the module: {time.monotonic() - started:.1f} s")


def test_the_registry_server_entry_point_lists_then_deletes_with_the_push_account(scratch, tmp_path, machine_ip):
    """The role's retention entry point (what playbooks/retention.yml runs before gc.yml) against the same registry:
    the address from the inventory's names, the CA from registry_pki_dir, the push account from registry_users."""
    registry, api, ca_path = scratch
    repo = "team/entry"
    old, new = (api.push_image(repo, tag, [tag.encode()], created=ago(days))["digest"] for tag, days in (("old", 50), ("new", 40)))
    shutil.copyfile(ca_path, tmp_path / "ca.crt")
    playbook = tmp_path / "retention-entry.yml"
    playbook.write_text("- hosts: registry\n  gather_facts: false\n  tasks:\n    - ansible.builtin.include_role:\n"
                        "        name: dockyard.registry.registry_server\n        tasks_from: retention\n")
    variables = {"registry_port": registry.port, "registry_pki_dir": str(tmp_path), "registry_names": [machine_ip],
                 "registry_users": [{"name": USER, "password": PASSWORD, "role": "push"}],
                 "registry_retention_rules": [{"repository": "team/entry", "keep_newest": 1}]}

    for bad, message in (({"repository": "x"}, "argument 'registry_retention_rules' is of type dict"),
                         ([], "registry_retention_rules must be a non-empty list"),
                         ([{"repository": "team/*", "keep_days": -1}], "rules[0].keep_days must be a whole number")):
        refused = run_playbook(str(playbook), extra_vars={**variables, "registry_retention_rules": bad})
        assert refused.returncode != 0 and message in refused.output, str(refused)
    listed = run_playbook(str(playbook), "--check", extra_vars=variables)
    assert listed.returncode == 0 and f"{repo}@{old}" in listed.output, str(listed)
    assert tags(api, repo) == ["new", "old"]
    done = run_playbook(str(playbook), extra_vars=variables)
    assert done.returncode == 0 and done.changed == 1, str(done)
    assert tags(api, repo) == ["new"] and manifest_status(api, repo, old) == 404 and manifest_status(api, repo, new) == 200
    again = run_playbook(str(playbook), extra_vars=variables)
    assert again.returncode == 0 and again.changed == 0, str(again)


def test_the_client_follows_the_registrys_pages_of_tags_and_catalog(scratch, images, monkeypatch):
    """Distribution pages /tags/list and /_catalog with a Link header: the client reads every page."""
    registry, api, ca_path = scratch
    monkeypatch.setattr(client_module, "LIST_PAGE", 2)
    with RegistryClient(registry.address, ca_path=ca_path, credentials=Credentials(USER, PASSWORD, "the test")) as client:
        assert sorted(client.tags(images["repo"])) == tags(api, images["repo"])
        assert len(tags(api, images["repo"])) > 2
        assert {"team/app", "other/base"} <= set(client.catalog())
        assert client.tags("team/never-pushed") == []
