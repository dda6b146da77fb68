"""Git URL rewrites: read a repository from a local checkout (or another URL) instead.

One rule set (`settings.url_rewrites`) applies alike to pip lines in env specs, component
URIs (`components_repository`-style `https://…/repo.git#components/step`) and `mlflow.run`
URIs. A rule `SOURCE=TARGET` matches a URL whose repository is SOURCE, or lies under it
(`https://github.com/org=/src/org` maps `https://github.com/org/repo` to `/src/org/repo`);
`.git`, a trailing `/` and `git+` are ignored when comparing::

    rewrite_uri("https://github.com/o/r.git#components/get_data")   # with o/r=/src/r
    # → "/src/r#components/get_data"
    rewrite_requirement("git+https://github.com/o/r.git@v1#egg=wu&subdirectory=components")
    # → "/src/r/components"                        (a path target: the checkout as it is)
    # → "git+file:///srv/r@v1#egg=wu&subdirectory=components"   (with o/r=file:///srv/r)

A path target means the checkout as it is on disk (a pip line's `@rev` is then not used; a
component's `version` still selects a commit of it); a URL target keeps git's semantics.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from stepline.envs.settings import URL_REWRITE_VAR, Rewrite, url_rewrites

_GIT_URL = re.compile(r"git\+[A-Za-z][A-Za-z0-9+.-]*://\S+")


def _norm(url: str) -> str:
    url = url.strip()
    if url.startswith("git+"):
        url = url[4:]
    parts = urlsplit(url)
    path = parts.path.rstrip("/")
    if path.endswith(".git"):
        path = path[:-4]
    return f"{parts.scheme.lower()}://{parts.netloc.lower()}{path.rstrip('/')}"


def _match(repo: str, rules: list[Rewrite]) -> tuple[Rewrite, str] | None:
    """The first rule for `repo` and the rest of its path below the rule's source."""
    wanted = _norm(repo)
    for rule in rules:
        source = _norm(rule.source)
        if wanted == source:
            return rule, ""
        if wanted.startswith(source + "/"):
            return rule, wanted[len(source) + 1 :]
    return None


def _is_url(target: str) -> bool:
    return "://" in target


def _target(rule: Rewrite, rest: str) -> str:
    target = rule.target.rstrip("/")
    if _is_url(target):
        return f"{target}/{rest}" if rest else target
    base = Path(target).expanduser().resolve()
    return str(base / rest) if rest else str(base)


def rewrite_uri(uri: str, rules: list[Rewrite] | None = None) -> tuple[str, Rewrite | None]:
    """A component URI (`repo[#sub/dir]`) with its repository rewritten, and the rule used."""
    rules = url_rewrites() if rules is None else rules
    if not rules or "://" not in uri:
        return uri, None
    repo, sep, sub = uri.partition("#")
    hit = _match(repo, rules)
    if hit is None:
        return uri, None
    target = _target(*hit)
    return f"{target}{sep}{sub}", hit[0]


def git_urls(line: str) -> list[str]:
    """The `git+…` URLs in a requirement line."""
    return _GIT_URL.findall(line)


def rewrite_requirement(
    line: str, rules: list[Rewrite] | None = None
) -> tuple[str, Rewrite | None]:
    """A pip line with its `git+` URL rewritten (see the module docstring), and the rule used."""
    urls = git_urls(line)
    rules = url_rewrites() if rules is None else rules
    if not urls or not rules:
        return line, None
    url = urls[0]
    parts = urlsplit(url[4:])
    path, rev = parts.path, ""
    if "@" in path:
        path, rev = path.rsplit("@", 1)
    hit = _match(f"{parts.scheme}://{parts.netloc}{path}", rules)
    if hit is None:
        return line, None
    rule, rest = hit
    target = _target(rule, rest)
    fragment = parts.fragment
    if _is_url(target):
        new = target if target.startswith("git+") else f"git+{target}"
        new += f"@{rev}" if rev else ""
        new += f"#{fragment}" if fragment else ""
        return line.replace(url, new), rule
    sub = parse_qs(fragment).get("subdirectory", [""])[0].strip("/")
    local = str(Path(target) / sub) if sub else target
    stripped = line.strip()
    if stripped.startswith(("-e ", "--editable")):
        return f"-e {local}", rule
    name, at, _ = stripped.partition("@")
    if at and not name.strip().startswith("git+"):
        return f"{name.strip()} @ {Path(local).as_uri()}", rule
    return local, rule


def rewrite_hint(urls: list[str]) -> str:
    """What to set so that `urls` are read from a local checkout instead."""
    first = urls[0][4:] if urls[0].startswith("git+") else urls[0]
    repo = first.split("#", 1)[0]
    parts = urlsplit(repo)
    repo = f"{parts.scheme}://{parts.netloc}{parts.path.rsplit('@', 1)[0]}"
    return (
        f"to use a local checkout instead, set {URL_REWRITE_VAR}='{repo}=/path/to/checkout' "
        '(or add it to [tool.stepline] url_rewrite = {"URL" = "/path"} in pyproject.toml)'
    )
