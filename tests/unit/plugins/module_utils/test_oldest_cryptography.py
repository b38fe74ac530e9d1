"""The certificate checks run on the oldest cryptography the probe takes, the one Debian 12 hosts have.

The controller's virtualenv has a recent cryptography; Docker hosts run the module with their own Python. This
runs the unit tests of ``_x509``, ``_verdicts`` and ``_names`` again under the host's ``/usr/bin/python3`` with Debian's
``python3-cryptography`` and ``python3-pytest`` (``make unit`` installs them), and checks that it is the oldest
version the module documents.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[4]
HOST_PYTHON = "/usr/bin/python3"
# _names too: the verifier and the probe read addresses through it (the probe's own tests of them live there).
TESTS = ["tests/unit/plugins/module_utils/test_x509.py", "tests/unit/plugins/module_utils/test_verdicts.py",
         "tests/unit/plugins/module_utils/test_names.py"]


def documented_minimum() -> str:
    source = (ROOT / "plugins" / "modules" / "registry_probe.py").read_text()
    documentation = yaml.safe_load(re.search(r'DOCUMENTATION = r"""(.*?)"""', source, re.DOTALL).group(1))
    requirement = next(item for item in documentation["requirements"] if "cryptography" in item)
    return re.search(r"C\(cryptography\) (\d+) or newer", requirement).group(1)


def test_the_host_python_has_the_oldest_cryptography_the_module_takes():
    found = subprocess.run([HOST_PYTHON, "-c", "import cryptography; print(cryptography.__version__)"],
                           capture_output=True, text=True, check=False)
    assert found.returncode == 0, f"{HOST_PYTHON} lacks cryptography (apt-get install python3-cryptography): {found.stderr}"
    assert found.stdout.split(".")[0] == documented_minimum(), found.stdout


def test_the_certificate_checks_pass_under_the_oldest_cryptography():
    run = subprocess.run([HOST_PYTHON, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=ROOT,
                         capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-2000:]
    passed = re.search(r"(\d+) passed", run.stdout)
    assert passed and "skipped" not in run.stdout and int(passed.group(1)) >= 100, run.stdout[-2000:]
