"""ansible-doc renders every role, module, filter and test of the collection, and says what the code does."""

from __future__ import annotations

import ast
import functools
import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
COLLECTION = "dockyard.registry"

ROLES = sorted(p.parent.parent.name for p in ROOT.glob("roles/*/meta/argument_specs.yml"))
MODULES = sorted(p.stem for p in ROOT.glob("plugins/modules/*.py") if p.stem != "__init__")
CALLBACKS = sorted(p.stem for p in ROOT.glob("plugins/callback/*.py") if p.stem != "__init__")


def _jinja_plugins(kind: str, class_name: str, method: str) -> list[str]:
    names = []
    for path in sorted(ROOT.glob(f"plugins/{kind}/*.py")):
        module = importlib.import_module(f"ansible_collections.dockyard.registry.plugins.{kind}.{path.stem}")
        names += getattr(getattr(module, class_name)(), method)()
    return sorted(names)


FILTERS = _jinja_plugins("filter", "FilterModule", "filters")
TESTS = _jinja_plugins("test", "TestModule", "tests")


# ansible-core 2.20 and 2.21 warn about their own internal collection when ansible-doc lists roles
# (ansible/ansible#85689): a warning about ansible-core itself, not about this collection.
_CORE_OWN_WARNING = re.compile(r"\[WARNING\]: Collection at '.*/ansible/_internal/ansible_collections/ansible/_protomatter' ")


@functools.cache
def ansible_doc(plugin_type: str, name: str) -> dict:
    """``ansible-doc --json`` of one plugin; fails the test on an error or a warning."""
    env = {**os.environ, "ANSIBLE_CONFIG": str(ROOT / "ansible.cfg"), "ANSIBLE_NOCOLOR": "1",
           "ANSIBLE_DEPRECATION_WARNINGS": "1"}
    args = [str(BIN / "ansible-doc"), "-t", plugin_type, "--json", f"{COLLECTION}.{name}"]
    proc = subprocess.run(args, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, f"{' '.join(args)} (exit {proc.returncode}):\n{proc.stderr}"
    stderr = "".join(line for line in proc.stderr.splitlines(keepends=True) if not _CORE_OWN_WARNING.search(line))
    assert "[WARNING]" not in stderr and "[ERROR]" not in stderr, proc.stderr
    docs = json.loads(proc.stdout)
    assert list(docs) == [f"{COLLECTION}.{name}"], f"ansible-doc found {list(docs)}"
    return docs[f"{COLLECTION}.{name}"]


def readme_parts() -> list[tuple[str, str]]:
    """(kind, name) of every part the README's table of parts names, in its order: `playbooks/<name>.yml`, and the
    names after a kind (`role`, `modules`, `lookup`, `callback`, `filters`, `tests`) up to the next kind."""
    readme = (ROOT / "README.md").read_text()
    table = readme.split("\n## Parts\n", 1)[1].split("\n## ", 1)[0]
    cells = [line.split(" | ", 1)[0].removeprefix("| ") for line in table.splitlines() if line.startswith("| ")][2:]
    parts = []
    for cell in cells:
        kind = None
        for word in re.findall(r"`[^`]+`|\w+", cell):
            if word.startswith("`playbooks/"):
                parts.append(("playbook", word.strip("`").removeprefix("playbooks/").removesuffix(".yml")))
            elif word.startswith("`"):
                assert kind, f"README.md's table of parts: {word} has no kind before it: {cell}"
                parts.append((kind, word.strip("`")))
            else:
                kind = word.removesuffix("s")
    return parts


def test_the_readme_lists_every_part_of_the_collection_once():
    listed = readme_parts()
    twice = sorted({part for part in listed if listed.count(part) > 1})
    assert twice == []
    collection = {
        "role": ROLES, "module": MODULES, "callback": CALLBACKS, "filter": FILTERS, "test": TESTS,
        "playbook": sorted(p.stem for p in ROOT.glob("playbooks/*.yml")),
        "lookup": sorted(p.stem for p in ROOT.glob("plugins/lookup/*.py") if p.stem != "__init__"),
    }
    assert sorted(listed) == sorted((kind, name) for kind, names in collection.items() for name in names)


@pytest.mark.parametrize("role", ROLES)
def test_role_documentation_renders_with_every_default(role):
    doc = ansible_doc("role", role)
    main = doc["entry_points"]["main"]
    assert main["short_description"]
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text()) or {}
    assert sorted(main["options"]) == sorted(defaults)
    undocumented = [name for name, option in main["options"].items() if not option.get("description")]
    assert undocumented == []


@pytest.mark.parametrize("module", MODULES)
def test_module_documentation_renders_with_attributes(module):
    doc = ansible_doc("module", module)["doc"]
    assert doc["short_description"] and doc["description"]
    attributes = doc.get("attributes", {})
    assert set(attributes) >= {"check_mode", "diff_mode", "idempotent"}
    for name, attribute in attributes.items():
        assert attribute["support"] in ("full", "partial", "none", "N/A"), name
        if attribute["support"] == "partial":
            assert attribute.get("details"), f"{name}: partial support must say what is missing"


def _collection_sources(path: Path, seen: set | None = None) -> list[Path]:
    """``path`` and every module_utils file of the collection it imports, directly or through another."""
    seen = seen if seen is not None else set()
    if path in seen:
        return []
    seen.add(path)
    sources = [path]
    prefix = "ansible_collections.dockyard.registry.plugins.module_utils."
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(prefix):
            imported = ROOT / "plugins" / "module_utils" / Path(*node.module[len(prefix):].split("."))
            if imported.is_dir():  # from a package, its modules by name
                for alias in node.names:
                    sources += _collection_sources(imported / f"{alias.name}.py", seen)
            else:
                sources += _collection_sources(imported.with_suffix(".py"), seen)
    return sources


def _module_source_facts(module: str) -> tuple[bool, bool]:
    """(supports_check_mode given to AnsibleModule, whether the module or its module_utils return a ``diff``)."""
    supports_check_mode = False
    returns_diff = False
    nodes = [node for source in _collection_sources(ROOT / "plugins" / "modules" / f"{module}.py")
             for node in ast.walk(ast.parse(source.read_text()))]
    for node in nodes:
        if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "AnsibleModule":
            for keyword in node.keywords:
                if keyword.arg == "supports_check_mode":
                    supports_check_mode = bool(ast.literal_eval(keyword.value))
        if isinstance(node, ast.Call) and any(keyword.arg == "diff" for keyword in node.keywords):
            returns_diff = True
        if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant) and node.slice.value == "diff":
            returns_diff = True
        if isinstance(node, ast.Dict) and any(isinstance(k, ast.Constant) and k.value == "diff" for k in node.keys):
            returns_diff = True
    return supports_check_mode, returns_diff


def _is_documentation_stub(module: str) -> bool:
    """A module file with documentation only, for an action plugin that does all the work on the controller."""
    return "AnsibleModule" not in (ROOT / "plugins" / "modules" / f"{module}.py").read_text()


@pytest.mark.parametrize("module", MODULES)
def test_module_attributes_match_the_code(module):
    attributes = ansible_doc("module", module)["doc"]["attributes"]
    if _is_documentation_stub(module):
        # Its action plugin runs the same in check mode and changes nothing, and returns no diff.
        action = (ROOT / "plugins" / "action" / f"{module}.py").read_text()
        assert attributes["action"]["support"] == "full"
        assert attributes["check_mode"]["support"] == "full"
        assert attributes["diff_mode"]["support"] == "none"
        assert "diff" not in action
        return
    supports_check_mode, returns_diff = _module_source_facts(module)
    assert (attributes["check_mode"]["support"] != "none") == supports_check_mode
    assert (attributes["diff_mode"]["support"] != "none") == returns_diff


@pytest.mark.parametrize("name", FILTERS)
def test_filter_documentation_renders(name):
    doc = ansible_doc("filter", name)["doc"]
    assert doc["name"] == name
    assert doc["short_description"] and doc["description"]
    assert "_input" in doc["options"]
    assert ansible_doc("filter", name)["examples"].strip()
    assert ansible_doc("filter", name)["return"]["_value"]["description"]


@pytest.mark.parametrize("name", TESTS)
def test_test_plugin_documentation_renders(name):
    doc = ansible_doc("test", name)["doc"]
    assert doc["name"] == name
    assert doc["short_description"] and doc["description"]
    assert ansible_doc("test", name)["examples"].strip()


@pytest.mark.parametrize("name", CALLBACKS)
def test_callback_documentation_renders_and_says_how_to_enable_it(name):
    doc = ansible_doc("callback", name)["doc"]
    assert doc["name"] == name
    assert doc["short_description"] and doc["description"]
    assert any(f"callbacks_enabled = {COLLECTION}.{name}" in line for line in doc["requirements"])
