"""package_image on this machine: APT is asked once, then the candidate version comes from the module's cache.

The image itself is the one the suite's site.yml run (the ``site_run`` fixture) builds from the package on the local
inventory; these runs find it and build nothing. Each test has a cache file of its own, so the machine's cache is left alone.
"""

from __future__ import annotations

import json
import subprocess

from support import run_module


def policy_candidate() -> str:
    out = subprocess.run(["apt-cache", "policy", "docker-registry"], check=True, capture_output=True, text=True,
                         env={"LC_ALL": "C", "PATH": "/usr/bin:/bin"}).stdout
    return next(line.split()[1] for line in out.splitlines() if line.strip().startswith("Candidate:"))


def test_apt_is_asked_once_then_the_cached_version_names_the_same_image(site_run, tmp_path):
    cache = tmp_path / "cache" / "apt-candidates.json"
    first = run_module("dockyard.registry.package_image", {"cache": str(cache)})
    assert not first.get("failed"), first
    assert first["version_cached"] is False
    assert first["version"] == policy_candidate()
    assert first["changed"] is False, "the image is there: the cache is not a change of the host"
    assert oct(cache.stat().st_mode & 0o777) == "0o644"
    assert json.loads(cache.read_text())["docker-registry"]["version"] == first["version"]

    second = run_module("dockyard.registry.package_image", {"cache": str(cache)})
    assert second["version_cached"] is True
    assert (second["image"], second["image_id"], second["changed"]) == (first["image"], first["image_id"], False)


def test_an_unreadable_cache_or_check_mode_asks_apt_and_check_mode_writes_nothing(site_run, tmp_path):
    cache = tmp_path / "apt-candidates.json"
    cache.write_text("{not json")
    run = run_module("dockyard.registry.package_image", {"cache": str(cache)})
    assert (run["version_cached"], run["version"]) == (False, policy_candidate())
    assert json.loads(cache.read_text())["docker-registry"]["version"] == run["version"]

    fresh = tmp_path / "check" / "apt-candidates.json"
    predicted = run_module("dockyard.registry.package_image", {"cache": str(fresh)}, "--check")
    assert (predicted["version_cached"], predicted["changed"]) == (False, False)
    assert not fresh.parent.exists()
