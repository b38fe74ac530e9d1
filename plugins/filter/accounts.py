# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the registry's accounts: checking registry_users and writing its htpasswd file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.registry.plugins.module_utils._htpasswd import bcrypt, htpasswd_content, user_problems


def _htpasswd(users, salt_key, cost=10):
    if bcrypt is None:
        raise AnsibleFilterError("dockyard.registry.htpasswd needs the Python library bcrypt on the controller:"
                                 " pip install bcrypt")
    try:
        return htpasswd_content(users, salt_key=str(salt_key), cost=int(cost))
    except ValueError as exc:
        # The messages name entries and problems, never passwords.
        raise AnsibleFilterError(f"dockyard.registry.htpasswd: {exc}") from exc


class FilterModule:
    """Registry accounts."""

    def filters(self):
        return {
            "user_problems": user_problems,
            "htpasswd": _htpasswd,
        }
