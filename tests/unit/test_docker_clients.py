"""Every Docker API client the collection makes is closed: one function makes them, and it is always used in ``with``.

A client left open keeps its connection to the daemon's socket (and, for a stream, the daemon's work) until the
interpreter ends; a module that runs long, or makes clients in a loop, would pile them up.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PLUGINS = ROOT / "plugins"
MAKERS = {"APIClient", "DockerClient", "from_env"}


def parsed() -> dict[Path, ast.Module]:
    return {path: ast.parse(path.read_text(), str(path)) for path in sorted(PLUGINS.rglob("*.py"))}


def called_name(call: ast.Call) -> str | None:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else None


def enclosing_functions(tree: ast.Module) -> dict[ast.AST, str]:
    """Each node of ``tree`` mapped to the name of the function it is in."""
    owners = {}
    for function in ast.walk(tree):
        if isinstance(function, (ast.FunctionDef, ast.AsyncFunctionDef)):
            for node in ast.walk(function):
                owners.setdefault(node, function.name)
    return owners


def test_only_api_client_makes_a_docker_client_and_it_closes_it_whatever_happens():
    makers = []
    for path, tree in parsed().items():
        owners = enclosing_functions(tree)
        makers += [(path.relative_to(ROOT).as_posix(), owners.get(node)) for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and called_name(node) in MAKERS]
    assert makers == [("plugins/module_utils/_docker_client.py", "api_client")]

    tree = ast.parse((PLUGINS / "module_utils" / "_docker_client.py").read_text())
    function = next(node for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name == "api_client")
    closing = [node for statement in ast.walk(function) if isinstance(statement, ast.Try)
               for node in ast.walk(ast.Module(body=statement.finalbody, type_ignores=[]))
               if isinstance(node, ast.Call) and called_name(node) == "close"]
    assert closing, "api_client must close the client in a finally clause"


def test_every_api_client_is_used_as_a_context_manager():
    strays = []
    for path, tree in parsed().items():
        in_with = {id(item.context_expr) for node in ast.walk(tree) if isinstance(node, ast.With) for item in node.items}
        strays += [f"{path.relative_to(ROOT)}:{node.lineno}" for node in ast.walk(tree)
                   if isinstance(node, ast.Call) and called_name(node) == "api_client" and id(node) not in in_with]
    assert strays == []
