# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters for the registry's accounts: checking registry_users and writing its htpasswd file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.dockyard.registry.plugins.module_utils._htpasswd import bcrypt, htpasswd_content, user_problems
from ansible_collections.dockyard.registry.plugins.plugin_utils._filters import filter_errors


def _htpasswd(users, salt_key, cost=10):
    if bcrypt is None:
        raise AnsibleFilterError("dockyard.registry.htpasswd needs the Python library bcrypt on the controller:"
                                 " pip install bcrypt")
    # The messages name entries and problems, never passwords.
    return htpasswd_content(users, salt_key=str(salt_key), cost=int(cost))


class FilterModule:
    """Registry accounts."""

    def filters(self):
        return {
            "user_problems": user_problems,
            "htpasswd": filter_errors("htpasswd", _htpasswd),
        }
