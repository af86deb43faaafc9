"""Atomic file output (write to a temporary file in the target folder, then rename); sha256."""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
import stat
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from ._errors import InputError


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path next to ``target``; on success rename it over ``target``.

    On any error the temporary file is removed and ``target`` is left as it was, so a
    reader never sees a half-written file. The file (and any folder created for it) gets
    the permissions the umask gives every new file, as ``open()`` would: 0644 under the
    usual umask 022, readable by colleagues on a shared machine.
    """
    target = Path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = _new_file_beside(target)
    except OSError as error:  # a parent that is a file, no permission, a full disk...
        where = f" ({error.filename})" if error.filename not in (None, str(target)) else ""
        raise InputError(f"cannot write {target}: {error.strerror}{where}") from None
    mode = stat.S_IMODE(os.stat(temporary).st_mode)
    try:
        yield temporary
        os.chmod(temporary, mode)  # some writers (safetensors) replace the file with mode 0600
        os.replace(temporary, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)


def _new_file_beside(target: Path) -> Path:
    """Create an empty file with a fresh hidden name next to ``target``.

    ``tempfile.mkstemp`` would create it with mode 0600 whatever the umask; opening with
    mode 0666 lets the kernel apply the umask (and a default ACL), which also avoids
    reading the process-wide umask. ``O_EXCL`` refuses an existing name or symlink.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        path = target.with_name(f".{target.name}.{secrets.token_hex(6)}.tmp{target.suffix}")
        try:
            os.close(os.open(path, flags, 0o666))
        except FileExistsError:
            continue
        return path


def write_atomic(target: str | os.PathLike[str], write: Callable[[Path], object]) -> None:
    """Call ``write(temporary_path)`` and move the result to ``target`` atomically."""
    with atomic_path(target) as temporary:
        write(temporary)


def write_text_atomic(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` atomically."""
    write_atomic(target, lambda path: path.write_text(text, encoding="utf-8"))


def write_npz_atomic(target: str | os.PathLike[str], arrays: Mapping[str, Any]) -> None:
    """Write ``arrays`` as an uncompressed npz to ``target``, atomically."""
    import numpy as np

    def write(path: Path) -> None:
        with path.open("wb") as handle:
            np.savez(handle, **arrays)

    write_atomic(target, write)


def sha256(chunks: Iterable[bytes]) -> str:
    """Hex sha256 of the bytes of ``chunks`` in order (every digest snnspec records)."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return digest.hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex sha256 of a file's bytes, read in 1 MiB blocks."""
    with Path(path).open("rb") as handle:
        return sha256(iter(lambda: handle.read(1 << 20), b""))


def sha256_text(text: str) -> str:
    """sha256 of UTF-8 text (what the file written from it hashes to)."""
    return sha256([text.encode("utf-8")])
