"""The content-addressed artifact store.

Uploads are streamed into a staging folder under ``ARTIFACT_ROOT`` (hashed on the way in, never held whole in
memory), validated by the caller, then committed under ``<root>/sha256/<aa>/<bb>/<digest>``: a name the server
derives from the bytes, so nothing a client sends ever becomes part of a path. Stored files are read-only and are
re-hashed every time they are read back for use, so bit rot or tampering on disk is caught before a model is served.

The client's file name survives only as display metadata, through :func:`sanitize_display_name`.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import stat
import tempfile
import time
import unicodedata
import urllib.parse
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Self

from django.conf import settings

CHUNK_SIZE = 1024 * 1024
STAGING_FOLDER = "staging"
STORE_FOLDER = "sha256"
STAGING_PREFIX = "upload-"
DISPLAY_NAME_MAX_LENGTH = 255

_DIGEST = re.compile(r"\A[0-9a-f]{64}\Z")
_FILE_MODE = 0o444
_FOLDER_MODE = 0o750


class ArtifactError(Exception):
    """Base class for every error of the store."""


class ArtifactTooLarge(ArtifactError):
    def __init__(self, max_bytes: int) -> None:
        super().__init__(f"The upload is larger than the limit of {max_bytes} bytes.")
        self.max_bytes = max_bytes


class ArtifactMissing(ArtifactError):
    def __init__(self, sha256: str) -> None:
        super().__init__(f"No artifact with SHA-256 {sha256} is stored.")
        self.sha256 = sha256


class ArtifactCorrupted(ArtifactError):
    def __init__(self, sha256: str, actual: str) -> None:
        super().__init__(f"The stored artifact {sha256} no longer matches its digest (its bytes hash to {actual}).")
        self.sha256 = sha256
        self.actual = actual


class InvalidDigest(ValueError):
    def __init__(self, value: object) -> None:
        super().__init__(f"Not a SHA-256 digest (64 lowercase hexadecimal characters): {value!r:.80}")


def check_digest(value: object) -> str:
    """Return ``value`` if it is a SHA-256 hex digest, else raise: the digest becomes a path, so it is the only
    thing that may reach one."""
    if not isinstance(value, str) or not _DIGEST.match(value):
        raise InvalidDigest(value)
    return value


@dataclass(frozen=True)
class StoredArtifact:
    sha256: str
    size: int
    path: Path
    # False when identical content was already stored and this commit only deduplicated onto it.
    created: bool = False


class StagedArtifact:
    """An upload received into the staging folder, hashed but not yet accepted.

    Used as a context manager it is discarded on exit unless it was committed, so an upload that fails validation
    (or an exception anywhere in between) never leaves a file behind.
    """

    def __init__(self, *, store: ArtifactStore, path: Path, sha256: str, size: int) -> None:
        self.store = store
        self.path = path
        self.sha256 = sha256
        self.size = size
        self.committed = False

    def __repr__(self) -> str:
        return f"<StagedArtifact {self.sha256} {self.size} bytes>"

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)

    def commit(self) -> StoredArtifact:
        return self.store.commit(self)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if not self.committed:
            self.discard()


class VerifiedReader:
    """A read-only stream over a stored artifact that hashes what it hands out.

    ``ArtifactCorrupted`` is raised when the end of the file is reached and the bytes did not match, so callers
    must read to the end (``read()`` with no size does) before acting on the data.
    """

    def __init__(self, sha256: str, handle: IO[bytes]) -> None:
        self.sha256 = sha256
        self._handle = handle
        self._hash = hashlib.sha256()
        self._checked = False

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._hash.update(data)
        if not data or size < 0:
            self._finish()
        return data

    def _finish(self) -> None:
        if self._checked:
            return
        # Anything left unread (after a short read) still counts towards the digest.
        for rest in iter(lambda: self._handle.read(CHUNK_SIZE), b""):
            self._hash.update(rest)
        self._checked = True
        actual = self._hash.hexdigest()
        if actual != self.sha256:
            raise ArtifactCorrupted(self.sha256, actual)

    def __iter__(self) -> Iterator[bytes]:
        while chunk := self.read(CHUNK_SIZE):
            yield chunk

    def close(self) -> None:
        self._handle.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def hash_stream(handle: IO[bytes]) -> tuple[str, int]:
    """SHA-256 (hex) and length of what ``handle`` reads from where it stands, in CHUNK_SIZE pieces."""
    digest = hashlib.sha256()
    size = 0
    for chunk in iter(lambda: handle.read(CHUNK_SIZE), b""):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def _open_no_follow(path: Path) -> IO[bytes]:
    # A symlink planted in the store must not redirect a read elsewhere on the disk.
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    return os.fdopen(fd, "rb")


class ArtifactStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    @classmethod
    def default(cls) -> ArtifactStore:
        return cls(settings.ARTIFACT_ROOT)

    @property
    def staging_dir(self) -> Path:
        return self.root / STAGING_FOLDER

    def path_for(self, sha256: str) -> Path:
        digest = check_digest(sha256)
        return self.root / STORE_FOLDER / digest[:2] / digest[2:4] / digest

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def receive(self, chunks: Iterable[bytes], *, max_bytes: int) -> StagedArtifact:
        """Stream ``chunks`` into a new staging file, hashing as they arrive.

        Raises ``ArtifactTooLarge`` as soon as more than ``max_bytes`` arrived; on that or any other exception the
        staging file is removed before the exception propagates.
        """
        self.staging_dir.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=self.staging_dir, prefix=STAGING_PREFIX, suffix=".part")
        path = Path(name)
        digest = hashlib.sha256()
        size = 0
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    if not isinstance(chunk, bytes | bytearray | memoryview):
                        raise TypeError(f"Upload chunks must be bytes, not {type(chunk).__name__}.")
                    size += len(chunk)
                    if size > max_bytes:
                        raise ArtifactTooLarge(max_bytes)
                    digest.update(chunk)
                    out.write(chunk)
                out.flush()
                os.fsync(out.fileno())
            # Read-only from here on: the validator and the commit read it, nothing writes it again.
            path.chmod(_FILE_MODE)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return StagedArtifact(store=self, path=path, sha256=digest.hexdigest(), size=size)

    def commit(self, staged: StagedArtifact) -> StoredArtifact:
        """Move a staged upload to its content address; idempotent for content already stored.

        The staged file is re-hashed first: it sat on disk while an untrusted model was being validated, and the
        name it gets must be the digest of exactly the bytes stored.
        """
        if staged.committed:
            raise ArtifactError("This upload has already been committed.")
        with _open_no_follow(staged.path) as handle:
            actual, size = hash_stream(handle)
        if actual != staged.sha256 or size != staged.size:
            staged.discard()
            raise ArtifactCorrupted(staged.sha256, actual)
        target = self.path_for(staged.sha256)
        target.parent.mkdir(mode=_FOLDER_MODE, parents=True, exist_ok=True)
        staged.path.chmod(_FILE_MODE)
        created = True
        try:
            # link() rather than rename(): it fails if another commit of the same content won the race, which is
            # how we know whether this call created the file.
            os.link(staged.path, target)
        except FileExistsError:
            created = False
            if not self._matches(target, staged.sha256):
                # The copy on disk rotted or was tampered with; the staged bytes are known good, so heal it.
                os.replace(staged.path, target)
                created = True
        except OSError:
            # A filesystem without hard links: rename is atomic too, and a lost race only rewrites identical bytes.
            created = not target.exists()
            os.replace(staged.path, target)
        staged.discard()
        staged.committed = True
        return StoredArtifact(sha256=staged.sha256, size=staged.size, path=target, created=created)

    def _matches(self, path: Path, sha256: str) -> bool:
        try:
            with _open_no_follow(path) as handle:
                return hash_stream(handle)[0] == sha256
        except OSError:
            return False

    def open_verified(self, sha256: str) -> VerifiedReader:
        """Open a stored artifact for reading; the bytes are re-hashed as they are read (see ``VerifiedReader``)."""
        path = self.path_for(sha256)
        try:
            handle = _open_no_follow(path)
        except FileNotFoundError:
            raise ArtifactMissing(sha256) from None
        except OSError as error:  # ELOOP: a symlink where a stored file should be
            raise ArtifactCorrupted(sha256, f"unreadable ({error.strerror})") from None
        return VerifiedReader(sha256, handle)

    def read_verified(self, sha256: str) -> bytes:
        """The whole artifact, checked: for loading a model from memory with no window between check and use."""
        with self.open_verified(sha256) as reader:
            return reader.read()

    def verify(self, sha256: str) -> StoredArtifact:
        """Re-hash a stored artifact; raise ``ArtifactCorrupted`` or ``ArtifactMissing`` if it is not intact."""
        size = 0
        with self.open_verified(sha256) as reader:
            for chunk in reader:
                size += len(chunk)
        return StoredArtifact(sha256=sha256, size=size, path=self.path_for(sha256))

    def cleanup_staging(self, *, older_than_hours: float = 24) -> list[Path]:
        """Remove staging leftovers (uploads and validator folders) not touched for ``older_than_hours``.

        Leftovers exist only when a process died mid-upload; live uploads are younger than any sane threshold.
        Returns what was removed.
        """
        if not self.staging_dir.is_dir():
            return []
        cutoff = time.time() - older_than_hours * 3600
        removed = []
        for entry in self.staging_dir.iterdir():
            info = entry.lstat()
            if info.st_mtime >= cutoff:
                continue
            if stat.S_ISDIR(info.st_mode):
                shutil.rmtree(entry, ignore_errors=True)
            else:
                entry.unlink(missing_ok=True)
            removed.append(entry)
        return removed


def receive(chunks: Iterable[bytes], *, max_bytes: int) -> StagedArtifact:
    return ArtifactStore.default().receive(chunks, max_bytes=max_bytes)


def commit(staged: StagedArtifact) -> StoredArtifact:
    return staged.store.commit(staged)


def open_verified(sha256: str) -> VerifiedReader:
    return ArtifactStore.default().open_verified(sha256)


def read_verified(sha256: str) -> bytes:
    return ArtifactStore.default().read_verified(sha256)


def verify(sha256: str) -> StoredArtifact:
    return ArtifactStore.default().verify(sha256)


def cleanup_staging(*, older_than_hours: float = 24) -> list[Path]:
    return ArtifactStore.default().cleanup_staging(older_than_hours=older_than_hours)


# Characters that change how a name is displayed without being visible: bidi overrides and isolates, zero-width
# joiners, the BOM. All are category Cf; control characters are Cc, and Cs/Co/Cn cannot be shown at all.
_INVISIBLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def sanitize_display_name(name: str, *, max_length: int = DISPLAY_NAME_MAX_LENGTH) -> str:
    """The client's file name reduced to something safe to show; never used in a path.

    Percent-encoding is decoded (repeatedly, so ``%252e`` does not survive as ``%2e``), backslashes count as path
    separators, only the last path component is kept, control and invisible characters are removed, whitespace is
    collapsed, and the result is cut to ``max_length`` characters keeping a short extension.
    """
    if not isinstance(name, str):
        raise ValueError("The file name must be text.")
    text = name
    for _ in range(5):
        decoded = urllib.parse.unquote(text, errors="replace")
        if decoded == text:
            break
        text = decoded
    text = unicodedata.normalize("NFC", text)
    text = "".join(
        " " if unicodedata.category(char) == "Zs" else char
        for char in text
        if unicodedata.category(char) not in _INVISIBLE_CATEGORIES or char == "\t"
    )
    text = text.replace("\t", " ").replace("\\", "/")
    text = text.rsplit("/", 1)[-1]
    text = " ".join(text.split()).lstrip(".").strip()
    if not text:
        raise ValueError(
            f"The file name {name[:80]!r} has nothing usable left once paths, control and invisible characters "
            "are removed."
        )
    if len(text) > max_length:
        stem, dot, suffix = text.rpartition(".")
        if dot and stem and len(suffix) <= 16:
            text = stem[: max_length - len(suffix) - 1].rstrip() + "." + suffix
        else:
            text = text[:max_length].rstrip()
    return text
