"""The roles' public interface: argument specs, defaults and the variables guide agree with each other."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
import yaml

from ansible_collections.dockyard.registry.plugins.lookup import registry_addresses

ROOT = Path(__file__).resolve().parents[2]
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").exists())
# The collection's public contract: unprefixed, shared by several roles with one meaning and one default.
PUBLIC = {"registry_port", "registry_names", "registry_trust_mode", "registry_tls", "registry_image", "registry_image_source", "registry_users",
          "registry_image_archive", "registry_pki_dir", "registry_allow_anonymous", "registry_uid", "registry_storage",
          "registry_s3_endpoint", "registry_s3_bucket", "registry_s3_region", "registry_s3_root_directory",
          "registry_s3_access_key", "registry_s3_secret_key", "registry_s3_verify_tls", "registry_s3_redirect",
          "registry_cache_port", "registry_cache_password", "registry_cache_admin_password", "registry_cache_tls_dir",
          "registry_signature_policy", "registry_signature_public_keys"}


def load(role: str, *path: str):
    return yaml.safe_load((ROOT / "roles" / role / Path(*path)).read_text()) or {}


def spec_options(role: str) -> dict:
    return load(role, "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]


def test_every_role_has_an_argument_spec():
    assert set(ROLES) >= {"docker_engine", "registry_pki", "registry_server", "registry_trust", "registry_store",
                          "registry_cache", "registry_lb"}


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_lists_every_default_and_nothing_else(role):
    assert sorted(spec_options(role)) == sorted(load(role, "defaults", "main.yml"))


@pytest.mark.parametrize("role", ROLES)
def test_argument_spec_defaults_equal_defaults_main(role):
    defaults = load(role, "defaults", "main.yml")
    for name, option in spec_options(role).items():
        assert option.get("default") == defaults[name], f"{role}: {name}"


@pytest.mark.parametrize("role", ROLES)
def test_variables_carry_the_role_prefix_or_belong_to_the_contract(role):
    prefix = f"{role}_"
    strays = [name for name in spec_options(role) if not name.startswith(prefix) and name not in PUBLIC]
    assert strays == []


def test_shared_variables_mean_the_same_in_every_role():
    seen: dict[str, tuple[str, dict]] = {}
    for role in ROLES:
        for name, option in spec_options(role).items():
            if name not in PUBLIC:
                continue
            if name in seen:
                other_role, other = seen[name]
                for key in ("type", "default", "choices", "elements"):
                    assert option.get(key) == other.get(key), f"{name}.{key}: {role} vs {other_role}"
            else:
                seen[name] = (role, option)


def test_pki_writes_the_tls_files_where_the_server_reads_them():
    assert (load("registry_pki", "defaults", "main.yml")["registry_pki_server_dir"]
            == load("registry_server", "defaults", "main.yml")["registry_server_tls_dir"])


def test_variables_guide_table_is_current():
    spec = importlib.util.spec_from_file_location("variables_table", ROOT / "scripts" / "variables_table.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    guide = (ROOT / "docs" / "guides" / "variables.md").read_text()
    assert guide == module.render(guide), \
        "docs/guides/variables.md's variable table is stale: run .venv/bin/python scripts/variables_table.py"


def test_trust_finds_the_mirror_on_the_port_registry_server_publishes_it_by_default():
    # registry_trust finds the mirrors with the registry_addresses lookup, which reads registry_server_mirror_port from
    # the inventory and falls back on registry_server's default.
    port = load("registry_server", "defaults", "main.yml")["registry_server_mirror_port"]
    assert registry_addresses.MIRROR_PORT == port
    assert "query('dockyard.registry.registry_addresses', *registry_trust_registry_hosts, mirrors=true" in \
        (ROOT / "roles" / "registry_trust" / "vars" / "main.yml").read_text()
