# Copyright (c) 2026, dockyard maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: host_requirements
short_description: Find which Python libraries the collection's modules need on a host, and the OS packages that bring them
version_added: 0.2.0
description:
  - Tells, for the Python interpreter Ansible runs modules with on the host, which of the libraries in O(libraries)
    are installed at a version the collection's modules accept, and which are missing or too old.
  - Names the OS packages that bring the missing ones for the host's package manager (APT, DNF, YUM, Zypper or
    APK), so that a play can install them, or fail naming them, before any module needs them.
  - Reads the libraries' metadata only; it imports none of them and changes nothing.
  - Fails a host whose interpreter is older than Python 3.11, the oldest the collection's modules run with.
  - Asks the host with one command and Python's standard library only (the action plugin sends a short script to the
    host's interpreter, discovered as Ansible discovers it where C(ansible_python_interpreter) is not set). Nothing of
    the collection, nor Ansible's module wrapper, has to run there yet.
author:
  - dockyard maintainers (@dockyard)
extends_documentation_fragment:
  - dockyard.registry._attributes
  - dockyard.registry._attributes.ACTION
  - dockyard.registry._attributes.READ_ONLY
options:
  libraries:
    description:
      - The libraries to look for, by the name the modules import them with.
      - V(cryptography) (3.1 or newer) for the registry host's key and certificate request and the probe's
        certificate checks; V(requests) (2.20.0 or newer) for registry API requests and community.docker's
        modules; V(docker), the Docker SDK for Python (5.0.0 or newer), for the Docker daemon API; V(tomlkit) (0.11.7 or
        newer) for the edit of containerd's C(config.toml). TOML is read with the standard library's C(tomllib).
    type: list
    elements: str
    choices: [cryptography, requests, docker, tomlkit]
    required: true
  docker_libraries:
    description:
      - Libraries to look for as well where the host has Docker (C(dockerd) installed or a Docker socket), which
        the modules that speak to the Docker daemon import.
    type: list
    elements: str
    choices: [cryptography, requests, docker, tomlkit]
    default: []
  install_allowed:
    description:
      - Not given, the module only reports. Given, it also fails where libraries are missing and cannot be installed
        from the OS packages (V(false), no package manager the collection knows, or an interpreter that does not see
        the OS packages), naming for the host what to install or set.
    type: bool
  docker_socket:
    description:
      - Also ask the Docker daemon on this Unix socket for C(/_ping), without any library, and say in
        RV(docker_answers) whether it answered.
    type: path
seealso:
  - module: ansible.builtin.package
"""

EXAMPLES = r"""
- name: Find the libraries the collection's modules need here
  dockyard.registry.host_requirements:
    libraries: [cryptography, requests, docker]
  register: _requirements

- name: Install the missing ones from the OS packages
  ansible.builtin.package:
    name: "{{ _requirements.packages }}"
  when: _requirements.packages | length > 0
"""

RETURN = r"""
interpreter:
  description: The Python interpreter the module ran with, which is the one the collection's modules run with.
  returned: always
  type: str
  sample: /usr/bin/python3
found:
  description:
    - The version of each library of O(libraries) that is installed, V(null) for a missing one.
  returned: always
  type: dict
  sample: {cryptography: 38.0.4, requests: 2.28.1, docker: null}
missing:
  description: The libraries of O(libraries) that are missing or older than the collection accepts.
  returned: always
  type: list
  elements: str
  sample: [docker]
problems:
  description: One line per library of RV(missing), saying what is wrong and what the library is needed for.
  returned: always
  type: list
  elements: str
  sample: ["docker is missing (needed for the Docker daemon API of registry_image, registry_trust and docker_daemon_config)"]
package_manager:
  description: The host's package manager, V(apt), V(dnf), V(yum), V(zypper) or V(apk); V(null) when none is known.
  returned: always
  type: str
  sample: apt
packages:
  description: The OS packages that bring the libraries of RV(missing) with RV(package_manager); empty when none is known.
  returned: always
  type: list
  elements: str
  sample: [python3-docker]
docker_answers:
  description: Whether a Docker daemon answered C(/_ping) on O(docker_socket).
  returned: when O(docker_socket) is given
  type: bool
  sample: true
os_packages_visible:
  description:
    - Whether the interpreter sees the libraries of OS packages. A virtualenv made without
      C(--system-site-packages) does not, and installing OS packages does not help it.
  returned: always
  type: bool
  sample: true
"""
