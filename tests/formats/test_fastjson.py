"""fastjson gives what the standard library gives, with orjson and without it."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys

import pytest

from stepline.formats import fastjson


def rows(n: int) -> list[list[object]]:
    rnd = random.Random(7)
    out: list[list[object]] = []
    for i in range(n):
        out.append([i, 1733000000.0 + i * 1e-5, {"loss": rnd.random() * 10 ** rnd.randint(-12, 12),
                    "acc": rnd.randint(-(2**62), 2**62), "tag": "é\"\\\n", "ok": i % 2 == 0,
                    "none": None, "tiny": 5e-324, "big": 1.7976931348623157e308}])  # fmt: skip
    return out


def test_rows_read_back_equal_and_parse_as_the_stdlib_text_does() -> None:
    assert fastjson._fast() is not None  # a core dependency: the fast path is what is tested here
    data = rows(2000)
    text = fastjson.dumps(data)
    assert fastjson.loads(text) == data == json.loads(text)
    assert fastjson.loads(json.dumps(data)) == data
    assert fastjson.loads(text.encode()) == data


def test_what_orjson_refuses_falls_back_to_the_stdlib() -> None:
    huge = [2**70, {"k": -(2**80)}]
    assert fastjson.loads(fastjson.dumps(huge)) == huge
    old = json.dumps([[0, 0.0, {"loss": math.nan, "top": math.inf}]])  # an older writer's NaN
    (step, _ts, row), = fastjson.loads(old)  # fmt: skip
    assert step == 0 and math.isnan(row["loss"]) and row["top"] == math.inf
    with pytest.raises(ValueError):
        fastjson.loads("[1, 2")


def test_without_orjson_the_results_are_the_same() -> None:
    code = (
        "import sys; sys.modules['orjson'] = None\n"
        "from stepline.formats import fastjson\n"
        "assert fastjson._fast() is None\n"
        "print(fastjson.dumps([1, 0.1, {'a': 'b'}, [2**70]]))\n"
        "print(fastjson.loads('[1e-05, {\"x\": null}]'))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.splitlines() == [
        '[1,0.1,{"a":"b"},[1180591620717411303424]]',
        "[1e-05, {'x': None}]",
    ]
