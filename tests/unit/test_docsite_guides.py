"""The documentation site's guides: docs/docsite as scripts/docsite_guides.py writes it from the README's sections."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("docsite_guides", ROOT / "scripts" / "docsite_guides.py")
guides = sys.modules["docsite_guides"] = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(guides)

LABEL = "ansible_collections.dockyard.registry.docsite."
README = """\
# Title

A summary the collection's page has already.

## Quick start

```sh
## not a heading: inside a code block
make site
```

### The insecure fallback (opt-in)

Text.

## Garbage collection

See [the fallback](#the-insecure-fallback-opt-in) and [Distribution](https://distribution.github.io/distribution/).

```
plain text
```

| variable | default |
| --- | --- |
| `registry_trust_registry_hosts` | `'{{ groups['registry'] \\| default([]) }}'` |
"""


def test_docsite_is_what_the_readme_makes():
    assert guides.main(["--check"]) == 0, "docs/docsite is stale: run .venv/bin/python scripts/docsite_guides.py"


def test_extra_docs_lists_every_guide_page_in_readme_order():
    index = yaml.safe_load((ROOT / "docs" / "docsite" / "extra-docs.yml").read_text())
    (section,) = index["sections"]
    pages = sorted(path.stem for path in (ROOT / "docs" / "docsite" / "rst").glob("*.rst"))
    assert sorted(section["toctree"]) == pages
    assert section["toctree"] == [guide.slug for guide in guides.split_guides((ROOT / "README.md").read_text())]


def test_level_two_and_three_sections_become_pages_and_code_blocks_stay_whole():
    found = guides.split_guides(README)
    assert [(guide.title, guide.slug) for guide in found] == [
        ("Quick start", "quick_start"),
        ("The insecure fallback (opt-in)", "the_insecure_fallback_opt_in"),
        ("Garbage collection", "garbage_collection"),
    ]
    assert "## not a heading: inside a code block\nmake site\n" in found[0].markdown
    assert "A summary" not in "".join(guide.markdown for guide in found)


def test_pages_carry_their_label_links_to_sections_become_references():
    files = guides.generate(README)
    assert sorted(files) == ["extra-docs.yml", "rst/garbage_collection.rst", "rst/quick_start.rst",
                             "rst/the_insecure_fallback_opt_in.rst"]
    page = files["rst/garbage_collection.rst"]
    assert page.startswith(f"{guides.GENERATED}\n\n.. _{LABEL}garbage_collection:\n\nGarbage collection\n---")
    assert f":ref:`the fallback <{LABEL}the_insecure_fallback_opt_in>`" in page
    assert "`Distribution <https://distribution.github.io/distribution/>`__" in page
    assert ".. code-block:: text\n\n   plain text" in page
    # A pipe escaped in a table cell is a pipe on the page.
    assert "``'{{ groups['registry'] | default([]) }}'``" in page
    assert yaml.safe_load(files["extra-docs.yml"]) == {"sections": [{"title": "Guides", "toctree": [
        "quick_start", "the_insecure_fallback_opt_in", "garbage_collection"]}]}


@pytest.mark.parametrize(("link", "message"), [
    ("[the docs](docs/build/html/index.html)",
     "section 'Quick start': the link docs/build/html/index.html has no page on the documentation site"),
    ("[rotation](#rotation)", "section 'Quick start': the link #rotation names no `##` or `###` section"),
])
def test_a_link_the_site_cannot_follow_is_refused_naming_it(link, message):
    with pytest.raises(guides.GuideError, match=message.replace("(", r"\(").replace(")", r"\)")):
        guides.generate(f"## Quick start\n\nSee {link}.\n")


def test_two_sections_with_one_page_name_are_refused():
    with pytest.raises(guides.GuideError, match=r"same page name \(quick_start\)"):
        guides.generate("## Quick start\n\nA.\n\n### Quick start!\n\nB.\n")
