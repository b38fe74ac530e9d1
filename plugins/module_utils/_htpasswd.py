# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry accounts: checking them, and the file of bcrypt hashes the registry's proxy and the registry read.

An account has a role: ``pull`` (reads every repository and changes nothing) or ``push`` (reads, pushes and
deletes), a push account optionally limited to repository prefixes (``repositories: [team-a/*]``). The
registry host's authenticating proxy (HAProxy) enforces the roles; the registry behind it knows one internal
account only.

CNCF Distribution's htpasswd authentication accepts bcrypt hashes only. Hashes are salted, so a new random
salt for an unchanged password would rewrite the file on every run; each account's salt is derived from a
secret instead (:func:`salt_for`), which makes the file on the controller, without reading the host's.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

try:
    import bcrypt
except ImportError:  # the filter plugin says what to install
    bcrypt = None

# bcrypt uses the first 72 bytes of a password and ignores the rest; a longer one would look accepted
# while only its beginning counts.
MAX_PASSWORD_BYTES = 72
MIN_COST, MAX_COST = 4, 31
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
ROLES = ("pull", "push")
# A repository prefix: a repository name as Distribution's reference grammar has it (lower-case components joined by
# "/"), followed by "/*". Nothing that the proxy's path rules would read otherwise (no "%", "." or "/" at the start of a
# component) can be in one.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_PREFIX = re.compile(rf"^{_COMPONENT}(?:/{_COMPONENT})*/\*$")


def user_problems(users, require_role: bool = True) -> list[str]:
    """One message per problem of a list of {name, password, role, repositories} accounts; never quotes a password.

    ``require_role`` False takes accounts without a role (the registry's internal account).
    """
    if users is None:
        return []
    if not isinstance(users, list):
        return [f"must be a list of {{name, password, role}} mappings, not {type(users).__name__}"]
    problems, seen = [], set()
    for index, user in enumerate(users):
        if not isinstance(user, dict):
            problems.append(f"entry {index}: must be a mapping with name and password, not {type(user).__name__}")
            continue
        extra = sorted(set(map(str, user)) - {"name", "password", "role", "repositories"})
        if extra:
            problems.append(f"entry {index}: unknown keys {', '.join(extra)}; an account has name, password, role and"
                            " (for a push account) repositories")
        name = user.get("name")
        if not isinstance(name, str) or not _NAME.match(name):
            problems.append(f"entry {index}: name must be 1-128 letters, digits, '.', '_', '@' or '-', starting with a"
                            f" letter or digit; got {name!r}")
        elif name in seen:
            problems.append(f"entry {index}: name {name!r} is listed twice")
        else:
            seen.add(name)
        label = f"entry {index}" + (f" ({name})" if isinstance(name, str) and _NAME.match(name) else "")
        password = user.get("password")
        if not isinstance(password, str) or not password:
            problems.append(f"{label}: password must be a non-empty string")
        elif len(password.encode()) > MAX_PASSWORD_BYTES:
            problems.append(f"{label}: password is longer than {MAX_PASSWORD_BYTES} bytes, and bcrypt would ignore"
                            f" the rest; use a shorter one")
        elif any(ch in password for ch in "\r\n\0"):
            problems.append(f"{label}: password must not contain line breaks or NUL")
        problems.extend(f"{label}: {problem}" for problem in _role_problems(user, require_role))
    return problems


def _role_problems(user: dict, require_role: bool) -> list[str]:
    role = user.get("role")
    if role is None and not require_role:
        return []
    if role not in ROLES:
        return ["role must be pull (a Docker host's login: reads only) or push (a pipeline's: pushes and deletes);"
                + f" got {role!r}"]
    repositories = user.get("repositories")
    if repositories is None:
        return []
    if role != "push":
        return ["repositories limits what a push account may change; a pull account reads every repository"]
    if not isinstance(repositories, list) or not repositories:
        return ["repositories must be a non-empty list of repository prefixes such as team-a/*"]
    bad = [prefix for prefix in repositories if not isinstance(prefix, str) or not _PREFIX.match(prefix)]
    if not bad:
        return []
    return [f"repositories must be prefixes of repository names ending in /*, such as team-a/*; not {bad}"]


# bcrypt's own base64 alphabet, in the order of the standard one.
_BCRYPT_ALPHABET = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
                                   b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789")


def salt_for(name: str, salt_key: str, cost: int) -> bytes:
    """The bcrypt salt of account ``name``: 16 bytes of HMAC-SHA256 keyed with ``salt_key``, in bcrypt's format.

    Unpredictable without the key and different for every account and every site, as a random salt is; but the
    same on every run, so that an unchanged password hashes to the same line and the file does not change.
    """
    digest = hmac.new(salt_key.encode(), b"dockyard.registry htpasswd salt\0" + name.encode(), hashlib.sha256).digest()
    encoded = base64.b64encode(digest[:16]).translate(_BCRYPT_ALPHABET)[:22]
    return b"$2b$%02d$" % cost + encoded


def htpasswd_content(users, salt_key: str, cost: int = 10) -> str:
    """The htpasswd file for ``users``: bcrypt only, one line per account, in the order given.

    Each hash is made with a salt derived from ``salt_key`` (:func:`salt_for`): the file is the same on every
    run until an account, a password or the cost changes.
    """
    problems = user_problems(users, require_role=False)
    if problems:
        raise ValueError("; ".join(problems))
    if not isinstance(cost, int) or isinstance(cost, bool) or not MIN_COST <= cost <= MAX_COST:
        raise ValueError(f"cost must be an integer from {MIN_COST} to {MAX_COST}, not {cost!r}")
    if not salt_key:
        raise ValueError("the salt key is empty: the registry's http secret derives the salts")
    lines = []
    for user in users or []:
        hashed = bcrypt.hashpw(user["password"].encode(), salt_for(user["name"], salt_key, cost)).decode()
        lines.append(f"{user['name']}:{hashed}\n")
    return "".join(lines)
