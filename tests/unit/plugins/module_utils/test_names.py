import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._names import (
    client_addresses,
    missing_names,
    name_problem,
    name_problems,
    san_entries,
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
