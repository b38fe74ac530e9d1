import re

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._names import (
    AddressError,
    address_host,
    address_problem,
    as_ip,
    certificate_copy,
    certificate_sans,
    client_addresses,
    host_file_name,
    host_names,
    missing_names,
    name_problem,
    name_problems,
    parse_address,
    port_problem,
    san_entries,
    san_problem,
    split_host_port,
)


@pytest.mark.parametrize("name", ["registry", "registry.example.com", "a-b.c0", "192.0.2.10", "2001:db8::1",
                                  "[2001:db8::1]", "REGISTRY.Example.com"])
def test_accepts_dns_names_and_ip_addresses(name):
    assert name_problem(name) is None


@pytest.mark.parametrize(("name", "says"), [
    ("", "empty"),
    (" registry", "white space"),
    ("reg istry", "white space"),
    ("registry.example.com:5000", "port"),
    ("-registry", "not a DNS name"),
    ("registry-.example.com", "not a DNS name"),
    ("reg_istry", "not a DNS name"),
    ("a..b", "not a DNS name"),
    ("999.1.1.1", "neither a valid IP address nor a DNS name"),
    ("x" * 64 + ".com", "not a DNS name"),
    ("https://registry", "not a DNS name"),
    (5000, "not a string"),
])
def test_rejects_malformed_names_saying_why(name, says):
    assert says in name_problem(name)


def test_name_problems_number_each_bad_entry():
    assert name_problems(["ok.example", "", "bad name"]) == [
        "entry 1: an empty entry",
        "entry 2: 'bad name' contains white space",
    ]


def test_name_problems_rejects_a_string_where_a_list_belongs():
    assert name_problems("registry.example.com") == [
        "expected a list of names, got str 'registry.example.com'"]


def test_san_entries_tell_ips_from_dns_names_and_drop_duplicates():
    assert san_entries(["Registry", "192.0.2.10", "registry", "[2001:db8:0::1]", "192.0.2.10"]) == [
        "DNS:registry", "IP:192.0.2.10", "IP:2001:db8::1"]


def test_san_entries_raise_on_a_malformed_name():
    with pytest.raises(ValueError, match="white space"):
        san_entries(["good", "not good"])


def test_client_addresses_leave_out_loopback_and_wildcards():
    sans = ["DNS:registry", "DNS:localhost", "IP:127.0.0.1", "IP:::1", "IP:192.0.2.10", "DNS:*.example.com",
            "IP:2001:db8::1", "DNS:registry", "email:ops@example.com"]
    assert client_addresses(sans, 5000) == ["registry:5000", "192.0.2.10:5000", "[2001:db8::1]:5000"]


def test_missing_names_compares_dns_names_case_insensitively():
    sans = ["DNS:registry.example.com", "IP:192.0.2.10"]
    assert missing_names(sans, ["Registry.Example.com", "192.0.2.10", "192.0.2.11", "other"]) == [
        "192.0.2.11", "other"]


@pytest.mark.parametrize(("name", "says"), [
    ("1.1.1.1:5000 check\nlisten x", "white space"),
    ("registry\x00", "characters other than"),
    ("regístry.example.com", "characters other than"),
    ("registry;reboot", "not a DNS name"),
    ("fe80::1%eth0", "has a zone"),
    ("*.example.com", "not a DNS name"),
])
def test_rejects_what_would_break_out_of_a_configuration_file_or_is_no_plain_name(name, says):
    assert says in name_problem(name)


@pytest.mark.parametrize(("name", "problem"), [
    ("*.example.com", None),
    ("*.registry", None),
    ("*.*.example.com", "not a wildcard DNS name"),
    ("*.192.0.2.1", "not a wildcard DNS name"),
    ("a.*.example.com", "not a DNS name"),
    ("*example.com", "not a DNS name"),
])
def test_a_wildcard_is_a_name_only_where_wildcards_are_allowed(name, problem):
    found = name_problem(name, wildcard=True)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize("entry", ["DNS:1.1.1.1:5000 check\nlisten x", "DNS:registry;x", "IP:registry.example.com",
                                   "DNS:192.0.2.1", "DNS:*.*.example.com", "IP:fe80::1%eth0"])
def test_client_addresses_refuse_an_entry_that_is_no_name_or_address_of_its_kind(entry):
    with pytest.raises(ValueError, match="subjectAltName"):
        client_addresses(["DNS:registry", entry], 5000)


def test_certificate_sans_put_the_inventory_names_the_host_s_own_then_the_extra_ones():
    identity = {"fqdn": "replica1.example.com", "default_ipv4": "192.0.2.11"}
    assert certificate_sans(["replica_1", "replica1"], identity, ["registry.example.com", "192.0.2.10"]) == [
        "DNS:replica1", "DNS:replica1.example.com", "IP:192.0.2.11", "DNS:registry.example.com", "IP:192.0.2.10"]


def test_certificate_sans_leave_out_a_fact_no_certificate_can_hold_but_refuse_a_bad_extra_name():
    assert certificate_sans(["replica1"], {"fqdn": "evil\nlisten x", "default_ipv4": None}, []) == ["DNS:replica1"]
    with pytest.raises(ValueError, match="white space"):
        certificate_sans(["replica1"], {}, ["1.1.1.1:5000 check\nlisten x"])


def test_a_load_balancer_is_known_by_its_address_as_well_as_its_names():
    lb = {"inventory_hostname": "lb", "ansible_host": "dockyard-molecule-ha-lb",
          "ansible_facts": {"fqdn": "lb", "default_ipv4": {"address": "172.31.59.10"}}}
    assert host_names(lb) == ["lb", "dockyard-molecule-ha-lb", "172.31.59.10"]


@pytest.mark.parametrize("host", ["registry1", "replica_1", "lb.example.com", "...x", "host:22"])
def test_a_host_name_that_stays_in_its_directory_names_its_certificate_file(host):
    assert host_file_name(host) == host
    assert certificate_copy("/pki", host) == f"/pki/servers/{host}.crt"


@pytest.mark.parametrize(("host", "says"), [
    ("../ca", "'/'"),
    ("a/b", "'/'"),
    ("/etc/passwd", "'/'"),
    ("..", "dots alone"),
    (".", "dots alone"),
    ("registry\n", "'\\n'"),
    ("registry\x00", "'\\x00'"),
    ("", "cannot name a file"),
])
def test_a_host_name_that_would_leave_the_directory_or_break_a_path_is_refused_naming_it(host, says):
    with pytest.raises(ValueError) as refused:
        certificate_copy("/pki", host)
    assert f"the inventory host name {host!r}" in str(refused.value)
    assert says in str(refused.value)


def test_san_problem_judges_dns_and_ip_entries_and_leaves_other_kinds_alone():
    assert san_problem("DNS:*.example.com") is None
    assert san_problem("IP:2001:db8::1") is None
    assert san_problem("URI:'spiffe://example.org/x'") is None
    assert san_problem("DNS:a b") == "subjectAltName 'DNS:a b': 'a b' contains white space"


# Addresses


@pytest.mark.parametrize(("value", "expected"), [
    ("registry.example.com:5000", ("https", "registry.example.com", 5000, "registry.example.com:5000")),
    ("192.0.2.10:5000", ("https", "192.0.2.10", 5000, "192.0.2.10:5000")),
    ("registry.example.com", ("https", "registry.example.com", 443, "registry.example.com")),
    ("https://registry.example.com:443", ("https", "registry.example.com", 443, "registry.example.com:443")),
    ("http://192.0.2.10:5000", ("http", "192.0.2.10", 5000, "192.0.2.10:5000")),
    ("http://mirror.example.com", ("http", "mirror.example.com", 80, "mirror.example.com:80")),
    ("[2001:db8::1]:5000", ("https", "2001:db8::1", 5000, "[2001:db8::1]:5000")),
    (" Registry.Example.com:5000 ", ("https", "registry.example.com", 5000, "registry.example.com:5000")),
])
def test_parse_address_names_the_registry_as_docker_does(value, expected):
    address = parse_address(value)
    assert (address.scheme, address.host, address.port, address.name) == expected


@pytest.mark.parametrize(("value", "message"), [
    ("", "give the registry's address as host:port"),
    ("ftp://registry:21", "the scheme may only be https:// (the default) or http://"),
    ("registry.example.com:5000/team/app", "give the address without a path"),
    ("registry.example.com:99999", "the port '99999' is not a number from 1 to 65535"),
    # urlsplit took these: port 0 as no port at all (so 443), an empty port, a name Docker's references refuse
    ("registry.example.com:0", "the port '0' is not a number from 1 to 65535"),
    ("registry.example.com:", "the port '' is not a number from 1 to 65535"),
    ("registry_1.example.com:5000", "the host 'registry_1.example.com' is not a DNS name"),
    ("2001:db8::1:5000", "an IPv6 address goes in brackets"),
    ("[192.0.2.10]:5000", "[192.0.2.10] is not an IPv6 address in brackets"),
    ("registry.example.com:http", "registry: 'registry.example.com:http'"),
])
def test_parse_address_rejects_what_is_not_host_port(value, message):
    with pytest.raises(AddressError, match=re.escape(message)):
        parse_address(value)


def test_loopback_addresses_are_recognised():
    assert parse_address("127.0.0.1:5000").is_loopback
    assert parse_address("localhost:5000").is_loopback
    assert parse_address("[::1]:5000").is_loopback
    assert not parse_address("192.0.2.10:5000").is_loopback


@pytest.mark.parametrize(("address", "parts"), [
    ("registry.example.com:5000", ("registry.example.com", "5000")),
    ("registry.example.com", ("registry.example.com", None)),
    ("[2001:db8::1]:5000", ("[2001:db8::1]", "5000")),
    ("[2001:db8::1]", ("[2001:db8::1]", None)),
    ("registry:", ("registry", "")),
])
def test_split_host_port_keeps_the_brackets_of_an_ipv6_host(address, parts):
    assert split_host_port(address) == parts


@pytest.mark.parametrize("address", ["registry.example.com:5000", "registry", "192.0.2.10:443",
                                     "[2001:db8::1]:5000", "[2001:db8::1]", "localhost:5000"])
def test_address_problem_accepts_host_and_port(address):
    assert address_problem(address) is None


@pytest.mark.parametrize(("address", "says"), [
    ("", "it has no host"),
    (":5000", "it has no host"),
    ("registry:99999", "not a number from 1 to 65535"),
    ("registry:0", "not a number from 1 to 65535"),
    ("registry:5000x", "not a number from 1 to 65535"),
    ("../etc:5000", "not a DNS name"),
    ("registry.:5000", "not a DNS name"),
    ("1.2.3:5000", "neither a valid IP address nor a DNS name"),
    ("[::1", "is not an IPv6 address in brackets"),
    ("[:::]:5000", "is not an IPv6 address in brackets"),
    ("[fe80::1%eth0]:5000", "is not an IPv6 address in brackets"),
    (5000, "not a string"),
])
def test_address_problem_says_what_is_wrong(address, says):
    assert says in address_problem(address)


@pytest.mark.parametrize(("port", "problem"), [(1, False), (65535, False), ("5000", False), (0, True),
                                               (65536, True), ("", True), ("²", True), (True, True), ("-1", True)])
def test_a_port_is_a_number_from_1_to_65535(port, problem):
    assert (port_problem(port) is not None) is problem


def test_address_host_is_what_a_resolver_takes():
    assert address_host("[2001:db8::1]:5000") == "2001:db8::1"
    assert address_host("registry.example.com:5000") == "registry.example.com"
    assert address_host("registry.example.com") == "registry.example.com"


def test_as_ip_is_an_address_or_none():
    assert str(as_ip("192.0.2.10")) == "192.0.2.10" and str(as_ip("2001:db8::1")) == "2001:db8::1"
    assert as_ip("registry") is None and as_ip("[2001:db8::1]") is None and as_ip(3232235521) is None


def test_an_ipv4_address_in_brackets_is_no_name():
    """name_problem took it (and wrote IP:192.0.2.10) where the mirror's URL and image references refuse it."""
    assert "IPv4 address in brackets" in name_problem("[192.0.2.10]")
    assert name_problem("[2001:db8::1]") is None
