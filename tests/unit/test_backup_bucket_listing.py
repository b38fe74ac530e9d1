"""How the backup of a bucket reads an object store whose listing names an object that a read answers as absent (as
SeaweedFS's filers do once their copies of the metadata disagree): Debian's rclone, with the listing flags of the role
(``__registry_backup_rclone_list``), against a small S3 server that lists ``gone`` but answers 404 for it. A plain
``rclone copy`` fails on it; each listed object asked for by its key (``--files-from-raw`` with ``--no-traverse``, as
``rclone_list.yml`` and ``backup.yml`` do) leaves it out and copies the rest; any other error still fails.
"""

from __future__ import annotations

import hashlib
import http.server
import shutil
import subprocess
import threading
import urllib.parse
from email.utils import formatdate
from pathlib import Path
from typing import ClassVar

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
LISTING = yaml.safe_load((ROOT / "roles/registry_server/vars/main.yml").read_text())["__registry_backup_rclone_list"]
BUCKET = "registry"
OBJECTS = {"docker/registry/v2/blobs/sha256/aa/data": b"a blob\n",
           "docker/registry/v2/repositories/r/_manifests/tags/t/current/link": b"sha256:aa\n"}
GONE = "docker/registry/v2/repositories/r/_manifests/revisions/sha256/bb/link"

pytestmark = pytest.mark.skipif(shutil.which("rclone") is None, reason="Debian's rclone is not installed (make unit-deps)")


class Store(http.server.BaseHTTPRequestHandler):
    """Lists OBJECTS and GONE; HEAD and GET answer GONE with 404 NoSuchKey, and ``failing`` keys with 500."""

    failing: ClassVar[set[str]] = set()

    def log_message(self, *args):
        pass

    def _key(self) -> str:
        path = urllib.parse.urlsplit(self.path).path
        return urllib.parse.unquote(path.removeprefix(f"/{BUCKET}").lstrip("/"))

    def _answer(self, status: int, body: bytes = b"", headers: dict | None = None, head: bool = False):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _object(self, head: bool):
        key = self._key()
        if key in self.failing:
            return self._answer(500, b"<Error><Code>InternalError</Code></Error>", head=head)
        if key not in OBJECTS:
            return self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>", head=head)
        body = OBJECTS[key]
        return self._answer(200, body, {"ETag": f'"{hashlib.md5(body, usedforsecurity=False).hexdigest()}"',
                                        "Last-Modified": formatdate(usegmt=True),
                                        "Content-Type": "application/octet-stream"}, head=head)

    def do_HEAD(self):
        self._object(head=True)

    def do_GET(self):
        if self._key():
            return self._object(head=False)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
        prefix = query.get("prefix", [""])[0]
        delimiter = query.get("delimiter", [""])[0]
        keys, prefixes = [], set()
        for key in sorted(key for key in [*OBJECTS, GONE] if key.startswith(prefix)):
            rest = key[len(prefix):]
            if delimiter and delimiter in rest:
                prefixes.add(prefix + rest.split(delimiter, 1)[0] + delimiter)
            else:
                keys.append(key)
        contents = "".join(f"<CommonPrefixes><Prefix>{common}</Prefix></CommonPrefixes>" for common in sorted(prefixes))
        contents += "".join(f"<Contents><Key>{key}</Key><Size>{len(OBJECTS.get(key, b'gone'))}</Size>"
                            f"<LastModified>2026-12-07T00:00:00.000Z</LastModified><ETag>\"x\"</ETag></Contents>"
                            for key in keys)
        body = (f'<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>{BUCKET}</Name><Prefix>{prefix}</Prefix>'
                f"<KeyCount>{len(keys) + len(prefixes)}</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>false</IsTruncated>{contents}"
                "</ListBucketResult>").encode()
        return self._answer(200, body, {"Content-Type": "application/xml"})


@pytest.fixture
def store(tmp_path):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Store)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    config = tmp_path / "rclone.conf"
    config.write_text("[store]\ntype = s3\nprovider = Other\naccess_key_id = a\nsecret_access_key = b\n"
                      f"endpoint = http://127.0.0.1:{server.server_address[1]}\nregion = us-east-1\n"
                      "force_path_style = true\n")
    Store.failing = set()
    yield config
    server.shutdown()
    server.server_close()


def rclone(config: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["rclone", "--config", str(config), "--retries", "1", "--low-level-retries", "1", *args],
                          capture_output=True, text=True, timeout=60, check=False,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(config.parent)})


def listed_keys(config: Path, tmp_path: Path) -> Path:
    listed = rclone(config, *LISTING[1:], f"store:{BUCKET}")
    assert listed.returncode == 0, listed.stderr
    keys = tmp_path / "listed"
    keys.write_text("".join(line.rsplit(";", 1)[0] + "\n" for line in listed.stdout.splitlines()))
    assert GONE in keys.read_text().splitlines()
    return keys


def test_a_plain_copy_fails_on_an_object_the_store_lists_but_answers_as_absent(store, tmp_path):
    copied = rclone(store, "copy", f"store:{BUCKET}", str(tmp_path / "copy"))
    assert copied.returncode != 0 and "NoSuchKey" in copied.stderr, copied.stderr


def test_each_listed_object_looked_at_by_its_key_leaves_out_the_absent_one(store, tmp_path):
    keys = listed_keys(store, tmp_path)
    looked = rclone(store, *LISTING[1:], "--no-traverse", "--files-from-raw", str(keys), f"store:{BUCKET}")
    assert looked.returncode == 0, looked.stderr
    assert sorted(looked.stdout.splitlines()) == sorted(f"{key};{len(body)}" for key, body in OBJECTS.items())

    copied = rclone(store, "copy", "--no-traverse", "--files-from-raw", str(keys), f"store:{BUCKET}",
                    str(tmp_path / "copy"))
    assert copied.returncode == 0, copied.stderr
    files = {str(path.relative_to(tmp_path / "copy")): path.read_bytes()
             for path in (tmp_path / "copy").rglob("*") if path.is_file()}
    assert files == OBJECTS


def test_any_other_error_of_the_store_still_fails_the_look_and_the_copy(store, tmp_path):
    keys = listed_keys(store, tmp_path)
    Store.failing = {next(iter(OBJECTS))}
    looked = rclone(store, *LISTING[1:], "--no-traverse", "--files-from-raw", str(keys), f"store:{BUCKET}")
    assert looked.returncode != 0, looked.stdout
    copied = rclone(store, "copy", "--no-traverse", "--files-from-raw", str(keys), f"store:{BUCKET}",
                    str(tmp_path / "copy"))
    assert copied.returncode != 0, copied.stderr
