"""The scheduled garbage collection's run on the registry host (_gc_job.Job), on a storage written as Distribution's
filesystem driver writes it, with the record it leaves read back in the format node_exporter reads.

The container stands in for Docker at its API (restart, exec, health check): it records the configuration the registry
would run with at each restart, and answers garbage-collect as Distribution 2.8.2 prints it. The molecule scenario
default runs the job for real, by cron, against the registry container.
"""

from __future__ import annotations

import hashlib
import json
import os

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils import _gc_job
from ansible_collections.dockyard.registry.plugins.module_utils._gc_job import Job, main
from ansible_collections.dockyard.registry.plugins.module_utils._metrics import parse_samples

OWN = b"version: 0.1\nstorage:\n  maintenance:\n    readonly:\n      enabled: false\n"
READ_ONLY = OWN.replace(b"enabled: false", b"enabled: true")


class Registry:
    """The registry container: the configuration it started with at each restart, and garbage-collect's answers."""

    def __init__(self, config: str, storage, blobs: list[str], fail_collection: bool = False) -> None:
        self.config, self.storage, self.blobs, self.fail_collection = config, storage, blobs, fail_collection
        self.started_with: list[bytes] = []
        self.collected_while: list[bytes] = []

    def restart(self) -> None:
        with open(self.config, "rb") as config:
            self.started_with.append(config.read())

    def ready(self) -> bool:
        return True

    def exec(self, argv: list[str]) -> tuple[int, str]:
        assert argv[:2] == ["/bin/registry", "garbage-collect"] and argv[-1] == "/etc/docker/registry/config.yml"
        self.collected_while.append(self.started_with[-1])
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
