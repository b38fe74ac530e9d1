"""The registry_addresses lookup: every address it returns is a checked name or address, load balancers' included."""

from __future__ import annotations

import datetime

import pytest
import yaml
from ansible import constants
from ansible.errors import AnsibleLookupError
from cryptography.hazmat.primitives.asymmetric import ec

from ansible_collections.dockyard.registry.plugins.lookup import registry_addresses
from ansible_collections.dockyard.registry.plugins.module_utils import _pki as pki

NAME = "dockyard.registry.registry_addresses"
# Its options as a play gets them: from its documentation.
constants.config.initialize_plugin_configuration_definitions(
    "lookup", NAME, yaml.safe_load(registry_addresses.DOCUMENTATION)["options"])


def inventory(hosts: dict, groups: dict) -> dict:
    return {"hostvars": {name: {"inventory_hostname": name, **values} for name, values in hosts.items()},
            "groups": groups, "inventory_dir": "/nonexistent"}


def query(variables: dict, *terms: str, **options) -> list[str]:
    lookup = registry_addresses.LookupModule()
    lookup._load_name = NAME
    return lookup.run(list(terms), variables=variables, **options)


def keep_certificate(ca, pki_dir, host: str, sans: list[str]) -> None:
    """A certificate copy as the controller keeps it, issued by the CA ``ca`` for ``sans``."""
    certificate, key = ca
    request = pki.certificate_request(ec.generate_private_key(ec.SECP256R1()), sans)
    issued = pki.sign(request, certificate, key, datetime.timedelta(days=1), sans)
    (pki_dir / "servers").mkdir(parents=True, exist_ok=True)
    (pki_dir / "servers" / f"{host}.crt").write_bytes(pki.certificate_pem(issued))


HA = inventory({"lb": {"ansible_host": "dockyard-molecule-ha-lb",
                       "ansible_facts": {"dockyard_host": {"fqdn": "lb", "default_ipv4": "172.31.59.10"}}},
                "replica1": {"ansible_host": "dockyard-molecule-ha-replica1"}},
               {"registry_lb": ["lb"], "registry": ["replica1"]})


def test_clients_reach_a_load_balancer_by_its_address_as_well_as_its_names():
    assert query(HA, "replica1") == ["172.31.59.10:5000", "lb:5000", "dockyard-molecule-ha-lb:5000"]


def test_a_certificate_kept_with_a_name_that_would_break_a_configuration_file_fails_the_lookup(tmp_path, test_ca):
    keep_certificate(test_ca, tmp_path, "replica1", ["DNS:replica1", "DNS:1.1.1.1:5000 check\nlisten x",
                                                     "IP:172.31.59.11"])
    with pytest.raises(AnsibleLookupError) as refused:
        query(HA, "replica1", balanced=False, pki_dir=str(tmp_path))
    message = str(refused.value)
    assert message.startswith(f"dockyard.registry.registry_addresses: the certificate of replica1 kept on the "
                              f"controller ({tmp_path}/servers/replica1.crt): subjectAltName ")
    assert "contains white space" in message


def test_a_certificate_kept_with_good_and_wildcard_names_gives_the_addresses(tmp_path, test_ca):
    keep_certificate(test_ca, tmp_path, "replica1", ["DNS:replica1", "DNS:*.example.com", "IP:172.31.59.11"])
    assert query(HA, "replica1", balanced=False, pki_dir=str(tmp_path)) == ["172.31.59.11:5000", "replica1:5000"]


def test_a_bad_registry_name_fails_the_lookup_naming_the_variable():
    with pytest.raises(AnsibleLookupError, match=r"names \(registry_names\): 'a b' contains white space"):
        query(HA, "replica1", names=["a b"])


def test_a_host_name_that_cannot_name_a_file_fails_the_lookup_naming_the_host(tmp_path):
    variables = inventory({"../ca": {}}, {"registry": ["../ca"]})
    with pytest.raises(AnsibleLookupError, match=r"the inventory host name '\.\./ca' cannot name"):
        query(variables, "../ca", pki_dir=str(tmp_path))


def test_mirrors_are_the_urls_of_the_hosts_that_run_one_each_at_its_port(tmp_path, test_ca):
    variables = inventory({"registry1": {"registry_server_mirror_enabled": True},
                           "registry2": {"registry_server_mirror_enabled": "yes", "registry_server_mirror_port": "6001"},
                           "registry3": {}},
                          {"registry": ["registry1", "registry2", "registry3"]})
    for host, address in (("registry1", "10.0.0.1"), ("registry2", "10.0.0.2"), ("registry3", "10.0.0.3")):
        keep_certificate(test_ca, tmp_path, host, [f"DNS:{host}", f"IP:{address}"])
    assert query(variables, "registry1", "registry2", "registry3", mirrors=True, primary=True,
                 pki_dir=str(tmp_path)) == ["https://10.0.0.1:5001", "https://10.0.0.2:6001"]
    assert query(variables, "registry2", mirrors=True, pki_dir=str(tmp_path)) == [
        "https://10.0.0.2:6001", "https://registry2:6001"]
    assert query(variables, "registry3", mirrors=True, pki_dir=str(tmp_path)) == []


def test_mirrors_behind_load_balancers_are_reached_through_them():
    variables = {**HA, "hostvars": {**HA["hostvars"],
                                    "replica1": {**HA["hostvars"]["replica1"], "registry_server_mirror_enabled": True}}}
    assert query(variables, "replica1", mirrors=True, primary=True) == ["https://172.31.59.10:5001"]


def test_a_mirror_port_that_is_no_port_fails_the_lookup_naming_the_variable_and_host():
    variables = inventory({"registry1": {"registry_server_mirror_enabled": True, "registry_server_mirror_port": "x"}},
                          {"registry": ["registry1"]})
    with pytest.raises(AnsibleLookupError,
                       match=r"registry_server_mirror_port of registry1: the port 'x' is not a number from 1 to 65535"):
        query(variables, "registry1", mirrors=True)
