# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: registry_retention
short_description: Delete the tags of a registry that no retention rule keeps, by digest
version_added: 0.3.0
description:
  - Reads every repository of the registry's catalog that a rule of O(rules) matches, each of its tags, the manifest
    each tag points to and the image's config, and decides which tags stay (see O(rules)). What no rule keeps is
    deleted by digest through the registry API (C(DELETE /v2/<name>/manifests/<digest>)), which also removes every
    other tag of that digest.
  - "A digest stays, whatever its tags: while a kept tag points to it; while a kept multi-platform image (an image
    index or manifest list) lists it; while it is the subject of a kept signature. Signature tags of cosign
    (C(sha256-<hex>.sig), C(.att), C(.sbom)) are not judged by the rules: they stay while the digest they name stays,
    and are deleted with it."
  - The platforms of a deleted image index are deleted with it, unless something kept needs them; indexes go before
    their platforms.
  - A repository no rule matches is left alone. An image whose creation time cannot be read (no C(created) in its
    config, or an artifact that is no image) is never deleted for its age; it stays.
  - Deleting frees no disk by itself; garbage collection (C(playbooks/retention.yml) runs it next, as
    C(playbooks/gc.yml) does) removes the blobs nothing references any more.
  - Deleting needs an account of role C(push) (the registry's authenticating proxy lets only push accounts delete,
    and a push account with C(repositories) only under them) and a registry with deletes enabled, not read-only.
  - Trusts for the registry what the Docker daemon on the same host trusts (the system roots and every C(*.crt) in
    C(/etc/docker/certs.d/<host:port>/)), unless O(ca_path) is given.
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.ACTIONGROUP
  - dockyard.registry._registry
attributes:
  check_mode:
    support: full
    details:
      - Reads the registry and lists in RV(deleted) what would be deleted, deleting nothing.
  diff_mode:
    support: full
    details:
      - The diff lists each repository's tags before and after.
  idempotent:
    support: full
    details:
      - A second run with the same rules deletes nothing, unless an image has grown older than O(rules[].keep_days)
        meanwhile.
options:
  registry:
    description:
      - The registry's address, C(host:port), as clients push to it, for example V(registry.example.com:5000).
    type: str
    required: true
  rules:
    description:
      - What to keep, per repository. Each repository of the catalog follows the first rule whose O(rules[].repository)
        matches it; a tag stays if any of O(rules[].keep_newest), O(rules[].keep_tags) and O(rules[].keep_days) keeps
        it.
      - Every rule is checked before the registry is asked anything; a wrong one fails the task naming it, and
        nothing is deleted.
    type: list
    elements: dict
    required: true
    suboptions:
      repository:
        description:
          - The repositories the rule applies to, a shell-style glob matched against the whole name (C(*) also
            matches C(/)), for example V(team-a/*) or V(*).
        type: str
        required: true
      keep_newest:
        description:
          - Keep the tags of the N newest images, by the C(created) time of the image's config (for a multi-platform
            image, the newest of its platforms). Tags of the same image count once each.
          - V(0) keeps none by this rule.
        type: int
      keep_tags:
        description:
          - Keep the tags that one of these Python regular expressions matches as a whole, for example
            V(latest) or V(v\\d+\\.\\d+\\.\\d+).
        type: list
        elements: str
      keep_days:
        description:
          - Keep the tags of images created fewer than this many days ago.
        type: int
  insecure:
    description:
      - Treat the registry as the Docker daemon treats one in its C(insecure-registries), TLS without verification
        (credentials are then not sent).
    type: bool
    default: false
notes:
  - Distribution refuses deletes unless C(storage.delete.enabled) is set, as the registry_server role sets it, and
    while the registry is read-only.
seealso:
  - module: dockyard.registry.registry_gc_guard
"""

EXAMPLES = r"""
- name: Keep releases, the five newest builds and anything from the last two weeks
  dockyard.registry.registry_retention:
    registry: registry.example.com:5000
    username: dockyard
    password: "{{ registry_push_password }}"
    rules:
      - repository: team-a/*
        keep_tags: ['latest', 'v\d+\.\d+\.\d+']
        keep_newest: 5
        keep_days: 14
      - repository: sandbox/*
        keep_newest: 0
  check_mode: true
  register: retention
"""

RETURN = r"""
deleted:
  description: Each manifest deleted, or in check mode that would be, as C(<repository>@<digest>).
  returned: always
  type: list
  elements: str
repositories:
  description:
    - Per repository a rule matched, the rule's glob (C(rule)), the tags kept with every reason each is kept
      (C(kept), each with C(tag), C(digest), C(reasons)), and the digests deleted (C(deleted), each with C(digest),
      the C(tags) that went with it and the C(reason)).
  returned: always
  type: dict
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import RegistryError
from ansible_collections.dockyard.registry.plugins.module_utils._registry.options import (
    connection_argument_spec,
    connection_requirements,
)
from ansible_collections.dockyard.registry.plugins.module_utils._registry.retention import (
    RULE_OPTIONS,
    RetentionRuleError,
    run_retention,
)


def argument_spec() -> dict:
    spec = connection_argument_spec()
    spec.update(
        registry={"type": "str", "required": True},
        rules={"type": "list", "elements": "dict", "required": True, "options": RULE_OPTIONS},
        insecure={"type": "bool", "default": False},
    )
    return spec


def main() -> None:
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True, **connection_requirements())
    try:
        result = run_retention(module.params, module.check_mode)
    except (RetentionRuleError, RegistryError) as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(**result)


if __name__ == "__main__":
    main()
