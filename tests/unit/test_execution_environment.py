"""The execution environment: the build context ansible-builder makes of execution-environment.yml, and what an image
build from it installs for the collection.

The image build installs the collection from its tarball and then runs ansible-builder's introspection on the
installed collections to collect their Python and system requirements. The tests do the same with the tarball built
from this checkout and the introspection script of the generated context. Building the image itself needs the base
image, which cannot be pulled here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from bindep.depends import Depends
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
COLLECTION = f"{GALAXY['namespace']}.{GALAXY['name']}"
TARBALL = f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
DEFINITION = yaml.safe_load((ROOT / "execution-environment.yml").read_text())
META = yaml.safe_load((ROOT / "meta" / "execution-environment.yml").read_text())
# Left to the execution environment's own definition: ansible-builder drops them from collection requirements.
PROVIDED_BY_THE_DEFINITION = {"ansible", "ansible-core"}


def requirement_lines(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text().splitlines() if line.strip() and not line.startswith("#")]


def run(*args, cwd: Path) -> str:
    """A command away from the checkout's ansible.cfg, which links the checkout in as the collection."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    proc = subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(str(a) for a in args)} (exit {proc.returncode}):\n{proc.stdout}{proc.stderr}"
    return proc.stdout


@pytest.fixture(scope="module")
def tarball(tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("dist")
    run(BIN / "ansible-galaxy", "collection", "build", "--output-path", output, ROOT, cwd=output)
    return output / TARBALL


@pytest.fixture(scope="module")
def context(tarball, tmp_path_factory) -> Path:
    """``ansible-builder create`` of the definition, beside the tarball as the README says to build it."""
    source = tmp_path_factory.mktemp("ee")
    for name in ("execution-environment.yml", DEFINITION["dependencies"]["galaxy"]):
        shutil.copy2(ROOT / name, source / name)
    shutil.copy2(tarball, source / tarball.name)
    context = source / "context"
    run(BIN / "ansible-builder", "create", "--file", "execution-environment.yml", "--context", context,
        "--output-filename", "Containerfile", cwd=source)
    return context


@pytest.fixture(scope="module")
def introspected(context, tarball, tmp_path_factory) -> dict[str, list[str]]:
    """The requirements that the image build collects from the collection installed from its tarball."""
    collections = tmp_path_factory.mktemp("collections")
    run(BIN / "ansible-galaxy", "collection", "install", "--offline", "--no-deps", "-p", collections, tarball,
        cwd=collections)
    assert (collections / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"] / "MANIFEST.json").is_file()
    pip, system = collections / "requirements.txt", collections / "bindep.txt"
    run(sys.executable, context / "_build" / "scripts" / "introspect.py", "introspect", collections,
        f"--write-pip={pip}", f"--write-bindep={system}", cwd=collections)
    return {"python": requirement_lines(pip), "system": requirement_lines(system)}


def test_collection_metadata_names_requirements_and_bindep():
    assert META["dependencies"] == {"python": "requirements.txt", "system": "bindep.txt"}


def test_context_installs_the_checkouts_tarball_and_the_galaxy_dependencies(context, tarball):
    assert (context / "_build" / "collections" / tarball.name).read_bytes() == tarball.read_bytes()
    galaxy = yaml.safe_load((context / "_build" / "requirements.yml").read_text())
    assert galaxy == yaml.safe_load((ROOT / "requirements.yml").read_text())
    assert {c["name"] for c in galaxy["collections"]} == set(GALAXY["dependencies"])
    containerfile = (context / "Containerfile").read_text()
    assert f'ARG EE_BASE_IMAGE="{DEFINITION["images"]["base_image"]["name"]}"' in containerfile
    install = "ansible-galaxy collection install --offline --no-deps --collections-path /usr/share/ansible/collections"
    assert f"RUN {install} collections/{GALAXY['namespace']}-{GALAXY['name']}-*.tar.gz" in containerfile
    assert "RUN $PYCMD /output/scripts/introspect.py introspect" in containerfile


def test_ansible_core_is_the_version_requirements_txt_pins():
    pinned = {Requirement(line).name: line for line in requirement_lines(ROOT / "requirements.txt")}
    assert DEFINITION["dependencies"]["ansible_core"]["package_pip"] == pinned["ansible-core"]


def test_image_build_installs_every_python_requirement(introspected):
    expected = [line for line in requirement_lines(ROOT / "requirements.txt")
                if Requirement(line).name not in PROVIDED_BY_THE_DEFINITION]
    assert expected, "requirements.txt lists no library"
    assert introspected["python"] == [f"{line}  # from collection {COLLECTION}" for line in expected]


def test_image_build_installs_every_system_requirement(introspected):
    expected = requirement_lines(ROOT / "bindep.txt")
    assert introspected["system"] == [f"{line}  # from collection {COLLECTION}" for line in expected]
    # Each line is bindep's own syntax, and each package family gets the SSH client.
    depends = Depends((ROOT / "bindep.txt").read_text())
    assert [rule[0] for rule in depends.active_rules(["platform:dpkg"])] == ["openssh-client"]
    assert [rule[0] for rule in depends.active_rules(["platform:rpm"])] == ["openssh-clients"]
