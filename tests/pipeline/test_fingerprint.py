"""Parameters in the cache key: file content, not path; a URL's version from a real HEAD."""

from __future__ import annotations

import os
import socket
from pathlib import Path

from stepline.pipeline.fingerprint import fingerprint


def test_url_is_keyed_on_what_head_returns(served: tuple[Path, str]) -> None:
    www, base = served
    (www / "sample.csv").write_text("id,price\n1,10\n")
    os.utime(www / "sample.csv", (1_700_000_000, 1_700_000_000))
    url = f"{base}/sample.csv"
    before = fingerprint({"file_url": url, "artifact_name": "sample.csv"})
    assert before.notes == {}
    assert before.parameters["artifact_name"] == "sample.csv"
    assert before.parameters["file_url"].startswith(url + " [")
    assert "content-length 14" in before.parameters["file_url"]
    assert "last-modified Tue, 14 Nov 2023" in before.parameters["file_url"]
    assert fingerprint({"file_url": url}).parameters == {"file_url": before.parameters["file_url"]}
    (www / "sample.csv").write_text("id,price\n1,10\n2,20\n")  # the remote file changes
    after = fingerprint({"file_url": url})
    assert after.parameters["file_url"] != before.parameters["file_url"]
    assert "content-length 19" in after.parameters["file_url"]
    moved = fingerprint({"file_url": f"{base}/moved.csv"})  # a redirect is followed with HEAD
    assert "content-length 19" in moved.parameters["file_url"]


def test_unreachable_or_missing_url_falls_back_to_its_text_with_a_note(
    served: tuple[Path, str],
) -> None:
    _, base = served
    missing = fingerprint({"file_url": f"{base}/nowhere.csv"})
    assert missing.parameters == {"file_url": f"{base}/nowhere.csv"}
    assert "failed" in missing.notes["file_url"] and "URL text" in missing.notes["file_url"]
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    offline = fingerprint({"file_url": f"http://127.0.0.1:{port}/sample.csv"})
    assert offline.parameters == {"file_url": f"http://127.0.0.1:{port}/sample.csv"}
    assert offline.notes["file_url"].startswith(f"HEAD http://127.0.0.1:{port}/sample.csv failed")


def test_file_parameter_is_its_content_not_its_path(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "rf_config.json", tmp_path / "b" / "rf_config.json"
    for p in (a, b):
        p.parent.mkdir()
        p.write_text('{"max_depth": 15}')
    ka, kb = fingerprint({"rf_config": str(a)}), fingerprint({"rf_config": str(b)})
    assert ka == kb and str(a) not in ka.parameters["rf_config"]
    b.write_text('{"max_depth": 5}')
    assert fingerprint({"rf_config": str(b)}) != ka
    relative = fingerprint({"sample": "sample1.csv", "steps": "all"})
    assert relative.parameters == {"sample": "sample1.csv", "steps": "all"}


def test_file_parameters_are_hashed_through_the_stat_cache(tmp_path: Path) -> None:
    from stepline.envs.paths import cache_dir
    from stepline.store.hashing import hash_file
    from stepline.store.statcache import shared

    config = tmp_path / "outputs" / "rf_config.json"
    config.parent.mkdir()
    config.write_text('{"max_depth": 15}')
    old = config.stat().st_mtime - 10  # older than the racy window, so it may be cached
    os.utime(config, (old, old))
    keyed = fingerprint({"rf_config": str(config)})
    assert keyed.parameters["rf_config"] == f"file content blake3:{hash_file(config)}"
    cache = shared(cache_dir() / "statcache.sqlite")
    assert cache.get(config.stat()) == hash_file(config)
    # an unchanged file is not read again: the digest comes from the cache
    cache.put_many([(config.stat(), "0" * 64)])
    assert fingerprint({"rf_config": str(config)}).parameters["rf_config"].endswith("0" * 64)
