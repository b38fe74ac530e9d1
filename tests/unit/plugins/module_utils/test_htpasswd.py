"""The registry's htpasswd file: bcrypt only, stable across runs, and checks that never quote a password."""

import bcrypt
import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._htpasswd import (
    htpasswd_content,
    user_problems,
)

USERS = [{"name": "ci", "password": "s3cret-ci", "role": "push"}, {"name": "node", "password": "n0de pass", "role": "pull"}]


KEY = "the registry's http secret"


def parse_htpasswd(content: str) -> dict[str, str]:
    """The hashes of an htpasswd file by account name, in the file's order."""
    return dict(line.split(":", 1) for line in content.splitlines())


def test_every_line_is_a_bcrypt_hash_of_its_password_at_the_cost_asked():
    content = htpasswd_content(USERS, KEY, cost=4)
    entries = parse_htpasswd(content)
    assert list(entries) == ["ci", "node"]
    for user in USERS:
        hashed = entries[user["name"]]
        assert hashed.startswith("$2b$04$")
        assert bcrypt.checkpw(user["password"].encode(), hashed.encode())
    assert content.endswith("\n") and content.count("\n") == 2


def test_unchanged_passwords_hash_to_the_same_file_so_a_rerun_changes_nothing():
    assert htpasswd_content(USERS, KEY, cost=4) == htpasswd_content(USERS, KEY, cost=4)


def test_salts_differ_between_accounts_and_between_keys():
    same_password = [{"name": "ci", "password": "shared"}, {"name": "node", "password": "shared"}]
    entries = parse_htpasswd(htpasswd_content(same_password, KEY, cost=4))
    assert entries["ci"][:29] != entries["node"][:29]  # "$2b$04$" and the 22 characters of the salt
    other_site = parse_htpasswd(htpasswd_content(same_password, "another site's secret", cost=4))
    assert other_site["ci"] != entries["ci"]


def test_a_changed_password_gets_a_new_hash_and_the_others_stay():
    first = parse_htpasswd(htpasswd_content(USERS, KEY, cost=4))
    changed = [USERS[0], {"name": "node", "password": "another one"}]
    second = parse_htpasswd(htpasswd_content(changed, KEY, cost=4))
    assert second["ci"] == first["ci"]
    assert second["node"] != first["node"]
    assert bcrypt.checkpw(b"another one", second["node"].encode())
    assert not bcrypt.checkpw(b"n0de pass", second["node"].encode())


def test_a_new_cost_rehashes_and_accounts_not_listed_are_dropped():
    kept = parse_htpasswd(htpasswd_content(USERS[:1], KEY, cost=5))
    assert list(kept) == ["ci"]
    assert kept["ci"].startswith("$2b$05$")


@pytest.mark.parametrize(("users", "says"), [
    ("ci:secret", "must be a list"),
    ([["ci", "secret"]], "entry 0: must be a mapping"),
    ([{"name": "ci"}], "entry 0 (ci): password must be a non-empty string"),
    ([{"name": "ci", "password": ""}], "password must be a non-empty string"),
    ([{"name": "c:i", "password": "x"}], "entry 0: name must be"),
    ([{"name": "", "password": "x"}], "entry 0: name must be"),
    ([{"name": "ci", "password": "x"}, {"name": "ci", "password": "y"}], "entry 1: name 'ci' is listed twice"),
    ([{"name": "ci", "password": "x" * 73}], "longer than 72 bytes"),
    ([{"name": "ci", "password": "a\nb"}], "line breaks"),
    ([{"name": "ci", "password": "x", "role": "push", "passwd": "y"}], "unknown keys passwd"),
    ([{"name": "ci", "password": "x"}], "entry 0 (ci): role must be pull (a Docker host's login: reads only) or push"),
    ([{"name": "ci", "password": "x", "role": "admin"}], "role must be pull"),
    ([{"name": "node", "password": "x", "role": "pull", "repositories": ["team-a/*"]}],
     "entry 0 (node): repositories limits what a push account may change; a pull account reads every repository"),
    ([{"name": "ci", "password": "x", "role": "push", "repositories": []}], "repositories must be a non-empty list"),
    ([{"name": "ci", "password": "x", "role": "push", "repositories": "team-a/*"}], "repositories must be a non-empty"),
    ([{"name": "ci", "password": "x", "role": "push", "repositories": ["team-a"]}], "not ['team-a']"),
    ([{"name": "ci", "password": "x", "role": "push", "repositories": ["Team-A/*"]}], "ending in /*"),
    ([{"name": "ci", "password": "x", "role": "push", "repositories": ["team-a/../b/*"]}], "ending in /*"),
    ([{"name": "ci", "password": "x", "role": "push", "repositories": ["team%2fa/*"]}], "ending in /*"),
    ([{"name": "ci", "password": "x", "role": "push", "repositories": ["*"]}], "ending in /*"),
])
def test_problems_name_the_entry_and_never_the_password(users, says):
    problems = user_problems(users)
    assert any(says in problem for problem in problems), problems
    for user in users if isinstance(users, list) else []:
        password = user.get("password") if isinstance(user, dict) else None
        if password and len(password) > 1:
            assert all(password not in problem for problem in problems)


def test_valid_accounts_and_none_have_no_problems():
    assert user_problems(USERS) == []
    assert user_problems([{"name": "ci", "password": "x", "role": "push",
                           "repositories": ["team-a/*", "shared/base-images/*", "a.b__c/d-e/*"]}]) == []
    assert user_problems(None) == []
    assert user_problems([]) == []


def test_the_internal_account_needs_no_role_where_a_registry_users_entry_does():
    internal = [{"name": "dockyard-proxy", "password": "x" * 64}]
    assert user_problems(internal, require_role=False) == []
    assert any("role must be" in problem for problem in user_problems(internal))
    assert parse_htpasswd(htpasswd_content(internal, KEY, cost=4)).keys() == {"dockyard-proxy"}


def test_bad_accounts_cost_or_key_refuse_to_make_a_file():
    with pytest.raises(ValueError, match="password must be a non-empty string"):
        htpasswd_content([{"name": "ci", "password": ""}], KEY)
    with pytest.raises(ValueError, match="cost must be an integer from 4 to 31"):
        htpasswd_content(USERS, KEY, cost=3)
    with pytest.raises(ValueError, match="the salt key is empty"):
        htpasswd_content(USERS, "", cost=4)
