"""inventories/example: a fleet inventory a user can copy, that keeps the inventory contract and passes preflight.

Nothing here connects to a host: the preflight's variable checks run on the controller, and its look for the
Python libraries the modules import is pointed at the controller too (a local connection with this Python).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from ansible.module_utils.common.arg_spec import ArgumentSpecValidator

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
EXAMPLE = ROOT / "inventories" / "example"
EXAMPLE_HA = ROOT / "inventories" / "example-ha"
EXAMPLES = (EXAMPLE, EXAMPLE_HA)
# Keys of an argument spec option that are not documentation.
SPEC_KEYS = {"type", "elements", "choices", "default", "required", "options", "no_log"}


def ansible(tool: str, *args: str) -> subprocess.CompletedProcess:
    # An unreachable example host fails fast, should a future preflight task ever try to connect.
    # Results as JSON: the YAML format quotes and wraps a message differently from one ansible-core to the next.
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1", "ANSIBLE_TIMEOUT": "5",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    return subprocess.run([str(BIN / tool), *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False)


def inventory(path: Path = EXAMPLE) -> dict:
    run = ansible("ansible-inventory", "-i", str(path), "--list")
    assert run.returncode == 0, run.stderr
    return json.loads(run.stdout)


def role_options() -> dict[str, dict]:
    """Every public role variable with its spec (the variables several roles share have one spec)."""
    options: dict[str, dict] = {}
    for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml")):
        for name, option in yaml.safe_load(spec_file.read_text())["argument_specs"]["main"]["options"].items():
            options[name] = {key: value for key, value in option.items() if key in SPEC_KEYS}
    return options


def example_variables() -> dict[str, dict]:
    """group_vars and host_vars files of the examples, by file."""
    return {
        str(path.relative_to(ROOT / "inventories")): yaml.safe_load(path.read_text()) or {}
        for example in EXAMPLES for path in sorted(example.glob("*_vars/**/*.y*ml"))
    }


def test_example_inventory_has_the_contract_groups():
    groups = inventory()
    registry = groups["registry"]["hosts"]
    docker_hosts = groups["docker_hosts"]["hosts"]
    assert len(registry) >= 1
    assert len(docker_hosts) >= 2, "a fleet example has several Docker hosts"
    # The registry host pushes and pulls too, so it is a Docker host as well (see the README's inventory layouts).
    assert set(registry) <= set(docker_hosts)


def test_ha_example_has_every_group_of_the_contract():
    groups = inventory(EXAMPLE_HA)
    assert len(groups["registry"]["hosts"]) == 2
    assert len(groups["registry_store"]["hosts"]) == 3, "three store hosts: a raft quorum of masters"
    assert groups["registry_lb"]["hosts"] and groups["registry_cache"]["hosts"]
    assert not set(groups["registry_lb"]["hosts"]) & set(groups["registry"]["hosts"])
    assert set(groups["registry"]["hosts"]) <= set(groups["docker_hosts"]["hosts"])


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_hosts_have_addresses(example):
    hostvars = inventory(example)["_meta"]["hostvars"]
    assert hostvars
    assert all(variables.get("ansible_host") for variables in hostvars.values())


def test_example_has_group_vars_to_copy():
    assert {"example/group_vars/all.yml", "example-ha/group_vars/all.yml"} <= set(example_variables())


@pytest.mark.parametrize("path", sorted(example_variables()))
def test_example_variables_are_documented_role_variables(path):
    options = role_options()
    variables = example_variables()[path]
    unknown = [name for name in variables if not name.startswith("ansible_") and name not in options]
    assert unknown == [], f"{path}: not a variable of any role (a typo?)"


@pytest.mark.parametrize("path", sorted(example_variables()))
def test_example_variables_match_the_argument_specs(path):
    options = role_options()
    variables = {name: value for name, value in example_variables()[path].items() if name in options}
    spec = {name: options[name] for name in variables}
    result = ArgumentSpecValidator(spec).validate(variables)
    assert result.error_messages == []


def on_the_controller(tmp_path) -> list[str]:
    """The example's hosts stand for themselves in everything but where modules run: on the controller, which has
    every library the modules need, so the preflight finds nothing to install. The vaulted passphrase is given, and
    what the run generates (the registry account's password) goes to a directory of the test's own."""
    return ["-e", json.dumps({"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                              "ansible_become": False, "vault_registry_pki_ca_passphrase": "example passphrase",
                              "registry_pki_dir": str(tmp_path / "pki")})]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_example_passes_preflight(example, tmp_path):
    run = ansible("ansible-playbook", "-i", str(example), "playbooks/preflight.yml", *on_the_controller(tmp_path))
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr
    recap = dict(re.findall(r"^(\S+)\s+: (ok=.*)$", run.stdout, re.MULTILINE))
    assert set(recap) == set(inventory(example)["_meta"]["hostvars"])
    assert all("unreachable=0" in line and "failed=0" in line and "changed=0" in line for line in recap.values())


def test_preflight_refuses_a_broken_copy_of_the_example(tmp_path):
    """Proves the preflight run above reads the example's group_vars: a name with a port stops it."""
    broken = tmp_path / "example"
    shutil.copytree(EXAMPLE, broken)
    group_vars = broken / "group_vars" / "all.yml"
    variables = yaml.safe_load(group_vars.read_text())
    variables["registry_names"] = ["registry.example.com:5000"]
    group_vars.write_text(yaml.safe_dump(variables))
    run = ansible("ansible-playbook", "-i", str(broken), "playbooks/preflight.yml", *on_the_controller(tmp_path))
    assert run.returncode != 0
    assert "'registry.example.com:5000' has a port" in run.stdout


@pytest.mark.parametrize(("change", "message"), [
    ({"registry_storage": "filesystem"}, "each would keep its own blobs"),
    ({"registry_lb_backend_hosts": []}, "has no replica to send clients to"),
    ({"registry_lb_backend_hosts": ["registry1.example.com", "x\n    server evil 203.0.113.9:5000"]},
     "become HAProxy server names, which take letters, digits"),
], ids=["two-replicas-on-filesystem", "load-balancer-without-replicas", "replica-name-that-breaks-haproxy-cfg"])
def test_preflight_refuses_a_broken_ha_fleet(change, message, tmp_path):
    extra = ["-e", json.dumps(change)]
    run = ansible("ansible-playbook", "-i", str(EXAMPLE_HA), "playbooks/preflight.yml", *on_the_controller(tmp_path),
                  *extra)
    assert run.returncode != 0
    assert message in run.stdout


def test_preflight_refuses_s3_without_bucket_or_keys(tmp_path):
    """Without the collection's own store, s3 storage needs the user's bucket and keys."""
    broken = tmp_path / "example-ha"
    shutil.copytree(EXAMPLE_HA, broken)
    hosts = yaml.safe_load((broken / "hosts.yml").read_text())
    del hosts["all"]["children"]["registry_store"]
    (broken / "hosts.yml").write_text(yaml.safe_dump(hosts))
    (broken / "group_vars" / "registry_store.yml").unlink()
    run = ansible("ansible-playbook", "-i", str(broken), "playbooks/preflight.yml", *on_the_controller(tmp_path))
    assert run.returncode != 0
    assert "registry_s3_bucket is empty" in run.stdout
    group_vars = broken / "group_vars" / "all.yml"
    group_vars.write_text(group_vars.read_text() + "registry_s3_bucket: registry\n")
    run = ansible("ansible-playbook", "-i", str(broken), "playbooks/preflight.yml", *on_the_controller(tmp_path))
    assert run.returncode != 0
    assert "registry_s3_access_key or registry_s3_secret_key is empty" in run.stdout
