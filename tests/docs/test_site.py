"""The documentation site that `make docs` builds (docs/build/html), as a reader's browser shows it.

Headless Chromium (Debian's, driven through its chromium-driver) opens the index page and follows the site's own links
to every page it can reach. What must be there comes from the collection, not from a list kept here: every plugin
that ansible-doc finds in it, with every option and return value; every entry point of every role's
meta/argument_specs.yml, with every option; every guide of docs/docsite/extra-docs.yml. A screenshot of the index page
is kept in docs/build/screenshots/.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote, urldefrag, urlsplit

import pytest
import yaml
from selenium import webdriver

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))
import docsite_guides  # the script that writes the guides' pages from docs/guides

BIN = Path(sys.executable).parent
SITE = ROOT / "docs" / "build" / "html"
SCREENSHOTS = ROOT / "docs" / "build" / "screenshots"
COLLECTION = docsite_guides.COLLECTION
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
# Headless as root, and nothing that reaches for the network: without these Chromium hangs on closed connections.
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1600"]
# How antsibull-docs titles a filter's or test's input and result.
DISPLAYED = {"_input": "Input", "_terms": "Terms", "_value": "Return value", "_raw": "Return value"}

# What a page shows, read in the page itself: the option and return value titles with whether they are visible,
# every id a link may point at, every link, and docutils' error markers.
PAGE_FACTS = """
const visible = (el) => !!el && el.checkVisibility({visibilityProperty: true}) && el.getClientRects().length > 0;
const fields = {};
for (const anchor of document.querySelectorAll('.ansibleOptionAnchor[id]')) {
  const title = anchor.nextElementSibling;
  fields[anchor.id] = {text: title ? title.innerText.trim() : '', visible: visible(title)};
}
const h1 = document.querySelector('h1');
const title = h1 ? h1.cloneNode(true) : null;
if (title) title.querySelectorAll('.headerlink').forEach((link) => link.remove());
return {
  h1: title ? title.textContent.trim() : '',
  h1_visible: visible(h1),
  headings: Array.from(document.querySelectorAll('h2, h3')).filter(visible).map(h => h.innerText.trim()),
  ids: Array.from(document.querySelectorAll('[id]')).map(e => e.id)
         .concat(Array.from(document.querySelectorAll('a[name]')).map(a => a.name)),
  links: Array.from(document.querySelectorAll('a[href]')).map(a => a.href),
  fields: fields,
  problems: Array.from(document.querySelectorAll('.system-message, .problematic')).map(e => e.innerText),
};
"""


def collection_plugins() -> list[tuple[str, str, dict]]:
    """(plugin type, name, ansible-doc's documentation) of every plugin ansible-doc finds in the collection."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg")}
    proc = subprocess.run([str(BIN / "ansible-doc"), "--metadata-dump", COLLECTION], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"ansible-doc --metadata-dump {COLLECTION} failed:\n{proc.stderr}"
    dump = json.loads(proc.stdout)["all"]
    return sorted((plugin_type, fqcn.removeprefix(f"{COLLECTION}."), doc)
                  for plugin_type, plugins in dump.items() if plugin_type not in ("role", "keyword")
                  for fqcn, doc in plugins.items() if fqcn.startswith(f"{COLLECTION}."))


def role_entry_points() -> list[tuple[str, str, dict]]:
    """(role, entry point, its argument spec) of every role's meta/argument_specs.yml."""
    return [(spec_file.parent.parent.name, entry_point, spec)
            for spec_file in sorted(ROOT.glob("roles/*/meta/argument_specs.yml"))
            for entry_point, spec in yaml.safe_load(spec_file.read_text())["argument_specs"].items()]


def field_paths(fields: dict | None, nested: str, prefix: str = "") -> list[str]:
    """Paths of options (``nested="suboptions"`` or ``"options"``) or return values (``"contains"``), as antsibull-docs
    names their anchors: ``parent/child``."""
    paths = []
    for name, field in (fields or {}).items():
        paths.append(prefix + name)
        paths += field_paths(field.get(nested), nested, f"{prefix}{name}/")
    return paths


PLUGINS = collection_plugins()
ROLE_ENTRY_POINTS = role_entry_points()
GUIDES = docsite_guides.load(docsite_guides.README.read_text(), docsite_guides.sources())


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    assert (SITE / "index.html").is_file(), f"{SITE} has no index.html: run make docs"
    for program in (CHROMIUM, CHROMEDRIVER):
        assert program.is_file(), f"{program} is missing: make docs-deps installs Debian's chromium and chromium-driver"
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in [*CHROMIUM_FLAGS, f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}"]:
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=webdriver.ChromeService(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


def site_path(url: str) -> str | None:
    """The path inside the site of a link's target (no fragment), or None for a link that leaves the site."""
    target = urlsplit(urldefrag(url).url)
    if target.scheme != "file":
        return None
    path = Path(unquote(target.path))
    return path.relative_to(SITE).as_posix() if path.is_relative_to(SITE) else str(path)


@pytest.fixture(scope="module")
def site(browser) -> dict[str, dict]:
    """Every page reachable from index.html through the site's links, by path: what Chromium rendered."""
    pages: dict[str, dict] = {}
    queue = ["index.html"]
    while queue:
        page = queue.pop(0)
        if page in pages or not (SITE / page).is_file():
            continue
        browser.get((SITE / page).as_uri())
        facts = browser.execute_script(PAGE_FACTS)
        facts["console_errors"] = [entry["message"] for entry in browser.get_log("browser")
                                   if entry["level"] == "SEVERE"]
        pages[page] = facts
        queue += [path for path in map(site_path, facts["links"]) if path and path.endswith(".html")]
    return pages


def rendered(site: dict[str, dict], page: str) -> dict:
    assert page in site, f"{page} cannot be reached from index.html (reached: {sorted(site)})"
    facts = site[page]
    assert facts["h1_visible"], f"{page} shows no title"
    return facts


def assert_fields_shown(facts: dict, page: str, anchors: dict[str, str]) -> None:
    """Each anchor id has its title shown on the page, reading the option's or return value's name."""
    missing = sorted(anchor for anchor in anchors if anchor not in facts["fields"])
    assert missing == [], f"{page} lacks {missing}"
    hidden = sorted(anchor for anchor in anchors if not facts["fields"][anchor]["visible"])
    assert hidden == [], f"{page} does not show {hidden}"
    misnamed = {anchor: facts["fields"][anchor]["text"] for anchor, name in anchors.items()
                if facts["fields"][anchor]["text"] != name}
    assert misnamed == {}, f"{page} names these differently"


def test_the_collection_has_plugins_roles_and_guides_to_check():
    assert {plugin[0] for plugin in PLUGINS} >= {"module", "filter", "test"}
    assert ROLE_ENTRY_POINTS and GUIDES


@pytest.mark.parametrize(("plugin_type", "name", "doc"), PLUGINS, ids=[f"{plugin[0]}:{plugin[1]}" for plugin in PLUGINS])
def test_every_plugin_page_shows_its_options_and_return_values(site, plugin_type, name, doc):
    page = f"{name}_{plugin_type}.html"
    facts = rendered(site, page)
    assert facts["h1"].startswith(f"{COLLECTION}.{name} {plugin_type}"), facts["h1"]
    returns = doc.get("return") or {}
    anchors = {f"parameter-{path}": DISPLAYED.get(path, path.rsplit("/", 1)[-1])
               for path in field_paths(doc["doc"].get("options"), "suboptions")}
    anchors |= {f"return-{path}": DISPLAYED.get(path, path.rsplit("/", 1)[-1])
                for path in field_paths(returns, "contains")}
    assert anchors or plugin_type not in ("module", "filter"), f"{name} documents no option and no return value"
    assert_fields_shown(facts, page, anchors)


@pytest.mark.parametrize(("role", "entry_point", "spec"), ROLE_ENTRY_POINTS,
                         ids=[f"{entry[0]}:{entry[1]}" for entry in ROLE_ENTRY_POINTS])
def test_every_role_entry_point_shows_its_options(site, role, entry_point, spec):
    page = f"{role}_role.html"
    facts = rendered(site, page)
    assert facts["h1"].startswith(f"{COLLECTION}.{role} role"), facts["h1"]
    assert any(heading.startswith(f"Entry point {entry_point} ") for heading in facts["headings"]), facts["headings"]
    anchors = {f"parameter-{entry_point}--{path}": path.rsplit("/", 1)[-1]
               for path in field_paths(spec.get("options"), "options")}
    assert_fields_shown(facts, page, anchors)


@pytest.mark.parametrize("guide", GUIDES, ids=[guide.slug for guide in GUIDES])
def test_every_guide_is_a_page_with_its_sections(site, guide):
    facts = rendered(site, f"docsite/{guide.slug}.html")
    assert facts["h1"] == guide.title
    # Each section carries the label that links from other guides name, as docutils spells it in an id.
    missing = sorted(label for label in guide.sections.values()
                     if re.sub(r"[^a-z0-9]+", "-", label.lower()).strip("-") not in facts["ids"])
    assert missing == [], f"docsite/{guide.slug}.html lacks the anchors {missing}"


def test_no_page_shows_a_markup_error_or_logs_a_script_error(site):
    problems = {page: facts["problems"] + facts["console_errors"] for page, facts in site.items()
                if facts["problems"] or facts["console_errors"]}
    assert problems == {}


def test_no_internal_link_is_broken(site):
    broken = []
    for page, facts in site.items():
        for link in facts["links"]:
            path = site_path(link)
            if path is None:
                continue  # a link out of the site (https:, mailto:)
            fragment = urldefrag(link).fragment
            if path.startswith("/") or not (SITE / path).is_file():
                broken.append(f"{page} -> {link}")
            elif fragment and path in site and unquote(fragment) not in site[path]["ids"]:
                broken.append(f"{page} -> {path}#{fragment}")
    assert broken == []
    assert len(site) >= 1 + len(PLUGINS) + len({entry[0] for entry in ROLE_ENTRY_POINTS}) + len(GUIDES)


def test_index_page_screenshot(browser, site):
    """The whole index page, as the build's picture of the site."""
    facts = rendered(site, "index.html")
    assert COLLECTION in facts["h1"].lower()
    browser.get((SITE / "index.html").as_uri())
    size = browser.execute_cdp_cmd("Page.getLayoutMetrics", {})["cssContentSize"]
    width, height = int(size["width"]), int(size["height"])
    shot = browser.execute_cdp_cmd("Page.captureScreenshot", {
        "format": "png", "captureBeyondViewport": True,
        "clip": {"x": 0, "y": 0, "width": width, "height": height, "scale": 1}})
    png = base64.b64decode(shot["data"])
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    (SCREENSHOTS / "index.png").write_bytes(png)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert (int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")) == (width, height)
    assert height > 1600, "the index page lists the guides, plugins and roles below the fold"
