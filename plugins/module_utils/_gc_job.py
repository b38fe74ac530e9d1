# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Private to the dockyard.registry collection: a scheduled garbage collection, run on the registry host itself.

The module registry_gc_schedule installs this file with the collection's code it imports, a settings file, and a
launcher that a systemd timer or cron runs: no controller takes part. A run does what the registry_server role's
gc entry point does on one registry host with its storage on disk: the registry goes read-only (its configuration
rendered by the role with storage.maintenance.readonly, put in place of config.yml, and the container restarted),
``registry garbage-collect`` runs as a dry run whose deletions are checked against what every tag needs
(:mod:`._gc`), then for real, and the registry returns to its own configuration, also when the collection fails.
Each run writes the record of the last collection that the gc entry point writes (:func:`._metrics.gc_record`, for
node_exporter's textfile collector and the shipped alerts), and prints one JSON line with what it deleted and freed
(the scheduler appends it to the job's log). A configuration that an interrupted run left read-only is put back
first. One run at a time (a lock file).

With retention rules in its settings (registry_server_retention_rules), a run first deletes by digest what no rule
keeps (:mod:`._registry.retention`, the code of the registry_retention module), through the registry's API while the
registry is still writable (Distribution refuses deletes while it is read-only), and only then opens the read-only
window and collects, which frees what the deletes left. A run whose retention fails does not collect, and records
that it failed. The job holds no push account's password: it speaks plain HTTP to the registry container where the
role publishes it on the host's loopback behind the authenticating proxy (registry_server_loopback_port), with the
proxy's internal account, the only one that registry knows. That credential is on the host already (the proxy's
configuration carries it to every request); the module keeps a copy for the job in a root-only 0600 file of the job's
own 0700 directory. Root on the registry host owns the storage anyway: nothing it could not do before is exposed.
"""

from __future__ import annotations

import datetime
import fcntl
import json
import os
import sys
import time
import traceback

from ansible_collections.dockyard.registry.plugins.module_utils._docker_client import (
    DEFAULT_DOCKER_HOST,
    DaemonError,
    api_client,
    sdk_errors,
)
from ansible_collections.dockyard.registry.plugins.module_utils._files import read, replace
from ansible_collections.dockyard.registry.plugins.module_utils._gc import (
    Storage,
    StorageError,
    endangered,
    parse_listing,
    summary_counts,
)
from ansible_collections.dockyard.registry.plugins.module_utils._metrics import gc_record, render, retention_record
from ansible_collections.dockyard.registry.plugins.module_utils._registry.auth import Credentials
from ansible_collections.dockyard.registry.plugins.module_utils._registry.client import RegistryClient
from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.dockyard.registry.plugins.module_utils._registry.retention import (
    Retention,
    RetentionRuleError,
    parse_rules,
)

# The registry's command inside its container, as the gc entry point runs it.
REGISTRY = "/bin/registry"


class JobError(Exception):
    """The run cannot go on; the message says why."""


class Container:
    """The registry's container, through the Docker SDK's API client: restarted, exec'd in, asked with its own health
    check. Each call opens a client of its own and closes it (_docker_client.api_client)."""

    def __init__(self, name: str, timeout: float) -> None:
        self.name, self.timeout = name, int(timeout)
        with api_client(DEFAULT_DOCKER_HOST, self.timeout) as client:
            client.inspect_container(name)  # the daemon answers, and knows the container

    def restart(self) -> None:
        with api_client(DEFAULT_DOCKER_HOST, self.timeout) as client:
            client.restart(self.name, timeout=30)

    def exec(self, argv: list[str]) -> tuple[int, str]:
        with api_client(DEFAULT_DOCKER_HOST, self.timeout) as client:
            started = client.exec_create(self.name, argv)
            output = client.exec_start(started["Id"])
            return client.exec_inspect(started["Id"])["ExitCode"], output.decode("utf-8", "replace")

    def ready(self) -> bool:
        """Whether the container runs and its health check (the one Docker runs) passes now."""
        with api_client(DEFAULT_DOCKER_HOST, self.timeout) as client:
            attributes = client.inspect_container(self.name)
        if not (attributes.get("State") or {}).get("Running"):
            return False
        test = ((attributes.get("Config") or {}).get("Healthcheck") or {}).get("Test") or []
        if not test or test[0] == "NONE":
            return True
        argv = test[1:] if test[0] == "CMD" else ["/bin/sh", "-c", test[1]]
        return self.exec(argv)[0] == 0


class Job:
    """One scheduled collection with ``settings`` (the file registry_gc_schedule writes) on ``container``."""

    def __init__(self, settings: dict, container, clock=time.time, sleep=time.sleep) -> None:
        self.settings, self.container, self.clock, self.sleep = settings, container, clock, sleep
        self.window = False  # whether this run put the registry read-only (and so must put it back)

    def run(self) -> dict:
        """Collect, and record the run; what it did, as the JSON line it prints (``success``, ``error``...)."""
        result = {"started": int(self.clock()), "success": False, "deleted_blobs": 0, "deleted_manifests": 0,
                  "freed_bytes": 0, "deleted": [], "error": None}
        retention = self.settings.get("retention")
        if retention:
            result.update(retention_success=False, retention_deleted_manifests=0, retention_deleted=[])
        collected = False
        try:
            self._restore_if_interrupted()
            if retention:
                # Before the window: the deletes need the registry writable; the collection frees what they leave.
                self._retain(retention, result)
            self._enter_read_only()
            try:
                collected = self._collect(result)
            finally:
                self._leave_read_only()
            result["success"] = collected
        except Exception as exc:  # noqa: BLE001 - the run's record must say it failed, whatever failed
            result["error"] = str(exc) if isinstance(exc, (JobError, StorageError)) else traceback.format_exc()
        result["ended"] = int(self.clock())
        self._record(result)
        return result

    # --- the read-only window ---

    def _put_config(self, content: bytes) -> None:
        path = self.settings["config"]
        info = os.stat(path)
        replace(path, content, info.st_mode & 0o7777, info.st_uid, info.st_gid)

    def _restore_if_interrupted(self) -> None:
        saved = read(self.settings["saved_config"])
        if saved is not None:
            self._put_config(saved)
            self.container.restart()
            self._wait_ready("its own configuration, which an interrupted run left read-only")
            os.unlink(self.settings["saved_config"])

    def _enter_read_only(self) -> None:
        current = read(self.settings["config"])
        readonly = read(self.settings["readonly_config"])
        if current is None or readonly is None:
            raise JobError(f"{self.settings['config'] if current is None else self.settings['readonly_config']} is "
                           "missing: run the registry_server role again")
        self.window = current != readonly  # a registry read-only by its own configuration needs no window
        if not self.window:
            return
        replace(self.settings["saved_config"], current, 0o600)
        self._put_config(readonly)
        self.container.restart()
        self._wait_ready("read-only")

    def _leave_read_only(self) -> None:
        if not self.window:
            return
        self._put_config(read(self.settings["saved_config"]))
        self.container.restart()
        os.unlink(self.settings["saved_config"])
        self._wait_ready("its own configuration")

    def _wait_ready(self, what: str) -> None:
        deadline = self.clock() + float(self.settings.get("ready_timeout", 120))
        while not self.container.ready():
            if self.clock() > deadline:
                raise JobError(f"the registry container {self.settings['container']} did not answer its health "
                               f"check, {what}, within {self.settings.get('ready_timeout', 120)} s")
            self.sleep(1)

    # --- retention ---

    def _retain(self, retention: dict, result: dict) -> None:
        """Delete by digest what no rule keeps, through the registry container's loopback port with the proxy's
        internal account; each deletion goes into ``result`` as it happens. JobError where it fails."""
        deleted = result["retention_deleted"]
        try:
            rules = parse_rules(retention["rules"])
            credentials = self._internal_account(retention["account"])
            with RegistryClient(retention["registry"], timeout=int(retention.get("timeout", 60)),
                                credentials=credentials, loopback_http=True) as client:
                now = datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)
                applied = Retention(client, rules, now)
                applied.delete(applied.plan(), deleted)
        except (RetentionRuleError, RegistryError) as exc:
            result["retention_deleted_manifests"] = len(deleted)
            raise JobError(f"retention: {str(exc).rstrip('.')}. Deleted before it failed: {len(deleted)} "
                           "manifest(s); the garbage collection did not run") from None
        result.update(retention_success=True, retention_deleted_manifests=len(deleted))

    @staticmethod
    def _internal_account(path: str) -> Credentials:
        """The proxy's internal account, from the file registry_gc_schedule keeps for the job (``name:password``,
        root's alone)."""
        try:
            info = os.stat(path)
            content = read(path)
        except OSError as exc:
            raise JobError(f"retention: cannot read the registry account file {path}: {exc.strerror or exc}; run "
                           "the registry_server role again") from None
        if content is None:
            raise JobError(f"retention: the registry account file {path} is missing: run the registry_server role "
                           "again")
        if info.st_uid != os.geteuid() or info.st_mode & 0o077:
            raise JobError(f"retention: the registry account file {path} is readable by others than its owner, or "
                           f"owned by another user (mode {info.st_mode & 0o7777:04o}): nothing was deleted; run the "
                           "registry_server role again, which makes it 0600")
        name, separator, password = content.decode("utf-8", "replace").rstrip("\n").partition(":")
        if not separator or not name or not password:
            raise JobError(f"retention: the registry account file {path} does not hold name:password; run the "
                           "registry_server role again")
        return Credentials(name, password, f"the proxy's internal account in {path}")

    # --- the collection ---

    def _garbage_collect(self, dry_run: bool) -> str:
        argv = [REGISTRY, "garbage-collect"] + (["--dry-run"] if dry_run else []) + [self.settings["container_config"]]
        rc, output = self.container.exec(argv)
        if rc != 0 or summary_counts(output) is None:
            raise JobError(f"{' '.join(argv)} failed (exit {rc}): {output.strip()[-2000:]}")
        return output

    def _collect(self, result: dict) -> bool:
        listing_text = self._garbage_collect(dry_run=True)
        listing = parse_listing(listing_text)
        storage = Storage(self.settings["data_dir"])
        broken = endangered(storage, listing, [])
        if broken:
            raise JobError("the collection would break images that a tag points to: "
                           f"{'; '.join(entry['summary'] for entry in broken)}. Nothing was deleted.")
        freed = storage.blob_bytes(sorted(listing.blobs))
        if sum(summary_counts(listing_text)[1:]) == 0:
            return True
        counts = summary_counts(self._garbage_collect(dry_run=False))
        result.update(deleted_blobs=counts[1], deleted_manifests=counts[2], freed_bytes=freed,
                      deleted=sorted(listing.blobs | {digest for digests in listing.manifests.values()
                                                      for digest in digests}))
        return True

    def _record(self, result: dict) -> None:
        path = self.settings["record"]
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        metrics = gc_record(result["ended"], result["success"], result["deleted_blobs"], result["deleted_manifests"],
                            result["freed_bytes"])
        if "retention_success" in result:
            metrics += retention_record(result["retention_success"], result["retention_deleted_manifests"])
        current = (read(path) or b"").decode("utf-8", "replace")
        replace(path, render(metrics, self.settings.get("labels") or {}, current).encode(), 0o644)


def main(argv: list[str] | None = None) -> int:
    """Run the job with the settings file ``argv[0]``; print the run's JSON line; 0 when it succeeded."""
    argv = sys.argv[1:] if argv is None else argv
    with open(argv[0], encoding="utf-8") as settings_file:
        settings = json.load(settings_file)
    with open(settings["lock"], "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            sys.stdout.write(json.dumps({"started": int(time.time()),
                                         "skipped": "an earlier run still holds " + settings["lock"]}) + "\n")
            return 1
        error = ""
        try:
            container = Container(settings["container"], settings.get("timeout", 3600))
        except (DaemonError, *sdk_errors()) as exc:
            container = None
            error = f"the Docker daemon cannot be reached, or has no container {settings['container']}: {exc}"
        if container is None:
            result = {"started": int(time.time()), "ended": int(time.time()), "success": False, "deleted_blobs": 0,
                      "deleted_manifests": 0, "freed_bytes": 0, "error": error}
            Job(settings, None)._record(result)
        else:
            result = Job(settings, container).run()
    sys.stdout.write(json.dumps(result, sort_keys=True) + "\n")
    sys.stdout.flush()
    return 0 if result["success"] else 1
