"""Test-wide set-up: make the checkout importable as the collection ``dockyard.registry``, and this directory's
shared helpers (``x509_certificates``, the one builder of the tests' certificates) importable by every suite, the
molecule verifiers included."""

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
COLLECTIONS = ROOT / ".collections"
for _path in (COLLECTIONS, ROOT / "tests"):
    if str(_path) not in sys.path:
        sys.path.insert(0, str(_path))


@pytest.fixture(scope="session")
def test_ca():
    """A CA as the registry_pki role makes one (x509_certificates.registry_ca): (certificate, key). One for the
    session: nothing changes it, and fixtures of a wider scope than a test's use it too."""
    from x509_certificates import registry_ca

    ca = registry_ca()
    return ca.certificate, ca.key
