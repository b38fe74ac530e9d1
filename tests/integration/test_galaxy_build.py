"""The collection as Galaxy users get it: built into a tarball, installed, and run from the installed copy only.

The tarball is built from a copy of the checkout into which everything a build must leave out has been
planted (virtualenv, caches, a CA key, test output...), so the test does not depend on what happens to
lie around in the checkout. The installed copy runs against the real daemon and the site's registry.
"""

from __future__ import annotations

import contextlib
import filecmp
import os
import re
import shutil
import subprocess
import sys
import tarfile
import uuid
from pathlib import Path, PurePosixPath

import docker
import pytest
import yaml

from support import LOCAL_CREDENTIALS, ROOT, PlaybookRun, local_account

BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))

# What the build must leave out, planted into the copy it is built from (path -> content; None: a symlink
# like the one `make venv` makes).
PLANTED = {
    ".venv/pyvenv.cfg": "home = /usr/bin\n",
    ".venv/bin/python": "",
    ".collections/ansible_collections/dockyard/registry": None,
    ".cache/pip/selfcheck.json": "{}",
    ".ansible/collections/README": "",
    ".pytest_cache/v/cache/nodeids": "[]",
    ".ruff_cache/CACHEDIR.TAG": "",
    "plugins/modules/__pycache__/registry_image.cpython-311.pyc": "",
    "plugins/filter/registry.pyc": "",
    "inventories/local/pki/ca.key": "-----BEGIN PRIVATE KEY-----\n",
    "inventories/example/pki/servers/registry1.example.com.crt": "",
    "inventories/local/credentials/registry-admin": "not-a-real-password\n",
    "docs/build/html/index.html": "<html></html>",
    "docs/build/screenshots/index.png": "",
    "context/Containerfile": "",
    "tests/output/.tmp/sanity/venv": "",
    "molecule/default/molecule.yml": "---\n",
    "bench/output/result.json": "{}",
    "changelogs/.plugin-cache.yaml": "---\n",
    "dockyard-registry-0.0.1.tar.gz": "",
}
# Nothing in the tarball may match these (the planted files, and whatever else is of their kind).
UNWANTED = re.compile(
    r"^(\.[^/]+|tests|molecule|bench|scripts)(/|$)"  # dot-directories and dot-files, tests, dev tooling
    r"|(^|/)__pycache__(/|$)|\.pyc$"  # byte code
    r"|^inventories/[^/]+/(pki|credentials)(/|$)|\.key$"  # the controller's PKI and passwords, any private key
    r"|^docs/(build|sphinx)(/|$)|^context(/|$)"  # the documentation build, an execution environment's build context
    r"|\.tar\.gz$|^changelogs/\.plugin-cache\.yaml$"
    r"|^(Makefile|ruff\.toml|ansible\.cfg|requirements-(test|docs)\.txt|execution-environment\.yml)$"
)


def collection_files() -> list[str]:
    """What the collection is made of: tracked files that exist, and new files .gitignore does not exclude."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=ROOT,
                            check=True, capture_output=True, text=True).stdout.split("\0")
    return sorted({path for path in listed if path and (ROOT / path).is_file()})


def run(*args: str, env: dict | None = None, cwd: Path = ROOT) -> PlaybookRun:
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    return PlaybookRun([str(a) for a in args], proc.returncode, proc.stdout + proc.stderr)


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    source = tmp_path_factory.mktemp("source") / "registry"
    for path in collection_files():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / path, source / path)
    for path, content in PLANTED.items():
        (source / path).parent.mkdir(parents=True, exist_ok=True)
        if content is None:
            (source / path).symlink_to("../../..")
        else:
            (source / path).write_text(content)
    output = tmp_path_factory.mktemp("dist")
    build = run(BIN / "ansible-galaxy", "collection", "build", "--output-path", output, source)
    assert build.returncode == 0, str(build)
    return output / TARBALL


@pytest.fixture(scope="module")
def tarball_members(tarball) -> list[str]:
    with tarfile.open(tarball) as archive:
        return [PurePosixPath(member.name).as_posix() for member in archive.getmembers()]


@pytest.fixture(scope="module")
def installed(tarball, tmp_path_factory) -> Path:
    """An empty collections path with the tarball installed into it (dependencies come with `ansible`)."""
    collections = tmp_path_factory.mktemp("collections")
    install = run(BIN / "ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", collections, tarball,
                  env=isolated_env(collections))
    assert install.returncode == 0, str(install)
    return collections


def isolated_env(collections: Path, config: Path | None = None) -> dict:
    """Ansible sees the collections in ``collections`` and the `ansible` package's own, never the checkout."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("ANSIBLE_") and key != "PYTHONPATH"}
    env.update(ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    if config is not None:
        env["ANSIBLE_CONFIG"] = str(config)
    return env


def test_tarball_leaves_out_tests_caches_virtualenvs_docs_build_and_secrets(tarball_members):
    unwanted = [name for name in tarball_members if UNWANTED.search(name)]
    assert unwanted == []


def test_tarball_has_what_users_need(tarball_members):
    members = set(tarball_members)
    wanted = {"MANIFEST.json", "FILES.json", "README.md", "CHANGELOG.md", "changelogs/changelog.yaml",
              "meta/runtime.yml", "plugins/modules/registry_image.py", "plugins/filter/registry.py",
              "plugins/test/registry.py", "playbooks/site.yml", "inventories/example/hosts.yml",
              "inventories/example/group_vars/all.yml", "requirements.yml",
              # What an execution environment takes from the collection.
              "meta/execution-environment.yml", "requirements.txt", "bindep.txt"}
    wanted |= {f"roles/{role}/{part}" for role in ROLES
               for part in ("tasks/main.yml", "defaults/main.yml", "meta/main.yml", "meta/argument_specs.yml")}
    wanted |= {f"plugins/filter/{name}.yml"
               for name in ("name_problems", "san_entries", "client_addresses", "missing_names")}
    assert wanted - members == set()


def test_installed_collection_is_the_only_one_found(installed):
    listing = run(BIN / "ansible-galaxy", "collection", "list", "dockyard.registry", env=isolated_env(installed),
                  cwd=installed)
    assert listing.returncode == 0, str(listing)
    assert f"# {installed / 'ansible_collections'}" in listing.output
    assert len(re.findall(r"^dockyard\.registry\s+" + re.escape(GALAXY["version"]), listing.output, re.MULTILINE)) == 1
    assert ".collections" not in listing.output


PLAYBOOK = """\
- name: Use the installed dockyard.registry by FQCN
  hosts: docker_hosts
  gather_facts: false
  tasks:
    - name: Check the filters and the test
      ansible.builtin.assert:
        that:
          - "['Registry.Example.com', '10.0.0.5', 'registry.example.com'] | dockyard.registry.san_entries
             == ['DNS:registry.example.com', 'IP:10.0.0.5']"
          - "['DNS:r.example.com', 'IP:127.0.0.1', 'IP:10.0.0.5'] | dockyard.registry.client_addresses(5000)
             == ['r.example.com:5000', '10.0.0.5:5000']"
          - "['r.example.com', 'r.example.com:5000'] | dockyard.registry.name_problems | length == 1"
          - "['DNS:r.example.com'] | dockyard.registry.missing_names(['R.example.com', '10.0.0.6']) == ['10.0.0.6']"
          - "'r.example.com:5000/team/app:1.0' is dockyard.registry.image_reference"
          - "'Team/App' is not dockyard.registry.image_reference"

    - name: Check the variables as the site's preflight does
      ansible.builtin.include_role:
        name: "{{ item }}"
        tasks_from: validate
      loop:
        - dockyard.registry.registry_pki
        - dockyard.registry.registry_server

    - name: Leave the running Docker daemon alone
      ansible.builtin.include_role:
        name: dockyard.registry.docker_engine

    - name: Check that the docker_engine role found the daemon
      ansible.builtin.assert:
        that: __docker_engine_running

    - name: Trust the registry in a scratch certs.d
      ansible.builtin.include_role:
        name: dockyard.registry.registry_trust

    - name: Push the test image with the push account (the host's stored login only pulls)
      dockyard.registry.registry_image:
        name: "{{ test_image_name }}"
        source: "{{ test_image_source }}"
        username: "{{ test_push_account[0] }}"
        password: "{{ test_push_account[1] }}"
      register: _pushed

    - name: Verify it by the digest the push returned
      dockyard.registry.registry_image:
        name: "{{ test_image_name }}"
        state: verified
        digest: "{{ _pushed.digest }}"
"""


def test_installed_collection_runs_roles_modules_and_filters(installed, registry, image, daemon, tmp_path):
    pki = ROOT / "inventories" / "local" / "pki"
    certs_d = tmp_path / "certs.d"
    name = f"{registry.address}/test/galaxy-{uuid.uuid4().hex[:12]}:1"
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {
        "children": {"registry": {"hosts": {"dockyard-local": None}},
                     "docker_hosts": {"hosts": {"dockyard-local": None}}},
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "registry_pki_dir": str(pki), "registry_trust_certs_dir": str(certs_d),
                 # The site's CA and account, with the passphrase and password the local inventory made for them.
                 "registry_pki_ca_passphrase": (LOCAL_CREDENTIALS / "ca-passphrase").read_text().strip(),
                 "registry_users": [{"name": user, "password": secret, "role": role}
                                    for (user, secret), role in ((local_account("dockyard"), "pull"),
                                                                 (local_account("ci"), "push"))],
                 "test_push_account": list(local_account("ci")),
                 "test_image_name": name, "test_image_source": image.id}}}))
    (tmp_path / "playbook.yml").write_text(PLAYBOOK)
    (tmp_path / "ansible.cfg").write_text("[defaults]\nstdout_callback = ansible.builtin.default\n")
    env = isolated_env(installed, config=tmp_path / "ansible.cfg")
    args = (BIN / "ansible-playbook", "-vvv", "-i", tmp_path / "hosts.yml", tmp_path / "playbook.yml")
    try:
        first = run(*args, env=env, cwd=tmp_path)
        assert first.returncode == 0, str(first)
        second = run(*args, env=env, cwd=tmp_path)
        assert second.returncode == 0, str(second)
    finally:
        with contextlib.suppress(docker.errors.ImageNotFound):
            daemon.images.remove(name)

    # From the installed copy, and from nowhere else.
    copy = installed / "ansible_collections" / "dockyard" / "registry"
    assert f"task path: {copy}/roles/registry_trust/tasks/" in first.output
    assert f"Using module file {copy}/plugins/modules/registry_image.py" in first.output
    for elsewhere in (f"{ROOT}/roles", f"{ROOT}/plugins", f"{ROOT}/.collections"):
        assert elsewhere not in first.output + second.output

    # Real outcomes: the CA in the scratch certs.d for the address the registry is used by; pushed, then nothing to do.
    assert filecmp.cmp(certs_d / registry.address / "ca.crt", pki / "ca.crt", shallow=False)
    assert first.changed > 0
    assert second.changed == 0, str(second)
