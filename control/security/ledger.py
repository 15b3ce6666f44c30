"""The on-board extraction ledger: an append-only, fsynced JSONL file.

Theory of operation
-------------------
``Ledger.open(path, signing_key, rig_id)`` reads the existing file, drops a
torn last line (a crash during an append that therefore never returned), and
verifies the whole chain with the rover's own key; a broken chain raises
``LedgerCorruptError`` rather than extending evidence that cannot be trusted.
``append(record)`` signs the next entry (``ledger_format.make_entry``), writes
it with one ``write`` and ``fsync``s before returning, so an entry the caller
has seen is on disk. A failed write is rolled back (truncate to the previous
size) and raises ``LedgerError``. The returned ``LedgerEntry.record()`` is the
payload for the rig's ``ledger`` topic (priority CRITICAL: never evicted).

``append`` does file I/O (one write and one fsync per dump, a few ms): call it
from the app layer (or an executor), not from the pure control step.
``records_from(n)`` re-reads entries ``n``... for the start-up reconciliation
of ``control.runtime.ledger_writer`` (entries on disk that never reached the outbox).
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from nacl.signing import SigningKey

from telemetry.contract.json_fields import JsonObject
from telemetry.contract.ledger_format import (
    GENESIS,
    DumpRecord,
    LedgerEntry,
    make_entry,
    parse_line,
    verify_ledger,
)

from .errors import LedgerCorruptError, LedgerError

log = logging.getLogger(__name__)


class Ledger:
    def __init__(self, path: Path, signing_key: SigningKey, rig_id: str, fd: int,
                 count: int, head: str, totals_kg: dict[str, float]) -> None:
        self.path = path
        self.rig_id = rig_id
        self._key = signing_key
        self._fd = fd
        self._count = count
        self._head = head
        self._grams = {site: round(kg * 1000) for site, kg in totals_kg.items()}

    @classmethod
    def open(cls, path: str | Path, signing_key: SigningKey, rig_id: str) -> Ledger:
        """Open (creating if needed) and verify; raises ``LedgerCorruptError``/``LedgerError``."""
        path = Path(path)
        created = not path.exists()
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_APPEND, 0o640)
        except OSError as err:
            raise LedgerError(f"cannot open ledger {path}: {err.strerror}") from err
        try:
            if created:
                _fsync_dir(path.parent)
            data = _read_all(fd)
            if data and not data.endswith(b"\n"):
                keep = data.rfind(b"\n") + 1
                log.warning("ledger %s: dropping a torn last line of %d bytes (a crash during "
                            "an append that never completed)", path, len(data) - keep)
                os.ftruncate(fd, keep)
                os.fsync(fd)
                data = data[:keep]
            lines = data.split(b"\n")[:-1] if data else []
            report = verify_ledger(lines, signing_key.verify_key, rig=rig_id)
            if report.broken is not None:
                raise LedgerCorruptError(str(path), report.broken.line, report.broken.index,
                                         report.broken.reason)
        except OSError as err:
            os.close(fd)
            raise LedgerError(f"cannot read ledger {path}: {err.strerror}") from err
        except LedgerError:
            os.close(fd)
            raise
        log.info("ledger %s: %d entries, head %s", path, report.entries, report.head[:16])
        return cls(path, signing_key, rig_id, fd, report.entries, report.head,
                   dict(report.totals_kg))

    @property
    def count(self) -> int:
        return self._count

    @property
    def head(self) -> str:
        """Hash of the last entry (``GENESIS`` when empty)."""
        return self._head

    def totals_kg(self) -> dict[str, float]:
        """Mass extracted per site over the whole ledger (what quotas are checked against)."""
        # dict(...) copies in one step under the GIL: the controller appends from a worker
        # thread (the fsync stays off the event loop) while the loop reads totals
        return {site: g / 1000.0 for site, g in dict(self._grams).items()}

    def append(self, record: DumpRecord) -> LedgerEntry:
        """Sign, write and fsync the next entry. ``ValueError`` for a bad record,
        ``LedgerError`` when the disk write fails (nothing is left half-written)."""
        if self._fd < 0:
            raise LedgerError(f"ledger {self.path} is closed")
        entry = make_entry(record, rig=self.rig_id, index=self._count, prev=self._head,
                           signing_key=self._key)
        data = entry.line().encode("ascii")
        size = os.fstat(self._fd).st_size
        try:
            written = 0
            while written < len(data):
                written += os.write(self._fd, data[written:])
            os.fsync(self._fd)
        except OSError as err:
            try:
                os.ftruncate(self._fd, size)
                os.fsync(self._fd)
            except OSError:
                log.exception("ledger %s: could not roll back a failed append", self.path)
            raise LedgerError(f"cannot append to ledger {self.path}: {err.strerror}") from err
        self._count += 1
        self._head = entry.hash
        self._grams[entry.site] = self._grams.get(entry.site, 0) + int(entry.body["mass_g"])
        return entry

    def records_from(self, start: int) -> list[JsonObject]:
        """The signed entries ``start``, ``start + 1``, ... as ledger-topic records
        (re-read from the file: for reconciling the downlink at start, off the loop)."""
        if self._fd < 0:
            raise LedgerError(f"ledger {self.path} is closed")
        if start >= self._count:
            return []
        try:
            lines = _read_all(self._fd).split(b"\n")[:self._count]
        except OSError as err:
            raise LedgerError(f"cannot read ledger {self.path}: {err.strerror}") from err
        return [dict(parse_line(line.decode("ascii"))) for line in lines[max(0, start):]]

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _read_all(fd: int) -> bytes:
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 16):
        chunks.append(chunk)
    return b"".join(chunks)


def _fsync_dir(directory: Path) -> None:
    try:
        dfd = os.open(directory, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. platforms without directory fds
        return
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


__all__ = ["GENESIS", "Ledger"]
