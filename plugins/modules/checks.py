# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: checks
short_description: Check many conditions in one task, each with its own message, and name every one that fails
version_added: 0.2.0
description:
  - Evaluates on the controller every check of O(checks) whose O(checks[].when) conditions all hold, like a chain
    of M(ansible.builtin.assert) tasks in one task, but without stopping at the first check that fails.
  - Fails when any of them does not hold, with the messages of all the checks that failed, one per line; otherwise
    reports how many checks passed.
  - The roles of the collection check their variables with it before any host changes.
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.ACTION
  - dockyard.registry._attributes.READ_ONLY
attributes:
  check_mode:
    details:
      - It only evaluates expressions on the controller; it returns the same in check mode.
options:
  checks:
    description:
      - The checks, evaluated in turn; every applicable one is evaluated even after one has failed.
    type: list
    elements: dict
    required: true
    suboptions:
      that:
        description:
          - The conditions that must all hold, bare Jinja expressions as in the O(ansible.builtin.assert#module:that)
            option of M(ansible.builtin.assert) or a task's C(when).
        type: list
        elements: str
        required: true
      msg:
        description:
          - The message that names the variable and the fix, shown when a condition of O(checks[].that) is false.
          - With ansible-core 2.19 or later it is templated only when its check fails, so it may refer to variables
            that are defined only where its check applies.
          - Older releases template every argument of the task before it runs, so there every message must template
            whether or not its check applies.
        type: str
        required: true
      when:
        description:
          - The conditions under which the check applies; it is skipped unless they all hold.
          - Not given, the check always applies.
        type: list
        elements: str
notes:
  - Runs on the controller only; it does not connect to the host.
  - The conditions of O(checks[].that) and O(checks[].when) are evaluated as conditionals, never templated as a whole.
  - A condition that cannot be evaluated (an undefined variable, say) fails its check, whose message then says why.
seealso:
  - module: ansible.builtin.assert
"""

EXAMPLES = r"""
- name: Check the role's variables
  dockyard.registry.checks:
    checks:
      - that: registry_image_source in ['pull', 'archive', 'package', 'auto']
        msg: >-
          registry_image_source must be one of pull, archive, package or auto;
          got {{ registry_image_source | to_json }}.
      - that:
          - registry_port | string is match('^[0-9]+$')
          - registry_port | int >= 1
          - registry_port | int <= 65535
        msg: "registry_port must be an integer from 1 to 65535; got {{ registry_port | to_json }}."
      # Checked only where the image comes from an archive.
      - when: registry_image_source == 'archive'
        that: registry_image_archive | length > 0
        msg: "registry_image_archive must name a docker save tarball when registry_image_source is archive."
"""

RETURN = r"""
msg:
  description:
    - The messages of the checks that failed, one per line.
    - Where all applicable checks pass, how many they were (and how many did not apply).
  returned: always
  type: str
  sample: All 14 checks passed (2 did not apply).
failed_checks:
  description: The message of each check that failed, in the order of O(checks).
  returned: failure
  type: list
  elements: str
  sample:
    - registry_port must be an integer from 1 to 65535; got 99999.
failed_assertions:
  description: For each check of RV(failed_checks), the condition of O(checks[].that) that was false.
  returned: failure
  type: list
  elements: str
  sample:
    - registry_port | int <= 65535
"""
