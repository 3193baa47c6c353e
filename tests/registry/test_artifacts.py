"""The content-addressed artifact store and display-name sanitizing (issue #3)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from registry import artifacts
from registry.artifacts import (
    ArtifactCorrupted,
    ArtifactMissing,
    ArtifactStore,
    ArtifactTooLarge,
    InvalidDigest,
    sanitize_display_name,
)

PAYLOAD = b"onnx-bytes-" * 50_000  # 550 kB


def chunked(data: bytes, size: int = 65_536) -> Iterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


def staging_files(store: ArtifactStore) -> list[Path]:
    return sorted(store.staging_dir.iterdir()) if store.staging_dir.exists() else []


def stored_files(store: ArtifactStore) -> list[Path]:
    return sorted(path for path in (store.root / "sha256").rglob("*") if path.is_file())


def flip_a_byte(path: Path) -> None:
    path.chmod(0o644)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


# --- Receiving ---------------------------------------------------------------------------------------------------


def test_receive_streams_chunks_into_staging(store: ArtifactStore) -> None:
    """GIVEN an upload arriving in chunks
    WHEN it is received
    THEN it lands in one read-only staging file under ARTIFACT_ROOT with its SHA-256 and size."""
    staged = artifacts.receive(chunked(PAYLOAD), max_bytes=len(PAYLOAD))

    assert staged.sha256 == hashlib.sha256(PAYLOAD).hexdigest()
    assert staged.size == len(PAYLOAD)
    assert staged.path.parent == store.staging_dir
    assert staged.path.read_bytes() == PAYLOAD
    assert not staged.path.stat().st_mode & (stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH)


def test_upload_over_the_limit_stops_early_and_leaves_nothing(store: ArtifactStore) -> None:
    """GIVEN an upload larger than max_bytes
    WHEN it is received
    THEN ArtifactTooLarge is raised as soon as the limit is crossed, no more chunks are read, no file is left."""
    consumed = []

    def endless() -> Iterator[bytes]:
        while True:
            consumed.append(1)
            yield b"x" * 1000

    with pytest.raises(ArtifactTooLarge, match=r"^The upload is larger than the limit of 10500 bytes\.$"):
        artifacts.receive(endless(), max_bytes=10_500)

    assert len(consumed) == 11
    assert staging_files(store) == []


def test_upload_of_exactly_the_limit_is_accepted(store: ArtifactStore) -> None:
    """GIVEN an upload of exactly max_bytes
    WHEN it is received
    THEN it is accepted."""
    with artifacts.receive(chunked(PAYLOAD), max_bytes=len(PAYLOAD)) as staged:
        assert staged.size == len(PAYLOAD)


def test_a_failing_upload_stream_leaves_nothing(store: ArtifactStore) -> None:
    """GIVEN an upload whose stream breaks halfway (a client disconnect)
    WHEN it is received
    THEN the error propagates and no staging file is left."""

    def broken() -> Iterator[bytes]:
        yield b"half of a model"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError, match=r"^client went away$"):
        artifacts.receive(broken(), max_bytes=1_000_000)

    assert staging_files(store) == []


def test_chunks_must_be_bytes(store: ArtifactStore) -> None:
    """GIVEN an upload stream yielding text
    WHEN it is received
    THEN it is refused and nothing is left."""
    with pytest.raises(TypeError, match=r"^Upload chunks must be bytes, not str\.$"):
        artifacts.receive(cast(Iterator[bytes], iter(["text"])), max_bytes=100)

    assert staging_files(store) == []


def test_staged_upload_is_discarded_unless_committed(store: ArtifactStore) -> None:
    """GIVEN a staged upload used as a context manager
    WHEN the block ends without a commit (validation refused it, or raised)
    THEN the staging file is removed."""
    with pytest.raises(RuntimeError, match=r"^validation blew up$"), artifacts.receive([b"model"], max_bytes=100):
        raise RuntimeError("validation blew up")
    with artifacts.receive([b"model"], max_bytes=100):
        pass

    assert staging_files(store) == []


# --- Committing --------------------------------------------------------------------------------------------------


def test_commit_stores_under_the_content_address(store: ArtifactStore) -> None:
    """GIVEN a staged upload
    WHEN it is committed
    THEN it is stored read-only at sha256/<aa>/<bb>/<digest>, a name derived only from the bytes, and the staging
    file is gone."""
    digest = hashlib.sha256(PAYLOAD).hexdigest()
    with artifacts.receive(chunked(PAYLOAD), max_bytes=len(PAYLOAD)) as staged:
        stored = artifacts.commit(staged)

    assert stored.path == store.root / "sha256" / digest[:2] / digest[2:4] / digest
    assert stored.created
    assert stored.size == len(PAYLOAD)
    assert stored.path.read_bytes() == PAYLOAD
    assert stat.S_IMODE(stored.path.stat().st_mode) == 0o444
    assert staging_files(store) == []


def test_same_content_is_stored_once(store: ArtifactStore) -> None:
    """GIVEN the same bytes uploaded twice
    WHEN both are committed
    THEN the second commit deduplicates onto the first: one file, same path, created only once."""
    first = artifacts.commit(artifacts.receive([PAYLOAD], max_bytes=len(PAYLOAD)))
    second = artifacts.commit(artifacts.receive(chunked(PAYLOAD, 999), max_bytes=len(PAYLOAD)))

    assert (first.created, second.created) == (True, False)
    assert first.path == second.path
    assert stored_files(store) == [first.path]
    assert staging_files(store) == []


def test_dedupe_heals_a_corrupted_copy(store: ArtifactStore) -> None:
    """GIVEN a stored artifact whose bytes rotted on disk
    WHEN the same content is uploaded and committed again
    THEN the good bytes replace the bad ones."""
    stored = artifacts.commit(artifacts.receive([PAYLOAD], max_bytes=len(PAYLOAD)))
    flip_a_byte(stored.path)

    again = artifacts.commit(artifacts.receive([PAYLOAD], max_bytes=len(PAYLOAD)))

    assert again.created
    assert artifacts.verify(stored.sha256).size == len(PAYLOAD)


def test_commit_refuses_a_staged_file_changed_after_hashing(store: ArtifactStore) -> None:
    """GIVEN a staged upload whose file was altered after it was received (while being validated, say)
    WHEN it is committed
    THEN ArtifactCorrupted is raised and nothing is stored or left in staging."""
    staged = artifacts.receive([PAYLOAD], max_bytes=len(PAYLOAD))
    flip_a_byte(staged.path)

    with pytest.raises(ArtifactCorrupted, match=rf"^The stored artifact {staged.sha256} no longer matches its digest"):
        artifacts.commit(staged)

    assert stored_files(store) == []
    assert staging_files(store) == []


# --- Reading back ------------------------------------------------------------------------------------------------


def test_open_verified_streams_the_stored_bytes(store: ArtifactStore) -> None:
    """GIVEN a stored artifact
    WHEN it is read back through open_verified, in chunks or whole
    THEN the bytes come back unchanged and no error is raised."""
    stored = artifacts.commit(artifacts.receive([PAYLOAD], max_bytes=len(PAYLOAD)))

    with artifacts.open_verified(stored.sha256) as reader:
        assert b"".join(reader) == PAYLOAD
    assert artifacts.read_verified(stored.sha256) == PAYLOAD
    assert artifacts.verify(stored.sha256).size == len(PAYLOAD)


def test_corruption_on_disk_is_detected_on_read(store: ArtifactStore) -> None:
    """GIVEN a stored artifact with one byte flipped on disk
    WHEN it is read back, verified, or loaded whole
    THEN ArtifactCorrupted is raised each time, naming the expected and the actual digest."""
    stored = artifacts.commit(artifacts.receive([PAYLOAD], max_bytes=len(PAYLOAD)))
    flip_a_byte(stored.path)
    actual = hashlib.sha256(stored.path.read_bytes()).hexdigest()

    with (
        pytest.raises(
            ArtifactCorrupted,
            match=rf"^The stored artifact {stored.sha256} no longer matches its digest \(its bytes hash to {actual}\)",
        ) as caught,
        artifacts.open_verified(stored.sha256) as reader,
    ):
        for _chunk in reader:
            pass
    assert caught.value.actual == actual
    assert stored.sha256 in str(caught.value)
    with pytest.raises(
        ArtifactCorrupted,
        match=rf"^The stored artifact {stored.sha256} no longer matches its digest \(its bytes hash to {actual}\)\.$",
    ):
        artifacts.verify(stored.sha256)
    with pytest.raises(
        ArtifactCorrupted,
        match=rf"^The stored artifact {stored.sha256} no longer matches its digest \(its bytes hash to {actual}\)\.$",
    ):
        artifacts.read_verified(stored.sha256)


def test_a_partial_read_still_checks_the_whole_file(store: ArtifactStore) -> None:
    """GIVEN a stored artifact corrupted near its end
    WHEN a reader reads a few bytes and then hits the end with read(size)
    THEN the unread rest is hashed too and corruption is reported."""
    stored = artifacts.commit(artifacts.receive([PAYLOAD], max_bytes=len(PAYLOAD)))
    flip_a_byte(stored.path)

    def read_in_steps() -> None:
        with artifacts.open_verified(stored.sha256) as reader:
            assert reader.read(10) == PAYLOAD[:10]
            while reader.read(1_000_000):
                pass

    with pytest.raises(ArtifactCorrupted, match=rf"^The stored artifact {stored.sha256} no longer matches its digest"):
        read_in_steps()


def test_missing_artifact(store: ArtifactStore) -> None:
    """GIVEN a digest nothing was stored under
    WHEN it is opened or verified
    THEN ArtifactMissing is raised."""
    digest = hashlib.sha256(b"never uploaded").hexdigest()

    with pytest.raises(ArtifactMissing, match=rf"^No artifact with SHA-256 {digest} is stored\.$"):
        artifacts.open_verified(digest)
    with pytest.raises(ArtifactMissing, match=rf"^No artifact with SHA-256 {digest} is stored\.$"):
        artifacts.verify(digest)
    assert not store.exists(digest)


def test_a_symlink_in_the_store_is_not_followed(store: ArtifactStore) -> None:
    """GIVEN a symlink planted where a stored artifact should be
    WHEN it is opened
    THEN it is refused rather than followed."""
    digest = hashlib.sha256(b"secret").hexdigest()
    target = store.path_for(digest)
    target.parent.mkdir(parents=True)
    target.symlink_to("/etc/hostname")

    with pytest.raises(
        ArtifactCorrupted,
        match=rf"^The stored artifact {digest} no longer matches its digest \(its bytes hash to unreadable \(",
    ):
        artifacts.open_verified(digest)


@pytest.mark.parametrize(
    "digest",
    [
        "../../../../etc/passwd",
        "A" * 64,  # upper case
        "a" * 63,
        "a" * 65,
        "g" * 64,
        "a" * 62 + "/x",
        "a" * 64 + "\n",
        "",
        None,
    ],
)
def test_invalid_digests_never_become_paths(store: ArtifactStore, digest: Any) -> None:
    """GIVEN something that is not 64 lowercase hex characters
    WHEN it is used as a digest
    THEN InvalidDigest (a ValueError) is raised before any path is built."""
    for call in (store.path_for, artifacts.open_verified, artifacts.verify, artifacts.read_verified, store.exists):
        with pytest.raises(
            InvalidDigest,
            match="^" + re.escape(f"Not a SHA-256 digest (64 lowercase hexadecimal characters): {digest!r:.80}") + "$",
        ):
            call(digest)


# --- Staging cleanup ---------------------------------------------------------------------------------------------


def test_cleanup_removes_only_stale_staging_leftovers(store: ArtifactStore) -> None:
    """GIVEN an upload left in staging two days ago by a dead process, a validator folder as old, and a fresh upload
    WHEN stale staging files older than 24 hours are cleaned up
    THEN the old ones are removed and the fresh one is kept."""
    fresh = artifacts.receive([b"fresh"], max_bytes=100)
    stale = artifacts.receive([b"stale"], max_bytes=100)
    stale_folder = store.staging_dir / ".onnx-check-dead"
    stale_folder.mkdir()
    (stale_folder / "model.onnx").write_bytes(b"x")
    two_days_ago = time.time() - 48 * 3600
    for path in (stale.path, stale_folder):
        os.utime(path, (two_days_ago, two_days_ago))

    removed = artifacts.cleanup_staging(older_than_hours=24)

    assert sorted(removed) == sorted([stale.path, stale_folder])
    assert staging_files(store) == [fresh.path]


def test_cleanup_without_staging_folder(store: ArtifactStore) -> None:
    """GIVEN a store that never received anything
    WHEN cleanup runs
    THEN it removes nothing and does not fail."""
    assert artifacts.cleanup_staging() == []


# --- Display names -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("model.onnx", "model.onnx"),
        ("../../etc/passwd", "passwd"),
        ("%2e%2e/%2e%2e/etc/passwd", "passwd"),
        ("%2e%2e%2fsecret.onnx", "secret.onnx"),
        ("%252e%252e%252fdouble.onnx", "double.onnx"),
        ("..\\..\\windows\\system32\\model.onnx", "model.onnx"),
        ("C:\\Users\\me\\model.onnx", "model.onnx"),
        ("mod\x00el.onnx", "model.onnx"),
        ("mod%00el.onnx", "model.onnx"),
        ("evil\u202eexe.onnx", "evilexe.onnx"),  # right-to-left override
        ("in\u200bvisible.onnx", "invisible.onnx"),  # zero-width space
        ("\ufeffbom.onnx", "bom.onnx"),
        ("line\nbreak\r.onnx", "linebreak.onnx"),
        ("  spaced\u00a0  out .onnx ", "spaced out .onnx"),
        (".hidden.onnx", "hidden.onnx"),
        ("Modèle été.onnx", "Modèle été.onnx"),
    ],
)
def test_display_names_are_sanitized(raw: str, expected: str) -> None:
    """GIVEN a client file name with paths, encodings, control or invisible characters
    WHEN it is sanitized for display
    THEN only the visible last component remains."""
    assert sanitize_display_name(raw) == expected


def test_long_display_names_keep_their_extension() -> None:
    """GIVEN a file name of a thousand characters
    WHEN it is sanitized
    THEN it is cut to the cap and keeps its extension."""
    name = sanitize_display_name("m" * 1000 + ".onnx")

    assert len(name) == 255
    assert name.endswith("m.onnx")
    assert len(sanitize_display_name("x" * 1000, max_length=40)) == 40


@pytest.mark.parametrize("raw", ["", "..", "../", "%2e%2e/", "\u202e\u200b", "\x00\x01", "dir/", "   "])
def test_display_names_with_nothing_usable_are_refused(raw: str) -> None:
    """GIVEN a file name that is only a path, dots, or invisible characters
    WHEN it is sanitized
    THEN ValueError says nothing usable is left."""
    with pytest.raises(ValueError, match="nothing usable"):
        sanitize_display_name(raw)
