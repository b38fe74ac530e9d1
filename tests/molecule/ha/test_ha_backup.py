"""Backup and restore of replicas on an object store: ``playbooks/backup.yml`` makes every replica read-only, copies the
bucket's root directory with rclone on the first replica and returns them, the copy encrypted with Ansible Vault beside
the configuration and the controller's state. ``playbooks/restore.yml`` refuses the bucket while it holds an image
pushed after the backup, before anything changes; once the bucket is wiped it fills it from the backup, every tag of the
backup pulls by digest and verifies through each replica, the image pushed after the backup is gone, and a second
restore changes nothing.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
import uuid
from pathlib import Path

import pytest
from conftest import assert_pulls_by_digest, backed_up_images, pullable, push_new_image, recap_changed, run_ok

PLAYBOOKS = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / "playbooks"
REGISTRY_CONTAINER = "dockyard-registry"
# The registry's bucket and root directory in the scenario (the collection's defaults), as rclone names them.
REMOTE = "store:registry/registry"
STORE_CA = "/etc/dockyard/registry/tls/ca.crt"  # the replica's copy of the CA bundle (registry_server_tls_dir)


def secret(fleet, name: str) -> str:
    return (fleet.pki_dir / "secrets" / name).read_text().split()[0]


def rclone(fleet, replica: str, *args: str, tmp_path: Path) -> subprocess.CompletedProcess:
    """rclone on ``replica`` (the backup installed it there) with a configuration of the test's own for the registry's
    bucket: the registry's keys in a 0600 file copied in with ``docker cp`` and removed afterwards."""
    store = fleet.group("registry_store")[0]
    config = tmp_path / f"rclone-{uuid.uuid4().hex[:8]}.conf"
    config.write_text("[store]\ntype = s3\nprovider = Other\n"
                      f"access_key_id = {secret(fleet, 's3-access-key')}\n"
                      f"secret_access_key = {secret(fleet, 's3-secret-key')}\n"
                      f"endpoint = https://{fleet.variables(store)['registry_store_address']}:8333\n"
                      "region = us-east-1\nforce_path_style = true\n")
    config.chmod(0o600)
    inside = f"/root/{config.name}"
    container = fleet.container(replica)
    subprocess.run(["docker", "cp", str(config), f"{container}:{inside}"], check=True, capture_output=True)
    try:
        return subprocess.run(["docker", "exec", container, "rclone", "--config", inside, "--ca-cert", STORE_CA, *args],
                              check=False, capture_output=True, text=True, timeout=300)
    finally:
        subprocess.run(["docker", "exec", container, "rm", "-f", inside], check=False, capture_output=True)
        config.unlink()


def objects(fleet, replica: str, remote: str, *, tmp_path: Path) -> list[str]:
    """The objects under ``remote`` as the backup sees them: listed, then each asked for by its key (a listed object the
    store answers as absent is not there: SeaweedFS's filers can go on listing an object deleted where its key lives)."""
    listed = rclone(fleet, replica, "lsf", "--recursive", "--files-only", remote, tmp_path=tmp_path)
    assert listed.returncode in (0, 3), listed.stderr[-2000:]
    if not listed.stdout.strip():
        return []
    keys = tmp_path / f"listed-{uuid.uuid4().hex[:8]}"
    keys.write_text(listed.stdout)
    inside = f"/root/{keys.name}"
    container = fleet.container(replica)
    subprocess.run(["docker", "cp", str(keys), f"{container}:{inside}"], check=True, capture_output=True)
    try:
        present = rclone(fleet, replica, "lsf", "--recursive", "--files-only", "--no-traverse", "--files-from-raw", inside,
                         remote, tmp_path=tmp_path)
    finally:
        subprocess.run(["docker", "exec", container, "rm", "-f", inside], check=False, capture_output=True)
        keys.unlink()
    assert present.returncode == 0, present.stderr[-2000:]
    assert set(present.stdout.splitlines()) <= set(listed.stdout.splitlines()), present.stdout[-2000:]
    return sorted(present.stdout.splitlines())


def container_ids(fleet) -> dict[str, str]:
    return {replica: run_ok(fleet.host(replica), "docker inspect --format {{.Id}} %s", REGISTRY_CONTAINER).strip()
            for replica in fleet.group("registry")}


@pytest.fixture(scope="module")
def vault_password(tmp_path_factory) -> Path:
    password = tmp_path_factory.mktemp("vault") / "vault-password"
    password.write_text(secrets.token_hex(24) + "\n")
    password.chmod(0o600)
    return password


@pytest.fixture(scope="module")
def backup(fleet, pushed_image, vault_password, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    """One backup of the replicas (the directory, and the run that made it)."""
    root = tmp_path_factory.mktemp("backups")
    run = fleet.ansible_playbook(PLAYBOOKS / "backup.yml", extra_vars={
        "registry_backup_dir": str(root), "registry_backup_vault_password_file": str(vault_password)})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    made = list(root.iterdir())
    assert len(made) == 1 and made[0].name.startswith(f"{fleet.group('registry')[0]}-"), made
    return made[0], run


def restore(fleet, backup: Path, vault_password: Path, verify: str) -> subprocess.CompletedProcess:
    return fleet.ansible_playbook(PLAYBOOKS / "restore.yml", timeout=1200, extra_vars={
        "registry_restore_from": str(backup), "registry_backup_vault_password_file": str(vault_password),
        "registry_restore_verify": verify})


def test_backup_copies_the_bucket_encrypted_and_lists_every_tag_without_a_key_in_sight(fleet, backup, pushed_image):
    directory, run = backup
    description = json.loads((directory / "backup.json").read_text())
    assert description["storage"] == "s3" and description["parts"] == ["bucket", "config"], description
    assert description["bucket"]["name"] == "registry" and description["bucket"]["objects"] > 0, description["bucket"]
    # Objects the store listed but answered as absent when asked for by key: left out of the copy, and named.
    absent = description["bucket"]["listed_absent"]
    # Tags whose manifest revision the store answered as absent: the registry could not serve them; not verified.
    unreadable = description["bucket"]["unreadable_tags"]
    print(f"\n[ha] backup: {description['bucket']['objects']} objects copied, {len(absent)} listed but absent: "
          f"{absent[:5]}; tags left out: {unreadable}")
    assert isinstance(absent, list) and isinstance(unreadable, list), description["bucket"]
    assert not set(unreadable) & set(description["images"]), description
    assert f"{pushed_image.repository}:{pushed_image.tag}@{pushed_image.digest}" in description["images"]
    assert len(backed_up_images(directory)) == len(description["images"]), description["images"]
    files = sorted(path.name for path in directory.iterdir())
    assert files == ["backup.json", "bucket.tar.gz.vault", "config.tar.gz.vault", "controller.tar.gz.vault"], files
    for path in directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name}: {oct(path.stat().st_mode)}"
        if path.suffix == ".vault":
            assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256\n"), path.name
    key = secret(fleet, "s3-secret-key").encode()
    assert key not in (run.stdout + run.stderr).encode(), "the S3 secret key is in the backup's output"
    assert key not in b"".join(path.read_bytes() for path in directory.iterdir())
    # Every replica went read-only and back (one at a time), and nothing of the copy stays on the copying replica.
    assert run.stdout.count("Return the registry to its own mode") >= 1, run.stdout[-4000:]
    left = run_ok(fleet.host(fleet.group("registry")[0]), "ls -A /var/tmp")
    assert "dockyard-backup-" not in left, left


@pytest.fixture(scope="module")
def pushed_after_backup(fleet, backup):
    """An image pushed once the backup is taken: the bucket then holds more than the backup (and takes pushes again)."""
    result = push_new_image(fleet, "dockyard/after-backup", uuid.uuid4().hex[:12], f"after the backup {uuid.uuid4()}\n")
    assert result.get("changed") is True and str(result.get("digest", "")).startswith("sha256:"), result
    return result["digest"]


def test_a_restore_into_a_bucket_that_holds_anything_else_is_refused_before_anything_changes(
        fleet, backup, vault_password, pushed_after_backup):
    before = container_ids(fleet)
    run = restore(fleet, backup[0], vault_password, "none")
    said = " ".join((run.stdout + run.stderr).split())
    assert run.returncode != 0, said[-4000:]
    assert 'registry_s3_bucket "registry" holds' in said and 'under registry_s3_root_directory "/registry" that are not ' \
        "the backup's" in said and "Nothing was changed." in said, said[-4000:]
    changed = recap_changed(run)
    assert changed and all(count == 0 for count in changed.values()), run.stdout[-4000:]
    assert container_ids(fleet) == before


@pytest.fixture(scope="module")
def restores(fleet, backup, vault_password, pushed_after_backup, tmp_path_factory) -> list[subprocess.CompletedProcess]:
    """The bucket wiped (as a lost store's would be), then playbooks/restore.yml twice: pulling every tag by digest on
    the first Docker host, then verifying nothing."""
    tmp_path = tmp_path_factory.mktemp("rclone")
    replica = fleet.group("registry")[0]
    wiped = rclone(fleet, replica, "delete", REMOTE, tmp_path=tmp_path)
    assert wiped.returncode == 0, wiped.stderr[-2000:]
    left = objects(fleet, replica, REMOTE, tmp_path=tmp_path)
    assert left == [], left[:20]
    runs = []
    for verify in ("pull", "none"):
        run = restore(fleet, backup[0], vault_password, verify)
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
        runs.append(run)
    return runs


def test_every_backed_up_image_pulls_by_digest_from_the_refilled_bucket(fleet, backup, restores, pushed_image,
                                                                        tmp_path):
    images = backed_up_images(backup[0])
    said = " ".join(restores[0].stdout.split())
    assert "registry_s3_bucket registry is empty: it is filled from the backup." in said, said[-4000:]
    # Each replica's run verifies through the load balancer's address, from the first Docker host.
    address = f"{fleet.ips(fleet.balancers[0])[0]}:{fleet.port}"
    verified = f"{len(images)} of {len(images)} tags of the backup verified through {address} (pull)"
    assert said.count(verified) == len(fleet.group("registry")), said[-4000:]
    # Through the load balancer, on the other Docker host.
    for image in pullable(images):
        assert_pulls_by_digest(fleet, fleet.puller, fleet.address, image)
    # What was pushed after the backup is not in the bucket: it holds the backup, nothing else. (SeaweedFS keeps the
    # emptied directory, which lists as a prefix: the files are what count.)
    files = objects(fleet, fleet.group("registry")[0], f"{REMOTE}/docker/registry/v2/repositories/dockyard",
                    tmp_path=tmp_path)
    assert any(path.startswith("fleet-test/") for path in files), files
    assert not [path for path in files if path.startswith("after-backup/")], files


def test_a_second_restore_changes_nothing(restores):
    said = " ".join(restores[1].stdout.split())
    assert "registry_s3_bucket registry holds the backup already: kept as it is." in said, said[-4000:]
    changed = recap_changed(restores[1])
    assert changed and all(count == 0 for count in changed.values()), restores[1].stdout[-6000:]
