"""Which mirror URLs registry_trust takes, and where each one's CA goes in certs.d."""

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._host_trust import TrustError, mirror_address


@pytest.mark.parametrize(("url", "address"), [
    ("https://192.0.2.10:5001", "192.0.2.10:5001"),
    ("https://mirror.example.com:5001/", "mirror.example.com:5001"),
    ("https://mirror.example.com", "mirror.example.com"),  # the daemon's certs.d directory has no port then
    ("https://[2001:db8::10]:5001", "[2001:db8::10]:5001"),
])
def test_mirror_address_is_the_certs_d_directory(url, address):
    assert mirror_address(url) == address


@pytest.mark.parametrize("url", [
    "http://mirror.example.com:5001", "https://mirror.example.com:5001/v2/", "mirror.example.com:5001",
    "https://user:secret@mirror.example.com", "https://mirror.example.com:5001?x=1", "",
    # A host that is none: each would name a directory outside certs.d, or none at all.
    "https://..", "https://.", "https://../", "https://..:5001", "https://a..b", "https://-mirror.example.com",
    "https://mirror_1.example.com", "https://[zz::1]:5001", "https://[192.0.2.10]", "https://999.1.1.1",
    "https://mirror.example.com:0", "https://mirror.example.com:65536", "https://mirror.example.com:",
    "https://mirror.example.com\n:5001", "https://mirror.example.com\n",
    "https://[fe80::1%eth0]:5001",  # a zone: the name check took the address with it
])
def test_mirror_address_refuses_what_is_not_an_https_registry_url(url):
    with pytest.raises(TrustError, match="is not the https URL of a registry"):
        mirror_address(url)
