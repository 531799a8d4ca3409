"""What a ``--storage`` string names, and how to print it without its passwords."""

from __future__ import annotations

import re
from typing import Literal
from urllib.parse import unquote

from automl_fashion.errors import ConfigError

_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")
# user:password@ up to the last @ before the path: over-masking beats a leak
_USERINFO = re.compile(r"((?:^|//)[^:/@?#]*:)[^/?#]*@")
_QUERY_PAIR = re.compile(r"([?&;])([^=&;#]*)=([^&;#]*)")
_SECRET_KEY = re.compile(r"pass|pwd|secret|token", re.IGNORECASE)


def mask_url(url: str) -> str:
    """The URL with its passwords (user info and query string) replaced by ``***``."""
    try:
        from sqlalchemy.engine import make_url

        rendered = make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy parses: mask what looks like one
        rendered = url
    rendered = _USERINFO.sub(r"\1***@", rendered)
    return _QUERY_PAIR.sub(
        lambda m: f"{m[1]}{m[2]}=***" if _SECRET_KEY.search(m[2]) else m[0], rendered
    )


def secrets_in(url: str) -> list[str]:
    """The password and secret query values of ``url``, as written and decoded."""
    found = []
    user = _USERINFO.search(url)
    if user:
        start = user.end(1)
        found.append(url[start : user.end() - 1])
    found += [m[3] for m in _QUERY_PAIR.finditer(url) if _SECRET_KEY.search(m[2])]
    return [s for value in found for s in {value, unquote(value)} if s]


def scrub(message: str, url: str) -> str:
    """A driver's message with ``url`` masked and its secrets removed wherever they appear."""
    message = message.replace(url, mask_url(url))
    for secret in sorted(secrets_in(url), key=len, reverse=True):
        message = message.replace(secret, "***")
    return message


def classify(url: str) -> tuple[Literal["journal", "rdb"], str]:
    """``("journal", path)`` or ``("rdb", url)``; anything else is a ConfigError.

    A database URL needs its scheme (``postgresql://``, ``sqlite:///``); a journal file is
    ``journal:PATH`` or a path ending in ``.journal``. ``postgresql://.../db.journal`` is a
    database, never a file.
    """
    if url.startswith("journal:"):
        path = url.removeprefix("journal:")
        path = path[2:] if path.startswith("//") else path  # journal:///abs/x.journal
        if path.strip():
            return "journal", path
    elif _SCHEME.match(url):
        return "rdb", url
    elif url.endswith(".journal") and "://" not in url:
        return "journal", url
    raise ConfigError(
        f"--storage: {mask_url(url)!r} is not a storage URL; expected a database URL with its "
        "scheme (postgresql://user@host/db, sqlite:///file.db), journal:PATH, or a path "
        "ending in .journal"
    )
