"""Run ids (8 base-36 characters) and display names (`adjective-noun-N`). Pure."""

from __future__ import annotations

import re
import secrets

from stepline.errors import InvalidName

_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyz"

ADJECTIVES = [
    "amber",
    "autumn",
    "bold",
    "brisk",
    "calm",
    "clever",
    "cosmic",
    "crimson",
    "dainty",
    "dashing",
    "dawn",
    "deft",
    "eager",
    "earnest",
    "fancy",
    "fearless",
    "gentle",
    "gleaming",
    "golden",
    "graceful",
    "hardy",
    "hazy",
    "honest",
    "icy",
    "jolly",
    "keen",
    "lively",
    "lucid",
    "mellow",
    "misty",
    "nimble",
    "noble",
    "olive",
    "patient",
    "polished",
    "quiet",
    "rapid",
    "restful",
    "rosy",
    "rustic",
    "serene",
    "sharp",
    "silent",
    "snowy",
    "solar",
    "spry",
    "stellar",
    "sturdy",
    "sunny",
    "swift",
    "tidy",
    "tranquil",
    "vivid",
    "warm",
    "wild",
    "wise",
    "young",
    "zesty",
]
NOUNS = [
    "aurora",
    "bay",
    "breeze",
    "brook",
    "canyon",
    "cedar",
    "cliff",
    "cloud",
    "comet",
    "cosmos",
    "dawn",
    "delta",
    "dew",
    "dune",
    "ember",
    "field",
    "fire",
    "flower",
    "forest",
    "frost",
    "galaxy",
    "glade",
    "grove",
    "harbor",
    "haze",
    "hill",
    "lake",
    "leaf",
    "meadow",
    "moon",
    "morning",
    "mountain",
    "night",
    "oasis",
    "ocean",
    "orchard",
    "paper",
    "pine",
    "planet",
    "pond",
    "rain",
    "reef",
    "river",
    "sea",
    "shadow",
    "sky",
    "smoke",
    "snow",
    "sound",
    "spring",
    "star",
    "stone",
    "sun",
    "sunset",
    "surf",
    "thunder",
    "tree",
    "valley",
    "wave",
    "wind",
    "wood",
]

_NAME_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_\-.]{1,128}$")
_RUN_ID_RE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def new_run_id() -> str:
    """Eight random base-36 characters."""
    return "".join(secrets.choice(_ALPHABET) for _ in range(8))


def run_name(counter: int) -> str:
    """A readable name whose suffix is the project's run counter: `gentle-river-7`."""
    return f"{secrets.choice(ADJECTIVES)}-{secrets.choice(NOUNS)}-{counter}"


def check_name(name: str, what: str = "artifact name") -> str:
    """Names of projects and artifacts: letters, digits, `_ - .`, at most 128 characters."""
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise InvalidName(
            f"{what} {name!r} is not valid: use 1-128 letters, digits, '_', '-' or '.'"
            " (no '/', ':' or spaces)"
        )
    return name


def check_alias(alias: str) -> str:
    """Aliases are names too; `vN` is reserved for versions."""
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise InvalidName(
            f"alias {alias!r} is not valid: use 1-128 letters, digits, '_', '-' or '.'"
            " (':' and '/' are not allowed)"
        )
    if re.fullmatch(r"v\d+", alias):
        raise InvalidName(f"alias {alias!r} looks like a version number; pick another name")
    return alias


def check_run_id(run_id: str) -> str:
    if not _RUN_ID_RE.match(run_id):
        raise InvalidName(
            f"run id {run_id!r} is not valid: use letters, digits, '_' or '-' (no / \\ # ? % :)"
        )
    return run_id
