"""Writes the guides of the collection's documentation site from docs/guides/.

Every file of docs/guides/ is one guide: its `#` heading is the page's title, its `##` and `###` headings the page's
sections. Each becomes a page of docs/docsite/rst/, listed in docs/docsite/extra-docs.yml (the extra documentation
that antsibull-docs adds to the collection's page, on the Ansible documentation site and in `make docs`) in the order
the "Read on" section of README.md links them. The guides stay the one text to edit; these files are generated.

    .venv/bin/python scripts/docsite_guides.py           rewrite docs/docsite from docs/guides
    .venv/bin/python scripts/docsite_guides.py --check   exit 1 when docs/docsite is stale
"""

from __future__ import annotations

import argparse
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from m2r2.m2r2 import BaseM2R2
from m2r2.rst.renderer import RestRenderer

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GUIDES = ROOT / "docs" / "guides"
DOCSITE = ROOT / "docs" / "docsite"
COLLECTION = "{namespace}.{name}".format(**yaml.safe_load((ROOT / "galaxy.yml").read_text()))
# antsibull-docs requires labels of extra docs to carry this prefix.
LABEL_PREFIX = f"ansible_collections.{COLLECTION}.docsite."
SECTION_TITLE = "Guides"
# The README's section whose links to the guides give the pages' order.
READ_ON = "Read on"

_HEADING = re.compile(r"^(#{1,6}) +(.+?) *#*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_HTML_COMMENT = re.compile(r"<!--.*?-->\n?", re.DOTALL)
_GUIDE_NAME = re.compile(r"^[a-z0-9_]+\.md$")
_GUIDE_LINK = re.compile(r"\]\(docs/guides/([^)#]+)(?:#[^)]*)?\)")


class GuideError(ValueError):
    """A guide has something the documentation site cannot show."""


def anchor(title: str) -> str:
    """The anchor GitHub gives a heading, which links between guides use."""
    return re.sub(r"[^\w\- ]", "", title.lower()).replace(" ", "-")


def headings(markdown: str) -> list[tuple[int, str]]:
    """(level, title) of the Markdown's headings, those inside code blocks left alone."""
    found = []
    fence = None
    for line in markdown.splitlines():
        opened = _FENCE.match(line)
        if opened and (fence is None or opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence)):
            fence = None if fence else opened.group(1)
            continue
        heading = None if fence else _HEADING.match(line)
        if heading:
            found.append((len(heading.group(1)), heading.group(2).strip()))
    return found


@dataclass
class Guide:
    name: str  # the file's name in docs/guides
    markdown: str
    title: str = ""
    sections: dict[str, str] = field(default_factory=dict)  # anchor -> label, of the `##` to `######` headings

    def __post_init__(self):
        where = f"docs/guides/{self.name}"
        if not _GUIDE_NAME.match(self.name):
            raise GuideError(f"{where}: a guide's file name is its page name: lower-case letters, digits and _, then .md")
        markdown = _HTML_COMMENT.sub("", self.markdown)
        found = headings(markdown)
        titles = [title for level, title in found if level == 1]
        first = next((line for line in markdown.splitlines() if line.strip()), "")
        if len(titles) != 1 or not first.startswith("# "):
            raise GuideError(f"{where}: a guide begins with its one `#` heading, the page's title")
        self.title = titles[0]
        anchors = [anchor(title) for level, title in found if level > 1]
        repeated = sorted({name for name in anchors if anchors.count(name) > 1})
        if repeated:
            raise GuideError(f"{where}: sections with the same anchor ({', '.join(repeated)}): give them distinct titles")
        self.sections = {name: f"{self.label}.{name}" for name in anchors}

    @property
    def slug(self) -> str:
        return self.name.removesuffix(".md")

    @property
    def label(self) -> str:
        return LABEL_PREFIX + self.slug


def read_on_order(readme: str) -> list[str]:
    """The guides' file names in the order README.md's "Read on" section first links them."""
    sections = re.split(r"^## +", readme, flags=re.MULTILINE)
    section = next((text for text in sections if text.startswith(f"{READ_ON}\n")), None)
    if section is None:
        raise GuideError(f"README.md has no `## {READ_ON}` section, whose links to docs/guides/ order the guides")
    return list(dict.fromkeys(_GUIDE_LINK.findall(section)))


def load(readme: str, sources: dict[str, str]) -> list[Guide]:
    """The guides (file name -> Markdown), in the order of the README's "Read on" section, which lists each."""
    order = read_on_order(readme)
    missing = sorted(name for name in order if name not in sources)
    if missing:
        raise GuideError(f"README.md, section {READ_ON!r}: links to guides that docs/guides/ lacks: {', '.join(missing)}")
    unlisted = sorted(name for name in sources if name not in order)
    if unlisted:
        raise GuideError(f"README.md, section {READ_ON!r}: does not link docs/guides/{', docs/guides/'.join(unlisted)}: "
                         "list every guide there")
    return [Guide(name, sources[name]) for name in order]


class _GuideRenderer(RestRenderer):
    """m2r2's renderer, with a label before every section, links to guides and their sections as references to the
    pages, code without a language as text, and any other link that is not a full URL refused."""

    unlabeled_code_block_start = "\n.. code-block:: text\n\n"

    def __init__(self, guides: dict[str, Guide], guide: Guide):
        super().__init__(anonymous_references=True)
        self.guides = guides
        self.guide = guide
        self.in_table = False

    def _refuse(self, problem: str) -> GuideError:
        return GuideError(f"docs/guides/{self.guide.name}: {problem}")

    def heading(self, token, state):
        rendered = super().heading(token, state)
        if token["attrs"]["level"] == 1:
            return rendered
        title = "".join(_raw_text(child) for child in token["children"])
        label = self.guide.sections.get(anchor(title))
        if label is None:
            raise self._refuse(f"the heading {title!r} has no plain title the guide's links can name")
        return f"\n.. _{label}:\n{rendered}"

    def table(self, token, state):
        self.in_table = True
        try:
            return super().table(token, state)
        finally:
            self.in_table = False

    def codespan(self, token, state):
        # In a GitHub table, `\|` is a pipe that does not end the cell, inside code too.
        if self.in_table:
            token = {**token, "raw": token.get("raw", "").replace("\\|", "|")}
        return super().codespan(token, state)

    def link(self, token, state):
        url = token["attrs"]["url"]
        if re.match(r"^(https?|mailto):", url):
            return super().link(token, state)
        name, _hash, section = url.partition("#")
        target = self.guides.get(name) if name else self.guide
        if target is None:
            raise self._refuse(f"the link {url} has no page on the documentation site: link to a guide (its_name.md), "
                               "a section (#its-anchor, its_name.md#its-anchor) or give a full URL")
        label = target.label if section in ("", anchor(target.title)) else target.sections.get(section)
        if label is None:
            raise self._refuse(f"the link {url} names no `##` or `###` section of docs/guides/{target.name}")
        text = "".join(_raw_text(child) for child in token["children"]).replace("`", "")
        return f":ref:`{text} <{label}>`"


def _raw_text(token: dict) -> str:
    """A token's text as written, a line break within it as a space."""
    if token.get("type") in ("softbreak", "linebreak"):
        return " "
    return token.get("raw", "") + "".join(_raw_text(child) for child in token.get("children") or [])


def render(guide: Guide, guides: dict[str, Guide]) -> str:
    markdown = _HTML_COMMENT.sub("", guide.markdown)
    convert = BaseM2R2(renderer=_GuideRenderer(guides, guide), inline_math=None)
    rst = convert(markdown).strip("\n")
    generated = f".. Generated by scripts/docsite_guides.py from docs/guides/{guide.name}: edit the guide, not this file."
    return f"{generated}\n\n.. _{guide.label}:\n\n{rst}\n"


def generate(readme: str, sources: dict[str, str]) -> dict[str, str]:
    """docs/docsite's files (relative path -> content) for these guides (file name -> Markdown)."""
    guides = load(readme, sources)
    by_name = {guide.name: guide for guide in guides}
    files = {f"rst/{guide.slug}.rst": render(guide, by_name) for guide in guides}
    files["extra-docs.yml"] = "".join([
        f"---\n# Generated by scripts/docsite_guides.py from docs/guides/, in the order of README.md's {READ_ON}.\n",
        f"sections:\n  - title: {SECTION_TITLE}\n    toctree:\n",
        *(f"      - {guide.slug}\n" for guide in guides),
    ])
    return files


def sources() -> dict[str, str]:
    """The guides of docs/guides, by file name."""
    return {path.name: path.read_text() for path in sorted(GUIDES.glob("*.md"))}


def current() -> dict[str, str]:
    """What docs/docsite holds now, in the same form (the files this script owns)."""
    owned = [DOCSITE / "extra-docs.yml", *sorted((DOCSITE / "rst").glob("*.rst"))]
    return {path.relative_to(DOCSITE).as_posix(): path.read_text() for path in owned if path.is_file()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/docsite differs from docs/guides")
    args = parser.parse_args(argv)
    try:
        wanted = generate(README.read_text(), sources())
    except GuideError as error:
        print(error, file=sys.stderr)
        return 1
    found = current()
    if args.check:
        stale = sorted(name for name in wanted.keys() | found.keys() if wanted.get(name) != found.get(name))
        if stale:
            print(f"docs/docsite is stale ({', '.join(stale)}): run .venv/bin/python scripts/docsite_guides.py",
                  file=sys.stderr)
            return 1
        return 0
    for name in found.keys() - wanted.keys():
        (DOCSITE / name).unlink()
    for name, content in wanted.items():
        (DOCSITE / name).parent.mkdir(parents=True, exist_ok=True)
        (DOCSITE / name).write_text(content)
    return 0


if __name__ == "__main__":
    sys.exit(main())
