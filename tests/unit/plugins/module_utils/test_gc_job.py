"""The scheduled garbage collection's run on the registry host (_gc_job.Job), on a storage written as Distribution's
filesystem driver writes it, with the record it leaves read back in the format node_exporter reads.

The container stands in for Docker at its API (restart, exec, health check): it records the configuration the registry
would run with at each restart, and answers garbage-collect as Distribution 2.8.2 prints it. For retention, the
registry's API on the loopback port is an HTTP server in a thread that answers as Distribution does the requests
retention makes (catalog, tags, manifests, configs, deletes), asks for the internal account's Basic credentials, and
refuses deletes with 405 while the container last started with the read-only configuration: the job's own client and
retention code run against it over a real socket. The molecule scenario default runs the job for real, by cron,
against the registry container behind its proxy.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import os
import re
import threading

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils import _gc_job
from ansible_collections.dockyard.registry.plugins.module_utils._gc_job import Job, main
from ansible_collections.dockyard.registry.plugins.module_utils._metrics import parse_samples

OWN = b"version: 0.1\nstorage:\n  maintenance:\n    readonly:\n      enabled: false\n"
READ_ONLY = OWN.replace(b"enabled: false", b"enabled: true")


class Registry:
    """The registry container: the configuration it started with at each restart, and garbage-collect's answers.
    ``events`` lists what happened to it in order: each restart (with the mode it started in) and each pass."""

    def __init__(self, config: str, storage, blobs: list[str], fail_collection: bool = False) -> None:
        self.config, self.storage, self.blobs, self.fail_collection = config, storage, blobs, fail_collection
        self.started_with: list[bytes] = []
        self.collected_while: list[bytes] = []
        self.events: list[str] = []

    @property
    def read_only(self) -> bool:
        return bool(self.started_with) and self.started_with[-1] == READ_ONLY

    def restart(self) -> None:
        with open(self.config, "rb") as config:
            self.started_with.append(config.read())
        self.events.append("restart read-only" if self.read_only else "restart")

    def ready(self) -> bool:
        return True

    def exec(self, argv: list[str]) -> tuple[int, str]:
        assert argv[:2] == ["/bin/registry", "garbage-collect"] and argv[-1] == "/etc/docker/registry/config.yml"
        self.collected_while.append(self.started_with[-1])
        self.events.append("garbage-collect --dry-run" if "--dry-run" in argv else "garbage-collect")
        if "--dry-run" not in argv and self.fail_collection:
            return 1, "failed to garbage collect: filesystem: permission denied"
        lines = [f"0 blobs marked, {len(self.blobs)} blobs and 0 manifests eligible for deletion"]
        lines += [f"blob eligible for deletion: {blob}" for blob in self.blobs]
        if "--dry-run" not in argv:
            for blob in self.blobs:
                os.unlink(self.storage / "docker/registry/v2/blobs/sha256" / blob[7:9] / blob[7:] / "data")
        return 0, "\n".join(lines) + "\n"


@pytest.fixture
def host(tmp_path):
    """The registry host's files: config.yml (0640), the read-only one the role rendered, a storage with two blobs no
    manifest names (what a deleted tag leaves), and the job's settings."""
    config = tmp_path / "config.yml"
    config.write_bytes(OWN)
    config.chmod(0o640)
    (tmp_path / "config-readonly.yml").write_bytes(READ_ONLY)
    storage = tmp_path / "storage"
    blobs = []
    for content in (b"layer one" * 100, b"config two"):
        digest = f"sha256:{hashlib.sha256(content).hexdigest()}"
        path = storage / "docker/registry/v2/blobs/sha256" / digest[7:9] / digest[7:] / "data"
        path.parent.mkdir(parents=True)
        path.write_bytes(content)
        blobs.append(digest)
    settings = {"container": "dockyard-registry", "config": str(config), "readonly_config": str(tmp_path / "config-readonly.yml"),
                "saved_config": str(tmp_path / "config-saved.yml"), "container_config": "/etc/docker/registry/config.yml",
                "data_dir": str(storage), "record": str(tmp_path / "textfile" / "dockyard-registry-gc.prom"),
                "labels": {"registry": "dockyard-registry"}, "lock": str(tmp_path / "lock"), "ready_timeout": 5}
    return {"settings": settings, "config": config, "storage": storage, "blobs": blobs, "freed": 900 + 10}


def record(host) -> dict[str, str]:
    with open(host["settings"]["record"], encoding="utf-8") as prom:
        return {key.split("{")[0].replace("dockyard_registry_gc_", ""): value
                for key, value in parse_samples(prom.read()).items()}


def test_a_run_collects_while_the_registry_is_read_only_and_records_what_it_freed(host):
    registry = Registry(str(host["config"]), host["storage"], host["blobs"])
    result = Job(host["settings"], registry, clock=lambda: 1_800_000_000).run()

    assert result["success"] and result["error"] is None, result
    assert registry.started_with == [READ_ONLY, OWN]
    assert registry.collected_while == [READ_ONLY, READ_ONLY]
    assert host["config"].read_bytes() == OWN and oct(host["config"].stat().st_mode & 0o777) == "0o640"
    assert not os.path.exists(host["settings"]["saved_config"])
    assert result["deleted"] == sorted(host["blobs"]) and result["freed_bytes"] == host["freed"]
    assert record(host) == {"last_run_timestamp_seconds": "1800000000", "last_run_success": "1",
                            "last_success_timestamp_seconds": "1800000000", "deleted_blobs": "2",
                            "deleted_manifests": "0", "freed_bytes": str(host["freed"])}
    with open(host["settings"]["record"], encoding="utf-8") as prom:
        assert 'dockyard_registry_gc_last_run_success{registry="dockyard-registry"} 1' in prom.read()


def test_a_failed_collection_returns_the_registry_to_its_mode_and_keeps_the_last_success(host):
    Job(host["settings"], Registry(str(host["config"]), host["storage"], []), clock=lambda: 1_700_000_000).run()
    registry = Registry(str(host["config"]), host["storage"], host["blobs"], fail_collection=True)
    result = Job(host["settings"], registry, clock=lambda: 1_800_000_000).run()

    assert not result["success"] and "permission denied" in result["error"]
    assert registry.started_with == [READ_ONLY, OWN] and host["config"].read_bytes() == OWN
    assert record(host)["last_run_success"] == "0"
    assert record(host)["last_run_timestamp_seconds"] == "1800000000"
    assert record(host)["last_success_timestamp_seconds"] == "1700000000"


def test_a_configuration_an_interrupted_run_left_read_only_is_put_back_first(host):
    # The run before was killed inside the window: config.yml is the read-only one, the registry's own kept aside.
    host["config"].write_bytes(READ_ONLY)
    with open(host["settings"]["saved_config"], "wb") as saved:
        saved.write(OWN)
    registry = Registry(str(host["config"]), host["storage"], [])
    assert Job(host["settings"], registry).run()["success"]
    assert registry.started_with == [OWN, READ_ONLY, OWN] and host["config"].read_bytes() == OWN


def test_a_registry_read_only_by_its_own_configuration_is_collected_without_restarts(host):
    host["config"].write_bytes(READ_ONLY)
    registry = Registry(str(host["config"]), host["storage"], host["blobs"])
    registry.started_with.append(READ_ONLY)  # as it runs now
    assert Job(host["settings"], registry).run()["success"]
    assert registry.started_with == [READ_ONLY]


def test_a_collection_that_would_break_a_tag_deletes_nothing(host):
    # A tag whose manifest names one of the blobs garbage-collect lists.
    layer = host["blobs"][0]
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"digest": host["blobs"][1], "size": 1}, "layers": [{"digest": layer, "size": 1}]})
    digest = f"sha256:{hashlib.sha256(manifest.encode()).hexdigest()}"
    v2 = host["storage"] / "docker/registry/v2"
    (v2 / "blobs/sha256" / digest[7:9] / digest[7:]).mkdir(parents=True)
    (v2 / "blobs/sha256" / digest[7:9] / digest[7:] / "data").write_text(manifest)
    for link in ("revisions/sha256/" + digest[7:] + "/link", "tags/1/current/link"):
        (v2 / "repositories/team/app/_manifests" / link).parent.mkdir(parents=True)
        (v2 / "repositories/team/app/_manifests" / link).write_text(digest)
    registry = Registry(str(host["config"]), host["storage"], host["blobs"])
    result = Job(host["settings"], registry).run()
    assert not result["success"] and "team/app:1 would lose 2 blobs" in result["error"]
    assert registry.collected_while == [READ_ONLY]  # the dry run only
    assert all((v2 / "blobs/sha256" / blob[7:9] / blob[7:] / "data").exists() for blob in host["blobs"])
    assert host["config"].read_bytes() == OWN


def test_without_the_read_only_configuration_the_run_fails_before_any_restart(host):
    os.unlink(host["settings"]["readonly_config"])
    registry = Registry(str(host["config"]), host["storage"], host["blobs"])
    result = Job(host["settings"], registry).run()
    assert not result["success"] and "config-readonly.yml is missing" in result["error"]
    assert registry.started_with == [] and record(host)["last_run_success"] == "0"


def test_the_launcher_entry_records_a_failure_where_docker_cannot_be_reached(host, tmp_path, capsys, monkeypatch):
    settings = tmp_path / "settings.json"
    settings.write_text(json.dumps(host["settings"]))
    # A host whose Docker daemon is down: nothing listens on the socket the job asks.
    monkeypatch.setattr(_gc_job, "DEFAULT_DOCKER_HOST", f"unix://{tmp_path}/docker.sock")
    assert main([str(settings)]) == 1
    printed = json.loads(capsys.readouterr().out)
    assert not printed["success"] and "the Docker daemon cannot be reached" in printed["error"]
    assert record(host)["last_run_success"] == "0"


# Retention before the collection


INTERNAL = ("dockyard-proxy", "internal-account-password")
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
_PATH = re.compile(r"^/v2/(?P<repository>.+)/(?P<kind>manifests|blobs|tags)/(?P<reference>[^/?]+)")


class RegistryAPI(http.server.ThreadingHTTPServer):
    """The registry container's API on its loopback port: ``tags`` (repository -> tag -> digest), ``blobs`` (digest ->
    bytes, manifests and configs), the internal account's credential, and ``container`` (a :class:`Registry`) whose
    mode decides whether deletes are taken. Each delete it takes goes into the container's ``events``."""

    daemon_threads = True

    def __init__(self, container: Registry) -> None:
        super().__init__(("127.0.0.1", 0), RegistryHandler)
        self.container = container
        self.tags: dict[str, dict[str, str]] = {}
        self.blobs: dict[str, bytes] = {}
        self.authorization = "Basic " + base64.b64encode(":".join(INTERNAL).encode()).decode()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server_address[1]}"

    def push(self, repository: str, tag: str, created: str) -> str:
        """An image of one config (created at ``created``) and no layer, tagged ``repository:tag``; its digest."""
        config = json.dumps({"created": created, "architecture": "amd64", "os": "linux",
                             "rootfs": {"type": "layers", "diff_ids": []}, "tag": tag}).encode()
        config_digest = f"sha256:{hashlib.sha256(config).hexdigest()}"
        described = {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config)}
        manifest = json.dumps({"schemaVersion": 2, "mediaType": OCI_MANIFEST, "layers": [], "config": described}).encode()
        digest = f"sha256:{hashlib.sha256(manifest).hexdigest()}"
        self.blobs.update({config_digest: config, digest: manifest})
        self.tags.setdefault(repository, {})[tag] = digest
        return digest


class RegistryHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for name, value in {"Content-Length": str(len(body)), **(headers or {})}.items():
            self.send_header(name, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, headers: dict | None = None) -> None:
        self._answer(status, json.dumps({"errors": [{"code": code, "message": code.lower()}]}).encode(), headers)

    def _route(self) -> None:
        api = self.server
        if self.headers.get("Authorization") != api.authorization:
            self._error(401, "UNAUTHORIZED", {"WWW-Authenticate": 'Basic realm="registry"'})
            return
        if self.path.startswith("/v2/_catalog"):
            self._answer(200, json.dumps({"repositories": sorted(api.tags)}).encode())
            return
        match = _PATH.match(self.path)
        repository, kind, reference = match["repository"], match["kind"], match["reference"]
        tags = api.tags.get(repository, {})
        if kind == "tags":
            self._answer(200, json.dumps({"name": repository, "tags": sorted(tags)}).encode())
            return
        digest = tags.get(reference, reference)
        if kind == "manifests" and self.command == "DELETE":
            if api.container.read_only:  # as Distribution answers a delete in read-only maintenance
                self._error(405, "UNSUPPORTED")
                return
            if digest not in tags.values():
                self._error(404, "MANIFEST_UNKNOWN")
                return
            api.tags[repository] = {tag: tagged for tag, tagged in tags.items() if tagged != digest}
            api.container.events.append(f"delete {repository}@{digest}")
            self._answer(202)
            return
        if digest not in api.blobs:
            self._error(404, "MANIFEST_UNKNOWN" if kind == "manifests" else "BLOB_UNKNOWN")
            return
        headers = {"Docker-Content-Digest": digest}
        if kind == "manifests":
            headers["Content-Type"] = OCI_MANIFEST
        self._answer(200, api.blobs[digest], headers)

    do_GET = do_HEAD = do_DELETE = _route

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def retention(host, tmp_path):
    """The registry container and its API with team/app tagged release-1 (kept by its name), old-1 and old-2 (kept by
    no rule), and other/app tagged old-1 (matched by no rule); the job's settings with the rules and the account file
    (0600) that registry_gc_schedule writes."""
    container = Registry(str(host["config"]), host["storage"], host["blobs"])
    api = RegistryAPI(container)
    digests = {tag: api.push("team/app", tag, created) for tag, created in (
        ("release-1", "2020-01-01T00:00:00Z"), ("old-1", "2020-01-02T00:00:00Z"), ("old-2", "2020-01-03T00:00:00Z"))}
    api.push("other/app", "old-1", "2020-01-01T00:00:00Z")
    account = tmp_path / "registry-account"
    account.write_text(":".join(INTERNAL) + "\n")
    account.chmod(0o600)
    host["settings"]["retention"] = {"rules": [{"repository": "team/*", "keep_tags": ["release-.*"]}],
                                     "registry": api.address, "account": str(account)}
    thread = threading.Thread(target=api.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield {"container": container, "api": api, "digests": digests, "account": account}
    api.shutdown()
    api.server_close()


def retention_record(host) -> dict[str, str]:
    with open(host["settings"]["record"], encoding="utf-8") as prom:
        return {key.split("{")[0]: value for key, value in parse_samples(prom.read()).items()
                if key.startswith("dockyard_registry_retention_")}


def test_retention_deletes_what_no_rule_keeps_while_writable_then_the_window_opens_and_the_collection_runs(
        host, retention):
    container, api, digests = retention["container"], retention["api"], retention["digests"]
    result = Job(host["settings"], container, clock=lambda: 1_800_000_000).run()

    assert result["success"] and result["error"] is None, result
    gone = sorted(f"team/app@{digests[tag]}" for tag in ("old-1", "old-2"))
    # The deletes first, while the registry runs its own configuration; then the window, the collection, and back.
    assert container.events == [*(f"delete {entry}" for entry in gone), "restart read-only",
                                "garbage-collect --dry-run", "garbage-collect", "restart"]
    assert api.tags["team/app"] == {"release-1": digests["release-1"]}
    assert list(api.tags["other/app"]) == ["old-1"]  # no rule matches it
    assert result["retention_deleted"] == gone and result["retention_deleted_manifests"] == 2
    assert result["deleted_blobs"] == 2  # the collection's own figures, beside retention's
    assert retention_record(host) == {"dockyard_registry_retention_last_run_success": "1",
                                      "dockyard_registry_retention_deleted_manifests": "2"}
    assert record(host)["last_run_success"] == "1"

    # The next run finds nothing more to delete, nor to collect.
    container.blobs = []
    again = Job(host["settings"], container, clock=lambda: 1_800_000_100).run()
    assert again["success"] and again["retention_deleted"] == [], again


def test_a_registry_read_only_during_retention_refuses_its_deletes_and_the_run_fails_without_collecting(
        host, retention):
    # What a job that deleted inside the read-only window would meet: the stand-in enforces the window, as
    # Distribution does, so the order the test above sees is one that works.
    host["config"].write_bytes(READ_ONLY)
    container = retention["container"]
    container.started_with.append(READ_ONLY)
    result = Job(host["settings"], container, clock=lambda: 1_800_000_000).run()

    assert not result["success"] and result["error"].startswith("retention: registry 127.0.0.1:"), result
    assert "answered 405" in result["error"] and "the garbage collection did not run" in result["error"]
    assert container.events == [] and result["retention_deleted"] == []
    assert record(host)["last_run_success"] == "0"
    assert retention_record(host)["dockyard_registry_retention_last_run_success"] == "0"


def test_a_retention_that_fails_records_the_failure_and_leaves_the_registry_writable(host, retention):
    retention["account"].write_text("dockyard-proxy:a-wrong-password\n")
    result = Job(host["settings"], retention["container"], clock=lambda: 1_800_000_000).run()

    assert not result["success"] and "401 Unauthorized" in result["error"], result
    assert "a-wrong-password" not in json.dumps(result)
    assert retention["container"].events == []  # no window opened, nothing collected
    assert host["config"].read_bytes() == OWN
    assert record(host)["last_run_success"] == "0"
    assert len(retention["api"].tags["team/app"]) == 3


def test_an_account_file_others_can_read_is_refused_before_the_registry_is_asked(host, retention):
    retention["account"].chmod(0o644)
    result = Job(host["settings"], retention["container"]).run()
    assert not result["success"] and "is readable by others than its owner" in result["error"], result
    assert retention["container"].events == [] and len(retention["api"].tags["team/app"]) == 3


def test_the_rules_are_checked_by_the_job_too_and_nothing_is_deleted(host, retention):
    host["settings"]["retention"]["rules"] = [{"repository": "team/[", "keep_newest": 1}]
    result = Job(host["settings"], retention["container"]).run()
    assert not result["success"] and "rules[0].repository 'team/[' is not a valid glob" in result["error"], result
    assert retention["container"].events == [] and len(retention["api"].tags["team/app"]) == 3
