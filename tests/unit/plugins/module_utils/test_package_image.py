"""The APT state digest and the candidate cache of package_image, on files of the test's own."""

from __future__ import annotations

import os

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._package_image import (
    CandidateCache,
    PackageImage,
    PackageImageError,
    apt_state,
)


def tree(root):
    (root / "lists").mkdir(parents=True)
    (root / "lists" / "deb.debian.org_Packages").write_text("Package: docker-registry\n")
    (root / "status").write_text("Package: dpkg\n")
    return [str(root / "status"), str(root / "lists"), str(root / "missing")]


def test_the_digest_follows_every_file_that_apt_reads(tmp_path):
    roots = tree(tmp_path)
    before = apt_state(roots)
    assert apt_state(roots) == before
    (tmp_path / "lists" / "new_Packages").write_text("x")
    added = apt_state(roots)
    assert added != before
    listed = tmp_path / "lists" / "deb.debian.org_Packages"
    stat = listed.stat()
    os.utime(listed, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
    assert apt_state(roots) != added
    (tmp_path / "status").write_text("Package: dpkg\nPackage: docker-registry\n")
    assert len({before, added, apt_state(roots)}) == 3


def test_an_entry_serves_only_its_package_in_its_state(tmp_path):
    path = tmp_path / "cache.json"
    path.write_bytes(CandidateCache(str(path), "s1").content("docker-registry", "2.8.2+ds1-1"))
    cache = CandidateCache(str(path), "s1")
    assert cache.get("docker-registry") == "2.8.2+ds1-1"
    assert CandidateCache(str(path), "s2").get("docker-registry") is None
    assert cache.get("busybox-static") is None
    path.write_bytes(cache.content("busybox-static", "1:1.35"))
    both = CandidateCache(str(path), "s1")
    assert (both.get("docker-registry"), both.get("busybox-static")) == ("2.8.2+ds1-1", "1:1.35")


def test_a_cache_that_cannot_be_read_is_empty(tmp_path):
    for content in ("{not json", "[1, 2]", '{"docker-registry": "2.8.2"}'):
        (tmp_path / "cache.json").write_text(content)
        assert CandidateCache(str(tmp_path / "cache.json"), "s1").get("docker-registry") is None
    assert CandidateCache(str(tmp_path / "absent.json"), "s1").get("docker-registry") is None


def test_a_binary_named_under_bin_is_found_where_a_merged_usr_package_ships_it(tmp_path):
    # Debian 12's busybox-static ships /bin/busybox; Debian 13's (merged /usr) ships /usr/bin/busybox.
    for shipped in ("bin/busybox", "usr/bin/busybox"):
        unpacked = tmp_path / shipped.replace("/", "-")
        (unpacked / shipped).parent.mkdir(parents=True)
        (unpacked / shipped).write_bytes(b"\x7fELF")
        assert PackageImage._packaged(str(unpacked), "/bin/busybox", "busybox-static", "option") == str(unpacked / shipped)


def test_a_binary_the_package_does_not_ship_is_refused_naming_the_option(tmp_path):
    with pytest.raises(PackageImageError, match=r"the package busybox-static has no /bin/busybox \(the_option\)"):
        PackageImage._packaged(str(tmp_path), "/bin/busybox", "busybox-static", "the_option")
