"""The checks of playbooks/backup.yml and playbooks/restore.yml that run before anything changes, on the controller: a
bad variable is refused with its name, a backup whose archive was altered or a registry_pki_dir with another CA stop
the restore, and check mode says what a restore would bring back and changes nothing.

Each case is one ansible-playbook run on a local host of its own inventory (the entry points stop every host at the
first failed check); nothing here needs Docker. The backups are made up: backup.json and archives whose checksums it
gives, as playbooks/backup.yml writes them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
# The first play of playbooks/restore.yml that changes something, on its own.
RESTORE = """\
- name: Bring the backup back onto the registry host
  hosts: registry
  gather_facts: false
  tasks:
    - name: Restore the registry's storage, configuration and the collection's state
      ansible.builtin.include_role:
        name: dockyard.registry.registry_server
        tasks_from: restore
"""
CA = b"-----BEGIN CERTIFICATE-----\nbackup's CA\n-----END CERTIFICATE-----\n"


# The variables of a registry on a store of the user's own (registry_storage s3 without a group registry_store).
S3 = {"registry_storage": "s3", "registry_s3_endpoint": "https://s3.example.test:8333", "registry_s3_bucket": "mine",
      "registry_s3_access_key": "ACCESSKEY", "registry_s3_secret_key": "secret"}


def make_backup(directory: Path, storage: str = "filesystem") -> Path:
    """A backup's directory as playbooks/backup.yml leaves it (the archives' content does not matter here)."""
    directory.mkdir(parents=True)
    checksums = {}
    parts = ["bucket" if storage == "s3" else "storage", "config"]
    for name in (*parts, "controller"):
        content = f"$ANSIBLE_VAULT;1.1;AES256\n{name}\n".encode()
        (directory / f"{name}.tar.gz.vault").write_bytes(content)
        checksums[name] = hashlib.sha256(content).hexdigest()
    description = {"format": 1, "created": "2026-12-07T03:00:00+00:00", "host": "registry1", "storage": storage,
                   "parts": parts, "checksums": checksums, "ca_sha256": hashlib.sha256(CA).hexdigest(),
                   "images": ["team/app:1@sha256:" + "0" * 64]}
    if storage == "s3":
        description["bucket"] = {"name": "registry", "root_directory": "/registry", "objects": 1,
                                 "listing_sha256": hashlib.sha256(b"docker/registry/v2/x;1").hexdigest()}
    (directory / "backup.json").write_text(json.dumps(description))
    return directory


def run(tmp_path: Path, playbook: str, *extra: str, replicas: int = 1, **variables) -> subprocess.CompletedProcess:
    """``playbook`` of the collection on local registry hosts (registry2, and registry3... for ``replicas``) whose
    directories are under ``tmp_path``."""
    host = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "registry_pki_dir": str(tmp_path / "pki"), "registry_server_data_dir": str(tmp_path / "data"),
            "registry_server_config_dir": str(tmp_path / "etc"), "registry_server_tls_dir": str(tmp_path / "etc" / "tls"),
            "registry_pki_server_dir": str(tmp_path / "etc" / "tls")}
    names = [f"registry{index + 2}" for index in range(replicas)]
    inventory = tmp_path / "hosts.yml"
    groups = {"registry": {"hosts": dict.fromkeys(names, host)}, "docker_hosts": {"hosts": {"registry2": None}}}
    if replicas > 1:  # replicas share a blob descriptor cache (the host is never reached here)
        groups["registry_cache"] = {"hosts": {"cache1": {"ansible_connection": "local"}}}
    inventory.write_text(yaml.safe_dump({"all": {"children": groups}}))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_LOCALHOST_WARNING": "0"}
    env.pop("ANSIBLE_VAULT_PASSWORD_FILE", None)
    args = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(ROOT / "playbooks" / playbook), *extra,
            "-e", json.dumps(variables)]
    if playbook == "restore.yml":  # its entry point alone: the playbook runs the preflight and the engine role first
        (tmp_path / "restore.yml").write_text(RESTORE)
        args[3] = str(tmp_path / "restore.yml")
    return subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def said(result: subprocess.CompletedProcess) -> str:
    return " ".join((result.stdout + result.stderr).split())


def changed(result: subprocess.CompletedProcess) -> int:
    return sum(int(count) for count in re.findall(r"changed=(\d+)", result.stdout.rpartition("PLAY RECAP")[2]))


@pytest.fixture
def password(tmp_path) -> Path:
    path = tmp_path / "vault-password"
    path.write_text("a vault password\n")
    return path


@pytest.fixture
def backup(tmp_path) -> Path:
    return make_backup(tmp_path / "backups" / "registry1-20261207T030000Z")


def assert_refused(result: subprocess.CompletedProcess, message: str, tmp_path: Path) -> None:
    assert result.returncode != 0 and message in said(result), said(result)[-3000:]
    assert changed(result) == 0, result.stdout[-3000:]
    assert not (tmp_path / "data").exists() and not (tmp_path / "pki" / "ca.crt").exists()


def test_backup_refuses_a_relative_registry_backup_dir(tmp_path, password):
    result = run(tmp_path, "backup.yml", registry_backup_dir="backups", registry_backup_vault_password_file=str(password))
    assert_refused(result, 'registry_backup_dir must be the absolute path of a directory on the controller to keep '
                   'backups in (got "backups")', tmp_path)


def test_backup_refuses_to_run_without_a_vault_password_file(tmp_path):
    result = run(tmp_path, "backup.yml", registry_backup_dir=str(tmp_path / "backups"))
    assert_refused(result, "registry_backup_vault_password_file must name the controller's Ansible Vault password file",
                   tmp_path)


def test_backup_of_an_object_store_refuses_a_run_that_leaves_out_a_replica(tmp_path, password):
    result = run(tmp_path, "backup.yml", "--limit", "registry2", replicas=2, registry_backup_dir=str(tmp_path / "backups"),
                 registry_backup_vault_password_file=str(password), **S3)
    assert_refused(result, "The backup of replicas that share an object store needs every replica in the run, so that "
                   "none takes a push while the bucket is copied; this run leaves out registry3 (--limit). Nothing was "
                   "changed.", tmp_path)
    assert not (tmp_path / "backups").exists()


def test_backup_of_an_object_store_in_check_mode_says_what_it_would_copy_and_changes_nothing(tmp_path, password):
    (tmp_path / "pki").mkdir()
    result = run(tmp_path, "backup.yml", "--check", replicas=2, registry_backup_dir=str(tmp_path / "backups"),
                 registry_backup_vault_password_file=str(password), **S3)
    assert result.returncode == 0, said(result)[-3000:]
    # One replica copies the bucket (the first of the run): one backup.
    assert said(result).count("Would back up") == 1, said(result)[-3000:]
    assert (f"Would back up bucket mine (mine/registry, with rclone, every replica read-only), {tmp_path}/etc (its tags "
            f"listed in the copy) and {tmp_path}/pki on the controller, encrypted, into {tmp_path}/backups."
            in said(result)), said(result)[-3000:]
    assert not (tmp_path / "backups").exists()


def test_restore_refuses_a_directory_without_a_backup(tmp_path, password):
    result = run(tmp_path, "restore.yml", registry_restore_from=str(tmp_path),
                 registry_backup_vault_password_file=str(password))
    assert_refused(result, f'registry_restore_from is "{tmp_path}", which holds no backup.json on the controller', tmp_path)


def test_restore_refuses_an_archive_altered_since_the_backup(tmp_path, password, backup):
    (backup / "storage.tar.gz.vault").write_bytes(b"$ANSIBLE_VAULT;1.1;AES256\naltered\n")
    result = run(tmp_path, "restore.yml", registry_restore_from=str(backup),
                 registry_backup_vault_password_file=str(password))
    assert_refused(result, "Archives of registry_restore_from missing or not as backed up (checksum): "
                   f"{backup}/storage.tar.gz.vault. Nothing was changed.", tmp_path)


def test_restore_refuses_a_registry_pki_dir_with_another_ca(tmp_path, password, backup):
    (tmp_path / "pki").mkdir()
    (tmp_path / "pki" / "ca.crt").write_bytes(CA.replace(b"backup's", b"another"))
    result = run(tmp_path, "restore.yml", registry_restore_from=str(backup),
                 registry_backup_vault_password_file=str(password))
    assert result.returncode != 0 and changed(result) == 0, said(result)[-3000:]
    assert f"registry_pki_dir ({tmp_path}/pki) holds a CA other than the one backed up" in said(result)
    assert not (tmp_path / "data").exists()


def test_restore_refuses_a_missing_password_file(tmp_path, backup):
    result = run(tmp_path, "restore.yml", registry_restore_from=str(backup),
                 registry_backup_vault_password_file=str(tmp_path / "nowhere"))
    assert_refused(result, "registry_backup_vault_password_file must name the Ansible Vault password file the backup "
                   f'was encrypted with (got "{tmp_path}/nowhere")', tmp_path)


def test_restore_in_check_mode_says_what_it_would_bring_back_and_changes_nothing(tmp_path, password, backup):
    result = run(tmp_path, "restore.yml", "--check",
                 registry_restore_from=str(backup), registry_backup_vault_password_file=str(password))
    assert f"Would restore controller, storage, config from {backup}." in said(result), said(result)[-3000:]
    assert not (tmp_path / "data").exists() and not (tmp_path / "pki" / "ca.crt").exists()


def test_backup_in_check_mode_says_what_it_would_take_and_changes_nothing(tmp_path, password):
    (tmp_path / "pki").mkdir()
    result = run(tmp_path, "backup.yml", "--check", registry_backup_dir=str(tmp_path / "backups"),
                 registry_backup_vault_password_file=str(password))
    assert result.returncode == 0, said(result)[-3000:]
    assert (f"Would back up {tmp_path}/data, {tmp_path}/etc (0 tags) and {tmp_path}/pki on the controller, encrypted, "
            f"into {tmp_path}/backups." in said(result)), said(result)[-3000:]
    assert not (tmp_path / "backups").exists()


def test_restore_refuses_a_backup_of_another_storage_naming_registry_storage(tmp_path, password, backup):
    result = run(tmp_path, "restore.yml", registry_restore_from=str(backup),
                 registry_backup_vault_password_file=str(password), **S3)
    assert_refused(result, f"The backup in {backup} (registry_restore_from) is not one of s3 storage (registry_storage) in "
                   "the format of the dockyard.registry.backup playbook: it is one of filesystem storage.", tmp_path)


def test_restore_of_an_object_store_refuses_a_run_that_leaves_out_a_replica(tmp_path, password):
    backup = make_backup(tmp_path / "backups" / "registry1-20261207T030000Z", storage="s3")
    result = run(tmp_path, "restore.yml", "--limit", "registry2", replicas=2, registry_restore_from=str(backup),
                 registry_backup_vault_password_file=str(password), **S3)
    assert_refused(result, "A restore of replicas that share an object store needs every replica in the run; this run "
                   'leaves out registry3 (--limit). registry_storage is "s3". Nothing was changed.', tmp_path)


def test_restore_of_an_object_store_in_check_mode_brings_the_controllers_state_back_once(tmp_path, password):
    backup = make_backup(tmp_path / "backups" / "registry1-20261207T030000Z", storage="s3")
    result = run(tmp_path, "restore.yml", "--check", replicas=2, registry_restore_from=str(backup),
                 registry_backup_vault_password_file=str(password), **S3)
    assert result.returncode == 0, said(result)[-3000:]
    # The bucket is the next play's (once the object store runs); the replicas get their configuration each.
    assert f"registry2] => msg: Would restore controller, config from {backup}." in said(result), said(result)[-3000:]
    assert f"registry3] => msg: Would restore config from {backup}." in said(result), said(result)[-3000:]
    assert not (tmp_path / "etc").exists() and not (tmp_path / "pki" / "ca.crt").exists()
