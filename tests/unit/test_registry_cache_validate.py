"""The registry_cache role's validate entry point, as the site playbook's preflight runs it: every value that reaches
redis.conf or Redis's command line is refused when a newline, white space or control character could break out, with
the variable named and a given password never shown.

One ansible-playbook run on the controller: each inventory host is one case, with its own variables.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
SECRET = "secret-Part-Of-A-Password"

CASES = {
    "valid": ({"registry_cache_password": "a-Good-password-0123", "registry_cache_admin_password": "another-good-one-456",
               "registry_cache_bind_address": "10.0.2.5", "registry_cache_port": 6380,
               "registry_cache_maxmemory": "1gb"}, None),
    "defaults": ({}, None),
    "port_with_a_newline": ({"registry_cache_port": "6379\n"}, "registry_cache_port must be an integer from 1 to 65535"),
    "port_zero": ({"registry_cache_port": 0}, "registry_cache_port must be an integer from 1 to 65535"),
    "bind_address_with_a_directive": ({"registry_cache_bind_address": "10.0.2.5\nprotected-mode no"},
                                      "registry_cache_bind_address must be empty"),
    "bind_address_with_a_space": ({"registry_cache_bind_address": "10.0.2.5 0.0.0.0"},
                                  "registry_cache_bind_address must be empty"),
    "bind_address_a_name": ({"registry_cache_bind_address": "redis.example.com"},
                            "registry_cache_bind_address must be empty"),
    "password_with_a_newline": ({"registry_cache_password": f"{SECRET}\nuser evil on nopass ~* +@all"},
                                "registry_cache_password must be empty (a random one is made) or at least 16"),
    "password_with_a_space": ({"registry_cache_password": f"{SECRET} more"},
                              "registry_cache_password must be empty (a random one is made) or at least 16"),
    "password_too_short": ({"registry_cache_password": "Short-1"},
                           "registry_cache_password must be empty (a random one is made) or at least 16"),
    "admin_password_with_a_newline": ({"registry_cache_admin_password": f"{SECRET}\n"},
                                      "registry_cache_admin_password must be empty (a random one is made)"),
    "maxmemory_with_a_newline": ({"registry_cache_maxmemory": "256mb\n"}, "registry_cache_maxmemory must be a size"),
    "maxmemory_with_a_directive": ({"registry_cache_maxmemory": "256mb\nrename-command CONFIG x"},
                                   "registry_cache_maxmemory must be a size"),
    "data_dir_with_a_directive": ({"registry_cache_data_dir": "/var/lib/redis\ndir /etc"},
                                  "registry_cache_config_dir, registry_cache_data_dir, registry_cache_log and"),
    "log_with_a_space": ({"registry_cache_log": "/var/log/my redis.log"},
                         "registry_cache_config_dir, registry_cache_data_dir, registry_cache_log and"),
    "binary_with_an_argument": ({"registry_cache_binary": "/usr/bin/redis-server --protected-mode no"},
                                "registry_cache_config_dir, registry_cache_data_dir, registry_cache_log and"),
    "tls_dir_with_a_directive": ({"registry_cache_tls_dir": "/etc/dockyard/redis/tls\ntls-auth-clients no"},
                                 "registry_cache_tls_dir must be an absolute path"),
    "tls_dir_relative": ({"registry_cache_tls_dir": "tls"}, "registry_cache_tls_dir must be an absolute path"),
    "certificate_brought_along": ({"registry_pki_byo_certificate": "/etc/ssl/registry.crt"},
                                  "Redis speaks mutual TLS with certificates the collection's CA issues"),
}

PLAYBOOK = """\
- name: Check the registry_cache role's variables, one case per host
  hosts: all
  gather_facts: false
  tasks:
    - name: Run the validate entry point
      ansible.builtin.include_role:
        name: dockyard.registry.registry_cache
        tasks_from: validate
"""


@pytest.fixture(scope="module")
def validation(tmp_path_factory) -> dict[str, str]:
    """What the run printed for each case (host): its ``ok:`` or ``fatal:`` result."""
    directory = tmp_path_factory.mktemp("validate")
    hosts = {name: {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                    "registry_pki_dir": str(directory / "pki"), **variables}
             for name, (variables, _message) in CASES.items()}
    (directory / "hosts.yml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    (directory / "validate.yml").write_text(textwrap.dedent(PLAYBOOK))
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_COLLECTIONS_PATH": str(ROOT / ".collections"), "ANSIBLE_LOCALHOST_WARNING": "0",
           "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"}
    run = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(directory / "hosts.yml"), "--forks", "4",
                          str(directory / "validate.yml")],
                         cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    output = run.stdout + run.stderr
    checks = run.stdout.partition("TASK [dockyard.registry.registry_cache : Check the registry_cache role's variables]")[2]
    results = {}
    for name in CASES:
        found = re.search(rf"^(ok|fatal): \[{name}\].*$", checks, re.MULTILINE)
        assert found, f"no result for {name}: {output[-3000:]}"
        results[name] = found.group(0)
    results["*"] = output
    return results


@pytest.mark.parametrize("case", list(CASES))
def test_each_value_that_could_break_out_is_refused_naming_its_variable(validation, case):
    _variables, message = CASES[case]
    result = validation[case]
    if message is None:
        assert result.startswith("ok:"), result
    else:
        assert result.startswith("fatal:") and message in result, result


def test_a_given_password_is_never_shown(validation):
    assert SECRET not in validation["*"]
