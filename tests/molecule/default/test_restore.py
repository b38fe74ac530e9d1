"""Backup and restore onto a fresh host: ``playbooks/backup.yml`` takes the registry host's storage, configuration and
TLS directory and the controller's state (the CA, its key, the secrets made for the registry), encrypted with Ansible
Vault; ``playbooks/restore.yml`` brings them onto node2, a Docker host that runs no registry, through a copy of the
scenario's inventory whose group ``registry`` is node2 and whose ``registry_pki_dir`` starts empty, as after the loss
of the registry host and of the controller's state. Every tag the backup listed then pulls by digest from node2,
through node2's own address and certificate, and the daemon records the digest the registry had.
"""

from __future__ import annotations

import json
import os
import secrets
import stat
import subprocess
from pathlib import Path

import pytest
import yaml
from conftest import assert_pulls_by_digest, backed_up_images, pullable, recap_changed

PLAYBOOKS = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", ".")) / "playbooks"


@pytest.fixture(scope="module")
def backup(fleet, pushed_image, tmp_path_factory) -> Path:
    """The directory of one backup of the scenario's registry host, made with a Vault password of the test's own."""
    root = tmp_path_factory.mktemp("backup")
    password = root / "vault-password"
    password.write_text(secrets.token_hex(24) + "\n")
    password.chmod(0o600)
    run = fleet.ansible_playbook(PLAYBOOKS / "backup.yml", extra_vars={
        "registry_backup_dir": str(root / "backups"), "registry_backup_vault_password_file": str(password)})
    assert run.returncode == 0, run.stdout[-6000:] + run.stderr[-2000:]
    made = list((root / "backups").iterdir())
    assert len(made) == 1 and made[0].name.startswith(f"{fleet.registry}-"), made
    return made[0]


@pytest.fixture(scope="module")
def restore_inventory(fleet, tmp_path_factory) -> Path:
    """The scenario's inventory with node2 as its only registry host and Docker host, beside the scenario's own secrets
    (the accounts' passwords and the CA's passphrase, which a fleet keeps in its vault) and an empty controller state."""
    site = tmp_path_factory.mktemp("restored-site")
    inventory = site / "inventory"
    subprocess.run(["cp", "-rL", str(fleet.inventory), str(inventory)], check=True)
    (site / "credentials").symlink_to(fleet.inventory.parent / "credentials")
    hosts_file = inventory / "ansible_inventory.yml"
    hosts = yaml.safe_load(hosts_file.read_text())
    # The old registry host out of every group: it is lost. (Its name is also a group's, which a play's pattern
    # would match as a host too.)
    for group in hosts.values():
        (group.get("hosts") or {}).pop(fleet.registry, None)
    for group in ("registry", "docker_hosts"):
        hosts[group]["hosts"] = {fleet.puller: None}
    hosts_file.write_text(yaml.safe_dump(hosts))
    return inventory


@pytest.fixture(scope="module")
def restores(fleet, backup, restore_inventory) -> list[subprocess.CompletedProcess]:
    """playbooks/restore.yml run twice onto node2, pulling every image by digest there."""
    extra_vars = {"registry_restore_from": str(backup),
                  "registry_backup_vault_password_file": str(backup.parent.parent / "vault-password"),
                  "registry_restore_verify": "pull",
                  # The new host's own names: the scenario's alias names the old registry host.
                  "registry_names": []}
    runs = []
    for _attempt in range(2):
        run = fleet.ansible_playbook(PLAYBOOKS / "restore.yml", inventory=restore_inventory, extra_vars=extra_vars,
                                     timeout=1200)
        assert run.returncode == 0, run.stdout[-8000:] + run.stderr[-2000:]
        runs.append(run)
    return runs


def test_backup_is_encrypted_private_and_lists_every_tag(fleet, backup, pushed_image):
    description = json.loads((backup / "backup.json").read_text())
    assert f"{pushed_image.repository}:{pushed_image.tag}@{pushed_image.digest}" in description["images"], description
    assert len(backed_up_images(backup)) == len(description["images"]), description["images"]
    files = sorted(path.name for path in backup.iterdir())
    assert files == ["backup.json", "config.tar.gz.vault", "controller.tar.gz.vault", "storage.tar.gz.vault"], files
    assert stat.S_IMODE(backup.stat().st_mode) == 0o700
    for path in backup.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, f"{path.name}: {oct(path.stat().st_mode)}"
        if path.suffix == ".vault":
            assert path.read_bytes().startswith(b"$ANSIBLE_VAULT;1.1;AES256\n"), path.name
    # The CA's key never leaves the controller unencrypted: not even a passphrase-protected PEM in the clear.
    assert b"PRIVATE KEY" not in b"".join(path.read_bytes() for path in backup.iterdir())


def test_restore_brings_back_the_controllers_state(fleet, restores, restore_inventory):
    restored_pki = restore_inventory.parent / "pki"
    assert (restored_pki / "ca.crt").read_bytes() == fleet.ca_pem
    assert (restored_pki / "secrets" / "http-secret").read_text() == (
        fleet.pki_dir / "secrets" / "http-secret").read_text()


def test_every_backed_up_image_pulls_by_digest_from_the_restored_host(fleet, backup, restores, pushed_image):
    images = backed_up_images(backup)
    assert pushed_image.digest in {image.digest for image in images}
    address = f"{fleet.ips(fleet.puller)[0]}:{fleet.port}"
    said = " ".join(restores[0].stdout.split())
    assert f"{len(images)} of {len(images)} tags of the backup verified through {address} (pull)" in said, said[-3000:]
    for image in pullable(images):
        assert_pulls_by_digest(fleet, fleet.puller, address, image)


def test_a_second_restore_changes_nothing(restores):
    changed = recap_changed(restores[1])
    assert changed and all(count == 0 for count in changed.values()), restores[1].stdout[-6000:]
