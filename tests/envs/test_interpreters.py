import platform

import pytest

from stepline.envs.interpreters import select
from stepline.errors import EnvError


def test_none_is_current() -> None:
    assert select(None).version == platform.python_version()


def test_minor_request_matches_present_interpreter() -> None:
    me = platform.python_version()
    major_minor = ".".join(me.split(".")[:2])
    found = select(major_minor)
    assert found.version.startswith(major_minor + ".")


def test_missing_version_lists_what_was_found() -> None:
    with pytest.raises(EnvError) as err:
        select("2.5", where="conda.yml")
    message = str(err.value)
    assert message.startswith("conda.yml: no Python 2.5 on this machine; found: ")
    assert platform.python_version() in message


def test_unreadable_version() -> None:
    with pytest.raises(EnvError, match="cannot read Python version"):
        select("three")
