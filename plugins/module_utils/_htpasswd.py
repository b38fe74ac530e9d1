# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Registry accounts: checking them, and the htpasswd file of bcrypt hashes the registry reads.

CNCF Distribution's htpasswd authentication accepts bcrypt hashes only. Hashes are salted, so a new hash
for an unchanged password would rewrite the file on every run: a password that still matches the hash
already in the file keeps that hash, and the file changes only when an account does.
"""

from __future__ import annotations

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
_BCRYPT = re.compile(r"^\$2[aby]?\$(?P<cost>\d\d)\$[./A-Za-z0-9]{53}$")


def user_problems(users) -> list[str]:
    """One message per problem of a list of {name, password} accounts; never quotes a password."""
    if users is None:
        return []
    if not isinstance(users, list):
        return [f"must be a list of {{name, password}} mappings, not {type(users).__name__}"]
    problems, seen = [], set()
    for index, user in enumerate(users):
        if not isinstance(user, dict):
            problems.append(f"entry {index}: must be a mapping with name and password, not {type(user).__name__}")
            continue
        extra = sorted(set(user) - {"name", "password"})
        if extra:
            problems.append(f"entry {index}: unknown keys {', '.join(map(str, extra))}; an account has name and password")
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
    return problems


def parse_htpasswd(content: str) -> dict[str, str]:
    """The hashes of an htpasswd file by account name; blank lines and comments are skipped."""
    entries = {}
    for line in (content or "").splitlines():
        line = line.strip()
        if not line or line.startswith("#") or ":" not in line:
            continue
        name, hashed = line.split(":", 1)
        entries[name] = hashed
    return entries


def _keeps(hashed: str | None, password: str, cost: int) -> bool:
    match = _BCRYPT.match(hashed or "")
    if not match or int(match.group("cost")) != cost:
        return False
    return bcrypt.checkpw(password.encode(), hashed.encode())


def htpasswd_content(users, existing: str = "", cost: int = 10) -> str:
    """The htpasswd file for ``users``: bcrypt only, one line per account, in the order given.

    Accounts whose password still matches their hash in ``existing`` (at the same cost) keep it;
    accounts not in ``users`` are dropped.
    """
    problems = user_problems(users)
    if problems:
        raise ValueError("; ".join(problems))
    if not isinstance(cost, int) or isinstance(cost, bool) or not MIN_COST <= cost <= MAX_COST:
        raise ValueError(f"cost must be an integer from {MIN_COST} to {MAX_COST}, not {cost!r}")
    current = parse_htpasswd(existing)
    lines = []
    for user in users or []:
        name, password = user["name"], user["password"]
        hashed = current.get(name)
        if not _keeps(hashed, password, cost):
            hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=cost)).decode()
        lines.append(f"{name}:{hashed}\n")
    return "".join(lines)
