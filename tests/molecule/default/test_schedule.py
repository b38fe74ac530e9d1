"""Garbage collection on a schedule, on the registry host itself (registry_server_gc_schedule): the converge installed it
with cron (the hosts have no systemd), with a schedule that never comes; here it is set to every minute through the
role's schedule entry point (playbooks/gc_schedule.yml), with retention rules (registry_server_retention_rules), and a
run that cron started first deletes the tags no rule keeps, through the registry container's loopback port with the
proxy's internal account, then collects the blobs of those and of an image deleted by digest, with the registry
read-only meanwhile, and leaves its record on the host. The kept tags still pull by digest. Bad input is refused
naming the variable, an empty schedule removes the job, and the converge's schedule comes back unchanged."""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import tarfile
import time
from pathlib import Path
from urllib.parse import urljoin

import pytest
import requests
from conftest import local_image_id, pull, push_new_image, repo_digests, run_ok

PLAYBOOK = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3])) / "playbooks" \
    / "gc_schedule.yml"
EVERY_MINUTE = "* * * * *"
# What the scheduled run keeps of scheduled/retention: release tags, and the newest image. build-1 goes.
RETENTION_RULES = [{"repository": "scheduled/retention", "keep_tags": ["release-.*"], "keep_newest": 1}]
CRON_PID = "/run/crond.pid"
HTTP = requests.Session()
HTTP.trust_env = False


@pytest.fixture(scope="module")
def schedule(fleet) -> dict:
    variables = fleet.variables(fleet.registry)
    if not variables.get("registry_server_gc_schedule"):
        pytest.skip("the scenario sets no registry_server_gc_schedule")
    container = variables.get("registry_server_container_name", "dockyard-registry")
    textfile_dir = variables.get("registry_server_metrics_textfile_dir", "/var/lib/prometheus/node-exporter")
    return {"converged": variables["registry_server_gc_schedule"], "container": container,
            "cron_file": f"/etc/cron.d/{container}-gc", "launcher": f"/var/lib/dockyard/{container}-gc/run",
            "record": f"{textfile_dir}/{container}-gc.prom", "log": f"/var/log/dockyard/{container}-gc.log",
            "config": variables.get("registry_server_config_dir", "/etc/dockyard/registry") + "/config.yml",
            "lock": f"/var/lib/dockyard/{container}-gc/lock",
            "account": f"/var/lib/dockyard/{container}-gc/registry-account"}


def set_schedule(fleet, value: str | None, *options: str, rules: list | None = None) -> subprocess.CompletedProcess:
    """playbooks/gc_schedule.yml with registry_server_gc_schedule ``value`` (None: the inventory's), the retention rules
    ``rules`` (None: the inventory's), and ``options``."""
    variables = {"registry_server_gc_schedule": value} if value is not None else {}
    variables.update({"registry_server_retention_rules": rules} if rules is not None else {})
    extra = ["--extra-vars", json.dumps(variables)] if variables else []
    return subprocess.run(["ansible-playbook", "-i", str(fleet.inventory), *extra, *options, str(PLAYBOOK)],
                          check=False, capture_output=True, text=True, timeout=900,
                          env={**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0"})


def wait_for_no_run(host, schedule) -> None:
    """Until no scheduled run holds the job's lock (one that cron started just before its schedule changed)."""
    time.sleep(2)
    run_ok(host, "if [ -e %s ]; then timeout 300 flock %s true; fi", schedule["lock"], schedule["lock"])


def recap(run, host: str) -> dict[str, int]:
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    line = next(line for line in run.stdout.splitlines() if line.startswith(host + " ") and "ok=" in line)
    return {key: int(value) for key, value in (field.split("=") for field in line.split(":", 1)[1].split())}


def samples(host, path: str) -> dict[str, str]:
    if not host.file(path).exists:
        return {}
    found = {}
    for line in host.file(path).content_string.splitlines():
        if line and not line.startswith("#"):
            name, value = line.rsplit(" ", 1)
            found[name.split("{")[0].replace("dockyard_registry_gc_", "")] = value
    return found


def sha256(data: bytes) -> str:
    return f"sha256:{hashlib.sha256(data).hexdigest()}"


def push_by_api(fleet, repository: str, tag: str, created: str) -> str:
    """An image of one layer (a tar holding a file that names ``tag``) whose config says it was made at ``created``,
    pushed through the registry's API with the push account (faster than a build and a push); its digest."""
    base = f"https://{fleet.registry_ips[0]}:{fleet.port}/v2/{repository}"
    options = {"auth": fleet.push_account, "verify": str(Path(fleet.pki_dir) / "ca.crt"), "timeout": 30}
    layer = io.BytesIO()
    with tarfile.open(fileobj=layer, mode="w") as archive:
        content = f"{repository}:{tag} {time.time()}\n".encode()
        entry = tarfile.TarInfo("payload.txt")
        entry.size = len(content)
        archive.addfile(entry, io.BytesIO(content))
    layer = layer.getvalue()
    config = json.dumps({"created": created, "architecture": "amd64", "os": "linux", "config": {},
                         "rootfs": {"type": "layers", "diff_ids": [sha256(layer)]}}).encode()
    for blob in (layer, config):
        started = HTTP.post(f"{base}/blobs/uploads/", **options)
        assert started.status_code == 202, started.text
        uploaded = HTTP.put(urljoin(f"{base}/", started.headers["Location"]), params={"digest": sha256(blob)}, data=blob,
                            headers={"Content-Type": "application/octet-stream"}, **options)
        assert uploaded.status_code == 201, uploaded.text
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": sha256(config),
                   "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": sha256(layer),
                    "size": len(layer)}]}).encode()
    put = HTTP.put(f"{base}/manifests/{tag}", data=manifest,
                   headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"}, **options)
    assert put.status_code == 201, put.text
    return sha256(manifest)


def manifest_status(fleet, repository: str, digest: str) -> int:
    ca = Path(fleet.pki_dir) / "ca.crt"
    return HTTP.head(f"https://{fleet.registry_ips[0]}:{fleet.port}/v2/{repository}/manifests/{digest}",
                     auth=fleet.push_account, verify=str(ca), timeout=30,
                     headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json, "
                                        "application/vnd.oci.image.manifest.v1+json"}).status_code


def test_the_converge_scheduled_the_collection_with_cron(fleet, schedule):
    host = fleet.host(fleet.registry)
    cron_file = host.file(schedule["cron_file"])
    assert cron_file.exists and cron_file.mode == 0o644 and cron_file.user == "root"
    assert f"{schedule['converged']} root {schedule['launcher']} >>{schedule['log']} 2>&1" in cron_file.content_string
    launcher = host.file(schedule["launcher"])
    assert launcher.exists and launcher.mode == 0o700
    assert host.file(os.path.dirname(schedule["launcher"]) + "/config-readonly.yml").mode == 0o600
    pid = host.file(CRON_PID).content_string.strip()
    assert host.file(f"/proc/{pid}/comm").content_string.strip() == "cron"


def test_a_bad_schedule_is_refused_naming_the_variable_before_any_change(fleet, schedule):
    host = fleet.host(fleet.registry)
    before = host.file(schedule["cron_file"]).content_string
    for bad, rules, variable, why in (
            ("61 * * * *", None, "registry_server_gc_schedule", "the minute field holds '61'"),
            ("Sun *-*-* 03:30:00", None, "registry_server_gc_schedule", "only a systemd timer takes"),
            (EVERY_MINUTE, [{"repository": "scheduled/*", "keep_tags": ["release-("]}],
             "registry_server_retention_rules",
             "registry_server_retention_rules[0].keep_tags[0] 'release-(' is not a valid regular expression")):
        run = set_schedule(fleet, bad, rules=rules)
        said = run.stdout + run.stderr  # Ansible prints a task's error on stderr
        assert run.returncode != 0
        assert variable in said and why in " ".join(said.split()), said[-3000:]
        assert host.file(schedule["cron_file"]).content_string == before
    assert not host.file(schedule["account"]).exists


def test_a_scheduled_run_applies_retention_then_collects_while_read_only_and_leaves_its_record(fleet, schedule):
    host = fleet.host(fleet.registry)
    # Garbage: an image whose manifest is deleted by digest leaves its config and layer to the collection.
    pushed = push_new_image(fleet, "scheduled/gc", "doomed", f"collected by a scheduled run {time.time()}")
    assert not pushed.get("failed") and pushed.get("digest"), pushed
    ca = Path(fleet.pki_dir) / "ca.crt"
    deleted = HTTP.delete(f"https://{fleet.registry_ips[0]}:{fleet.port}/v2/scheduled/gc/manifests/{pushed['digest']}",
                          auth=fleet.push_account, verify=str(ca), timeout=30)
    assert deleted.status_code == 202, deleted.text
    # For retention, in the order of their creation: release-1 (kept by its name), build-1 (kept by no rule), build-2
    # (the newest).
    tagged = {tag: push_by_api(fleet, "scheduled/retention", tag, f"2026-01-0{day}T00:00:00Z")
              for day, tag in enumerate(("release-1", "build-1", "build-2"), 1)}
    internal_password = (Path(fleet.pki_dir) / "secrets" / "registry-internal-account").read_text().split()[0]
    started = int(host.run("date +%s").stdout)

    try:
        # Check mode changes nothing; the real run does; the same again changes nothing. The diff never shows the
        # internal account's password.
        predicted = set_schedule(fleet, EVERY_MINUTE, "--check", "--diff", rules=RETENTION_RULES)
        assert recap(predicted, fleet.registry)["changed"] >= 1
        assert internal_password not in predicted.stdout + predicted.stderr
        assert f"{schedule['account']}" in predicted.stdout  # the diff names the file, its content redacted
        assert EVERY_MINUTE not in host.file(schedule["cron_file"]).content_string
        assert not host.file(schedule["account"]).exists
        applied = set_schedule(fleet, EVERY_MINUTE, "--diff", rules=RETENTION_RULES)
        assert recap(applied, fleet.registry)["changed"] >= 1
        assert internal_password not in applied.stdout + applied.stderr
        assert f"{EVERY_MINUTE} root " in host.file(schedule["cron_file"]).content_string
        account = host.file(schedule["account"])
        assert account.mode == 0o600 and account.user == "root" and account.group == "root"
        assert recap(set_schedule(fleet, EVERY_MINUTE, rules=RETENTION_RULES), fleet.registry)["changed"] == 0

        deadline = time.monotonic() + 180
        while int(samples(host, schedule["record"]).get("last_run_timestamp_seconds", 0)) < started:
            if time.monotonic() > deadline:
                pytest.fail(f"no scheduled run recorded within 180 s; log: {host.run('cat %s', schedule['log']).stdout}"
                            f" cron: {host.run('cat /var/log/dockyard/cron.log').stdout}", pytrace=False)
            time.sleep(3)
    finally:
        # The converge's schedule back, and no run left in its read-only window for the tests that follow.
        restored = set_schedule(fleet, None)
        wait_for_no_run(host, schedule)
    recorded = samples(host, schedule["record"])
    runs = [json.loads(line) for line in host.file(schedule["log"]).content_string.splitlines() if line.startswith("{")]
    collecting = [run for run in runs if run.get("started", 0) >= started and run.get("deleted")]
    assert recorded["last_run_success"] == "1", runs
    assert recorded["last_success_timestamp_seconds"] == recorded["last_run_timestamp_seconds"]
    assert collecting, runs
    # The manifest deleted by digest, its config and its layer: blobs no manifest names any more; and those of build-1.
    assert all(run["success"] for run in collecting), collecting
    assert collecting[0]["deleted_blobs"] >= 5 and collecting[0]["freed_bytes"] > 0, collecting
    assert pushed["digest"] in collecting[0]["deleted"]
    # Retention ran first in the same run, and its record lists what it deleted: build-1, the tag no rule keeps.
    assert collecting[0]["retention_success"] is True, collecting
    assert collecting[0]["retention_deleted"] == [f"scheduled/retention@{tagged['build-1']}"], collecting
    assert collecting[0]["retention_deleted_manifests"] == 1
    assert tagged["build-1"] in collecting[0]["deleted"]  # its manifest's blob, collected after
    # The record holds the last run's figures, retention's beside the collection's (a later run in the same window
    # deletes nothing; one that cron started as the schedule was put back has no retention).
    last = [run for run in runs if "success" in run][-1]
    assert recorded.get("dockyard_registry_retention_deleted_manifests") == (
        str(last["retention_deleted_manifests"]) if "retention_deleted_manifests" in last else None), (recorded, last)
    assert recorded.get("dockyard_registry_retention_last_run_success") in ("1", None), recorded
    assert manifest_status(fleet, "scheduled/retention", tagged["build-1"]) == 404
    listed = HTTP.get(f"https://{fleet.registry_ips[0]}:{fleet.port}/v2/scheduled/retention/tags/list",
                      auth=fleet.push_account, verify=str(ca), timeout=30)
    assert sorted(listed.json()["tags"]) == ["build-2", "release-1"], listed.text
    # The kept tags pull by digest, their blobs untouched by the collection.
    puller = fleet.host(fleet.puller)
    for tag in ("release-1", "build-2"):
        reference = f"{fleet.address}/scheduled/retention@{tagged[tag]}"
        image_id = local_image_id(puller, reference)
        if image_id:  # the puller is the pusher: the pull must fetch from the registry
            run_ok(puller, "docker image rm --force %s", image_id)
        result = pull(puller, reference)
        assert result.rc == 0, result.stderr
        assert reference in repo_digests(puller, reference)

    assert recap(restored, fleet.registry)["changed"] >= 1
    assert f"{schedule['converged']} root " in host.file(schedule["cron_file"]).content_string
    assert not host.file(schedule["account"]).exists  # the inventory sets no retention rules
    # The registry is back in its own mode: read-write, its configuration as the role wrote it.
    assert "enabled: false" in host.file(schedule["config"]).content_string
    again = push_new_image(fleet, "scheduled/gc", "after", "pushed after the scheduled collection")
    assert not again.get("failed"), again
    run_ok(host, "test ! -e /var/lib/dockyard/%s-gc/config-saved.yml", schedule["container"])


def test_an_empty_schedule_removes_the_job_and_the_inventory_brings_it_back(fleet, schedule):
    host = fleet.host(fleet.registry)
    assert recap(set_schedule(fleet, ""), fleet.registry)["changed"] >= 1
    assert not host.file(schedule["cron_file"]).exists
    assert not host.file(schedule["launcher"]).exists
    assert recap(set_schedule(fleet, None), fleet.registry)["changed"] >= 1
    assert f"{schedule['converged']} root " in host.file(schedule["cron_file"]).content_string
    pid = host.file(CRON_PID).content_string.strip()
    assert host.file(f"/proc/{pid}/comm").content_string.strip() == "cron"
