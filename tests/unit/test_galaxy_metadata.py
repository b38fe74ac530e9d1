"""The collection's metadata as Galaxy and Automation Hub check it on import: tags, links, required ansible-core.

What the tarball holds is checked by tests/integration/test_galaxy_build.py, which builds it.
"""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

ROOT = Path(__file__).resolve().parents[2]
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
RUNTIME = yaml.safe_load((ROOT / "meta" / "runtime.yml").read_text())

# Galaxy's import rules for tags: at most 20, each lowercase letters, digits and underscores, at most 64 characters.
MAX_TAGS = 20
TAG = re.compile(r"^[a-z0-9_]{1,64}$")


def test_tags_are_ones_galaxy_accepts():
    tags = GALAXY["tags"]
    assert 0 < len(tags) <= MAX_TAGS
    assert [tag for tag in tags if not TAG.match(tag)] == []
    assert len(set(tags)) == len(tags)


def test_every_kind_of_link_is_an_https_url():
    links = {kind: GALAXY.get(kind) for kind in ("repository", "documentation", "homepage", "issues")}
    assert [kind for kind, url in links.items() if not url] == []
    assert {kind: urlsplit(url).scheme for kind, url in links.items()} == dict.fromkeys(links, "https")
    # Each link is of its own kind: the issue tracker and the documentation are not the sources' front page.
    assert links["issues"] != links["repository"] and links["documentation"] != links["repository"]


def test_requires_ansible_admits_the_pinned_ansible_core():
    requires = SpecifierSet(RUNTIME["requires_ansible"])
    pins = [Requirement(line) for line in (ROOT / "requirements.txt").read_text().splitlines()
            if line.strip() and not line.startswith("#")]
    (core,) = [pin for pin in pins if pin.name == "ansible-core"]
    (version,) = [spec.version for spec in core.specifier if spec.operator == "=="]
    assert version in requires


def _compat_matrix():
    spec = importlib.util.spec_from_file_location("compat_run", ROOT / "tests" / "compat" / "run.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_release_requires_ansible_admits_is_in_the_tested_matrix():
    compat = _compat_matrix()
    requires = SpecifierSet(RUNTIME["requires_ansible"])
    admitted = compat.admitted_minors(requires)
    # From the oldest claimed release to the newest, every minor release is tested: the claim is what is tested.
    assert admitted[0] == "2.17" and admitted == sorted(compat.CONTROLLER_PYTHONS, key=lambda v: tuple(map(int, v.split("."))))
    assert requires.contains("2.21.5") and not requires.contains("2.22.0")


def test_a_claim_past_the_tested_releases_is_refused():
    compat = _compat_matrix()
    with pytest.raises(SystemExit, match="admits releases after 2.21"):
        compat.admitted_minors(SpecifierSet(">=2.17.0"))
