"""Tests of the resumable, SHA-256-verified download against a local HTTP server that can misbehave
on demand (tests/http_server.py): dropped connections, server errors, stalls, ignored ranges and
files already (partly) there.
"""

from __future__ import annotations

import json
import logging
import os
import re
from dataclasses import replace

import pytest
from http_server import FAST, TRAIN_INPUT, sha256
from http_server import archives as archives
from http_server import server as server

from diffseg.data.http import DownloadError, RetryPolicy, download_file


def test_dropped_connection_resumes_with_range_request(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    server.fault(TRAIN_INPUT, "drop")
    dest = tmp_path / TRAIN_INPUT

    download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), policy=replace(FAST, chunk_size=4096))

    first, second = server.requests_for(TRAIN_INPUT)
    assert first.range is None and first.body_bytes < len(data)
    resumed_from = int(re.fullmatch(r"bytes=(\d+)-", second.range).group(1))
    assert 0 < resumed_from <= first.body_bytes
    assert second.status == 206
    assert first.body_bytes + second.body_bytes < 1.5 * len(data)
    assert dest.read_bytes() == data
    assert not dest.with_name(dest.name + ".part").exists()


def test_progress_resets_the_retry_count(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    server.fault(TRAIN_INPUT, "drop", "drop", "drop")

    download_file(
        server.base_url + TRAIN_INPUT,
        tmp_path / TRAIN_INPUT,
        sha256(data),
        policy=RetryPolicy(retries=1, timeout=1.0, backoff=0.01, chunk_size=4096),
    )

    offsets = [
        int(served.range.split("=")[1].rstrip("-")) if served.range else 0
        for served in server.requests_for(TRAIN_INPUT)
    ]
    assert len(offsets) == 4 and offsets == sorted(set(offsets))
    assert (tmp_path / TRAIN_INPUT).read_bytes() == data


def test_server_error_is_retried(tmp_path, server, archives):
    server.fault(TRAIN_INPUT, "503")

    dest = download_file(
        server.base_url + TRAIN_INPUT, tmp_path / TRAIN_INPUT, sha256(archives[TRAIN_INPUT]), policy=FAST
    )

    assert [served.status for served in server.requests_for(TRAIN_INPUT)] == [503, 200]
    assert dest.read_bytes() == archives[TRAIN_INPUT]


def test_stalled_server_times_out_and_is_retried(tmp_path, server, archives):
    server.fault(TRAIN_INPUT, "stall")

    dest = download_file(
        server.base_url + TRAIN_INPUT,
        tmp_path / TRAIN_INPUT,
        sha256(archives[TRAIN_INPUT]),
        policy=RetryPolicy(retries=2, timeout=0.3, backoff=0.01),
    )

    assert len(server.requests_for(TRAIN_INPUT)) == 2
    assert dest.read_bytes() == archives[TRAIN_INPUT]


def test_gives_up_after_the_last_retry(tmp_path, server, archives):
    server.fault(TRAIN_INPUT, *["503"] * 4)

    with pytest.raises(DownloadError, match=r"gave up after 4 attempts in a row without progress.*503"):
        download_file(
            server.base_url + TRAIN_INPUT, tmp_path / TRAIN_INPUT, sha256(archives[TRAIN_INPUT]), policy=FAST
        )
    assert len(server.requests_for(TRAIN_INPUT)) == 4
    assert not (tmp_path / TRAIN_INPUT).exists()


def test_client_error_fails_at_once(tmp_path, server):
    with pytest.raises(DownloadError, match=r"missing\.zip.*HTTP 404"):
        download_file(server.base_url + "missing.zip", tmp_path / "missing.zip", "0" * 64, policy=FAST)
    assert len(server.requests_for("missing.zip")) == 1


def test_server_ignoring_range_restarts_from_zero(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    dest = tmp_path / TRAIN_INPUT
    dest.with_name(dest.name + ".part").write_bytes(data[:1000])
    server.fault(TRAIN_INPUT, "ignore-range")

    download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), policy=FAST)

    (served,) = server.requests_for(TRAIN_INPUT)
    assert served.range == "bytes=1000-" and served.status == 200
    assert dest.read_bytes() == data


def test_complete_part_file_is_verified_after_416(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    dest = tmp_path / TRAIN_INPUT
    dest.with_name(dest.name + ".part").write_bytes(data)

    download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), policy=FAST)

    assert [served.status for served in server.requests_for(TRAIN_INPUT)] == [416]
    assert dest.read_bytes() == data


def test_touched_download_is_rehashed_and_kept(tmp_path, server, archives, caplog):
    data = archives[TRAIN_INPUT]
    dest = download_file(server.base_url + TRAIN_INPUT, tmp_path / TRAIN_INPUT, sha256(data), policy=FAST)
    os.utime(dest, ns=(0, 0))
    server.served.clear()

    with caplog.at_level(logging.INFO, logger="diffseg"):
        download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), policy=FAST)

    assert server.served == []
    assert "checking the SHA-256" in caplog.text
    marker = json.loads(dest.with_name(dest.name + ".verified").read_text())
    assert marker == {"size": len(data), "mtime_ns": 0, "sha256": sha256(data)}


def test_mismatching_download_is_fetched_again(tmp_path, server, archives):
    data = archives[TRAIN_INPUT]
    dest = tmp_path / TRAIN_INPUT
    dest.write_bytes(b"x" * len(data))

    download_file(server.base_url + TRAIN_INPUT, dest, sha256(data), policy=FAST)

    assert len(server.requests_for(TRAIN_INPUT)) == 1
    assert dest.read_bytes() == data
