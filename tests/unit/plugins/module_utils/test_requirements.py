"""Which Python libraries a host lacks for the collection's modules, and the OS packages that bring them."""

from ansible_collections.dockyard.registry.plugins.module_utils._requirements import (
    LIBRARIES,
    findings,
    packages_for,
    python_problem,
    version_tuple,
)


def test_versions_compare_by_their_numeric_release():
    assert version_tuple("38.0.4") == (38, 0, 4)
    assert version_tuple("2.28.1+dfsg") == (2, 28, 1)
    assert version_tuple("5.0.3-1") == (5, 0, 3)
    assert version_tuple("unknown") == ()


def test_a_missing_and_an_old_library_are_named_with_their_use_and_their_packages():
    versions = {"cryptography": "38.0.4", "requests": None, "docker": "4.1.0"}
    found = findings(["cryptography", "requests", "docker"], versions.get)
    assert [finding.usable for finding in found] == [True, False, False]
    assert found[0].problem is None
    assert found[1].problem == ("requests is missing (needed for the registry API requests of registry_image, "
                                "and community.docker's modules)")
    assert found[2].problem.startswith("docker 4.1.0 is older than 5.0.0 (needed for the Docker daemon API")
    assert packages_for(found, "apt") == ["python3-requests", "python3-docker"]
    assert packages_for(found, "apk") == ["py3-requests", "py3-docker-py"]
    assert packages_for(found, None) == []


def test_every_library_has_a_package_for_every_package_manager():
    for library in LIBRARIES.values():
        assert set(library.packages) == {"apt", "dnf", "yum", "zypper", "apk"}, library.name


def test_python_older_than_3_11_is_refused_with_its_version():
    assert python_problem((3, 11)) is None and python_problem((3, 13)) is None
    assert python_problem((3, 9)) == ("is Python 3.9, and the collection's modules need Python 3.11 or newer")
