"""Display names of runs, `adjective-noun-N`: N is the project's run counter. Pure.

    run_name(7)                       # "gentle-river-7"
    is_auto_name("gentle-river-7")    # True: a name run_name could have made

The metadata store names a run when it creates it (and again when an automatic name moves to
another project), inside the transaction that counts it.
"""

from __future__ import annotations

import random

#: the OS's randomness, as `secrets.choice` uses (without importing hmac and hashlib for it)
_RANDOM = random.SystemRandom()

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


def run_name(counter: int) -> str:
    """A readable name whose suffix is the project's run counter: `gentle-river-7`."""
    return f"{_RANDOM.choice(ADJECTIVES)}-{_RANDOM.choice(NOUNS)}-{counter}"


def is_auto_name(name: str) -> bool:
    """True for a name `run_name` could have made (`gentle-river-7`)."""
    parts = name.split("-")
    return len(parts) == 3 and parts[0] in ADJECTIVES and parts[1] in NOUNS and parts[2].isdigit()
