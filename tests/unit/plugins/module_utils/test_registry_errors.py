"""Distribution's error bodies, as the modules quote them: code, message, and a detail that says something."""

from __future__ import annotations

import json

import pytest

from ansible_collections.dockyard.registry.plugins.module_utils._registry.errors import error_detail


def body(*errors: dict) -> bytes:
    return json.dumps({"errors": list(errors)}).encode()


@pytest.mark.parametrize(("answer", "quoted"), [
    (body({"code": "MANIFEST_UNKNOWN", "message": "manifest unknown", "detail": {"Tag": "1"}}),
     ": MANIFEST_UNKNOWN manifest unknown"),
    (body({"code": "UNKNOWN", "message": "unknown error", "detail": "write /var/lib/registry/data: no space left"}),
     ": UNKNOWN unknown error (write /var/lib/registry/data: no space left)"),
    # The filesystem driver's PathError, wrapped in its driver error: the errno is ENOSPC.
    (body({"code": "UNKNOWN", "message": "unknown error",
           "detail": {"DriverName": "filesystem", "Enclosed": {"Op": "write", "Path": "/var/lib/registry/startedat",
                                                               "Err": 28}}}),
     ": UNKNOWN unknown error (write /var/lib/registry/startedat: No space left on device)"),
    (body({"code": "DENIED", "message": "requested access to the resource is denied"},
          {"code": "UNAUTHORIZED", "message": "authentication required"}),
     ": DENIED requested access to the resource is denied; UNAUTHORIZED authentication required"),
    (b"<html>Bad Gateway</html>", ""),
    (b'{"errors": "not a list"}', ""),
], ids=["object detail left out", "sentence detail", "path error detail", "several errors", "not JSON",
        "malformed errors"])
def test_error_bodies_are_quoted_with_what_they_say(answer, quoted):
    assert error_detail(answer) == quoted


def test_a_quote_stays_short_whatever_the_registry_sends():
    assert len(error_detail(body({"code": "UNKNOWN", "message": "x" * 10_000}))) == 502
