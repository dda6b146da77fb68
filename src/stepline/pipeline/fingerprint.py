"""What a step's parameters stand for in its cache key: a file's content, a URL's remote version.

    keyed = fingerprint({"rf_config": "/repo/outputs/2026-12-01/10-00-00/rf_config.json",
                         "file_url": "http://127.0.0.1:8000/iris.csv", "min_price": "10"})
    keyed.parameters["rf_config"]  # 'file content blake3:9f2c…' (the path is left out)
    keyed.parameters["file_url"]   # 'http://…/iris.csv [content-length 4551, last-modified …]'
    keyed.notes                    # {"file_url": "…"} when the server could not be asked

- A parameter that is an absolute path to a file is keyed on the file's content alone: a Hydra
  `main.py` writes its config to a new `outputs/<date>/<time>/` folder on every run. Files
  are hashed through the stat cache, as component trees are.
- A parameter that is an http(s) URL is keyed on what a `HEAD` request returns (ETag,
  Last-Modified, Content-Length), so a download step re-runs when the remote file changes.
  When the server cannot be reached or returns none of them, the URL text alone is the key
  and `notes` says why.
- Anything else is keyed on its text.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

from stepline.envs.paths import cache_dir
from stepline.store.statcache import cached_digests, shared

#: the response headers that identify a remote file's version, in the order they are shown
REMOTE_HEADERS = ("etag", "last-modified", "content-length")
HEAD_TIMEOUT = 5.0

Probe = Callable[[str], "dict[str, str]"]


@dataclass(frozen=True)
class Keyed:
    """Parameters as they enter the cache key, and notes on what could not be checked."""

    parameters: dict[str, str]
    notes: dict[str, str] = field(default_factory=dict)


class _KeepHead(urllib.request.HTTPRedirectHandler):
    """Follow redirects with HEAD (urllib would turn the request into a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        if new is not None:
            new.method = req.get_method()
        return new


def head(url: str, timeout: float = HEAD_TIMEOUT) -> dict[str, str]:
    """The version headers a `HEAD` of `url` returns (lower-case names; absent ones left out).

    Raises OSError (urllib's URLError, HTTPError, timeouts) when the server cannot answer.
    """
    opener = urllib.request.build_opener(_KeepHead)
    request = urllib.request.Request(
        url, method="HEAD", headers={"User-Agent": "stepline", "Accept-Encoding": "identity"}
    )
    with opener.open(request, timeout=timeout) as response:
        return {h: response.headers[h] for h in REMOTE_HEADERS if response.headers.get(h)}


def is_remote(value: str) -> bool:
    """True for an http(s) URL with a host."""
    parsed = urlparse(value)
    return parsed.scheme in ("http", "https") and bool(parsed.netloc)


def remote_version(url: str, probe: Probe = head) -> tuple[str, str | None]:
    """(key text, note) for a URL: the URL plus its version headers, or the URL and why not."""
    try:
        found = probe(url)
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        return url, f"HEAD {url} failed ({reason}); keyed on the URL text"
    if not found:
        return url, (
            f"HEAD {url} gave no ETag, Last-Modified or Content-Length; keyed on the URL text"
        )
    shown = ", ".join(f"{h} {found[h]}" for h in REMOTE_HEADERS if h in found)
    return f"{url} [{shown}]", None


def file_version(path: str) -> str:
    """The key text of a file parameter: its content digest, not its path.

    Hashed through the store's stat cache: an unchanged file costs one `stat`."""
    (digest,) = cached_digests(shared(cache_dir() / "statcache.sqlite"), [Path(path)])
    return f"file content blake3:{digest}"


def fingerprint(parameters: Mapping[str, object], probe: Probe = head) -> Keyed:
    """Each parameter as it enters the cache key (see the module docstring)."""
    out: dict[str, str] = {}
    notes: dict[str, str] = {}
    for name, value in parameters.items():
        text = str(value)
        if os.path.isabs(text) and os.path.isfile(text):
            out[str(name)] = file_version(text)
        elif is_remote(text):
            out[str(name)], note = remote_version(text, probe)
            if note:
                notes[str(name)] = note
        else:
            out[str(name)] = text
    return Keyed(out, notes)
