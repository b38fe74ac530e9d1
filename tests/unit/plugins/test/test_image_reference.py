"""The ``dockyard.registry.image_reference`` Jinja2 test: its logic, and its use by name in a real template."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from ansible_collections.dockyard.registry.plugins.test.registry import TestModule as ImageTests

ROOT = Path(__file__).resolve().parents[4]
DIGEST = "sha256:" + "0" * 64


def test_plugin_exposes_the_image_reference_and_mirror_url_tests():
    assert set(ImageTests().tests()) == {"image_reference", "mirror_url"}


@pytest.mark.parametrize(("value", "expected"), [
    ("registry.example.com:5000/team/app:1.0", True),
    (f"[2001:db8::1]:5000/app@{DIGEST}", True),
    ("alpine", True),
    ("Team/App:1.0", False),
    ("registry.example.com:5000/app:", False),
    ("registry.example.com:5000/app@sha256:0", False),
    (42, False),
    (None, False),
])
def test_true_exactly_for_references(value, expected):
    assert ImageTests().tests()["image_reference"](value) is expected


def test_resolves_by_its_fully_qualified_name_in_a_playbook_template():
    """Ansible finds the test in plugins/test/registry.py by the name ``dockyard.registry.image_reference``."""
    expression = ("{{ [good is dockyard.registry.image_reference, bad is dockyard.registry.image_reference] }}")
    run = subprocess.run(
        [str(Path(sys.executable).parent / "ansible"), "localhost", "-m", "ansible.builtin.debug",
         "-a", f"msg={expression}", "-e", json.dumps({"good": "registry.example.com:5000/team/app:1.0",
                                                     "bad": "Team/App", "ansible_python_interpreter": sys.executable})],
        cwd=ROOT, env={**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
                       "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.minimal", "ANSIBLE_CALLBACK_RESULT_FORMAT": "json"},
        capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert json.loads(run.stdout.split("=>", 1)[1])["msg"] == [True, False]
