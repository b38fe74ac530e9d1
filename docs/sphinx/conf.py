"""Sphinx settings of the collection's documentation site (`make docs`), as the Ansible documentation site builds it.

antsibull-docs writes the RST (every plugin, module and role, and the guides of docs/docsite); Sphinx renders it with
the Ansible theme. Every warning fails the build, and every reference must resolve.
"""

from __future__ import annotations

from pathlib import Path

import yaml
from docutils import nodes

GALAXY = yaml.safe_load((Path(__file__).resolve().parents[2] / "galaxy.yml").read_text())

project = "{namespace}.{name}".format(**GALAXY)
copyright = "dockyard maintainers"
title = html_short_title = project

extensions = ["sphinx_antsibull_ext"]
pygments_style = "ansible"
highlight_language = "YAML+Jinja"

html_theme = "sphinx_ansible_theme"
# The logo goes to where the site is published (the theme's default, "/", is the root of whatever serves it).
html_theme_options = {"documentation_home_url": GALAXY["documentation"], "show_rtd_ethical_ads": False}
html_show_sphinx = False
html_use_smartypants = True
html_use_modindex = False
html_use_index = False
html_copy_source = False
display_version = False

default_role = "any"
nitpicky = True

# References to the rest of the Ansible documentation (other collections' plugins, ansible-core's pages) resolve on
# docs.ansible.com. intersphinx would download their inventories, which a build must not depend on: they become
# links by the documentation site's layout instead.
ANSIBLE_DOCS = "https://docs.ansible.com/projects/ansible/latest/"
ANSIBLE_CORE_PAGES = {
    "common_return_values": "reference_appendices/common_return_values.html",
    "ansible_configuration_settings": "reference_appendices/config.html",
    # The notes antsibull-docs puts on the page of a callback plugin, and of a module with an action plugin.
    "callback_plugins": "plugins/callback.html",
    "action_plugins": "plugins/action.html",
}
OWN_LABELS = f"ansible_collections.{project}."


def _ansible_docs_url(label: str) -> str | None:
    if label in ANSIBLE_CORE_PAGES:
        return ANSIBLE_DOCS + ANSIBLE_CORE_PAGES[label]
    parts = label.split(".")
    if label.startswith(OWN_LABELS) or len(parts) != 4 or parts[0] != "ansible_collections":
        return None
    namespace, name, page = parts[1:]
    return f"{ANSIBLE_DOCS}collections/{namespace}/{name}/{page}.html"


def link_the_ansible_documentation(app, env, node, contnode):
    if node.get("refdomain") != "std" or node.get("reftype") != "ref":
        return None
    url = _ansible_docs_url(node["reftarget"])
    if url is None:
        return None
    reference = nodes.reference("", "", internal=False, refuri=url)
    reference += contnode
    return reference


def setup(app):
    app.connect("missing-reference", link_the_ansible_documentation)
