"""The filters' error handling (plugin_utils/_filters), through the filters that use it."""

import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.registry.plugins.filter.accounts import FilterModule as AccountFilters
from ansible_collections.dockyard.registry.plugins.filter.registry import FilterModule as RegistryFilters
from ansible_collections.dockyard.registry.plugins.plugin_utils._filters import filter_errors


def test_a_value_error_fails_as_a_filter_error_that_names_the_filter():
    def refuse(value):
        raise ValueError(f"{value!r} is not a name")

    with pytest.raises(AnsibleFilterError, match=r"^dockyard\.registry\.example: 'x y' is not a name$") as caught:
        filter_errors("example", refuse)("x y")
    assert isinstance(caught.value.__cause__, ValueError)


def test_what_the_function_returns_and_other_errors_pass_through():
    assert filter_errors("example", lambda value, more=1: value + more)(1, more=2) == 3
    with pytest.raises(TypeError):
        filter_errors("example", lambda value: value + "")(1)


@pytest.mark.parametrize("name, args", [
    ("san_entries", (["bad name!"],)),
    ("client_addresses", (["DNS:registry.example.com"], "no port")),
    ("missing_names", (["DNS:registry.example.com"], ["bad name!"])),
])
def test_the_registry_filters_name_themselves_in_their_errors(name, args):
    with pytest.raises(AnsibleFilterError, match=rf"^dockyard\.registry\.{name}: "):
        RegistryFilters().filters()[name](*args)


def test_the_htpasswd_filter_names_itself_in_its_errors():
    with pytest.raises(AnsibleFilterError, match=r"^dockyard\.registry\.htpasswd: "):
        AccountFilters().filters()["htpasswd"]([{"name": "a", "password": "p"}], "salt", cost="many")
