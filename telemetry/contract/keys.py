"""Ed25519 keys: hex parsing, fingerprints and the key files ``rig-ground keygen`` writes.

Theory of operation
-------------------
Every principal has one Ed25519 key pair (PyNaCl): each ground station signs
commands with its own key, the rover signs ledger entries with its own. Public
keys travel as 64 lowercase hex characters (configuration, ``*.pub`` files).
A key file is a small JSON object so a human can tell what it is::

    {"type": "regolith-rig-ed25519-secret", "v": 1, "key_id": "ops-1", "seed": "<64 hex>"}
    {"type": "regolith-rig-ed25519-public", "v": 1, "key_id": "ops-1", "public_key": "<64 hex>"}

Secret files are created with mode 0600 and never overwritten silently. The
fingerprint (first 16 hex characters of SHA-256 of the raw public key) names a
key in ledger entries and logs without repeating the whole key.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path

from nacl.exceptions import CryptoError
from nacl.signing import SigningKey, VerifyKey

from telemetry.contract.errors import KeyFileError

KEY_ID_RE = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")
SECRET_TYPE = "regolith-rig-ed25519-secret"
PUBLIC_TYPE = "regolith-rig-ed25519-public"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def parse_public_key_hex(text: object) -> VerifyKey:
    """A ``VerifyKey`` from 64 lowercase hex characters; ``ValueError`` says what is wrong."""
    if not isinstance(text, str):
        raise ValueError(f"expected 64 hex characters, got {type(text).__name__}")
    if not _HEX64.match(text):
        raise ValueError(f"expected 64 lowercase hex characters, got {len(text)} characters "
                         f"{text[:16]!r}...")
    try:
        return VerifyKey(bytes.fromhex(text))
    except (CryptoError, ValueError) as err:  # pragma: no cover - any 32 bytes are accepted
        raise ValueError(f"not an Ed25519 public key: {err}") from err


def public_key_hex(key: VerifyKey | SigningKey) -> str:
    vk = key.verify_key if isinstance(key, SigningKey) else key
    return bytes(vk).hex()


def fingerprint(key: VerifyKey | SigningKey) -> str:
    """First 16 hex characters of SHA-256 of the raw public key."""
    vk = key.verify_key if isinstance(key, SigningKey) else key
    return hashlib.sha256(bytes(vk)).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class StationKey:
    """A private key with the id under which the rover knows its public half."""

    key_id: str
    signing_key: SigningKey

    @property
    def public_key_hex(self) -> str:
        return public_key_hex(self.signing_key)

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.signing_key)


def generate(key_id: str) -> StationKey:
    if not KEY_ID_RE.match(key_id):
        raise ValueError(f"key id: expected 1-64 characters of [A-Za-z0-9_.-], got {key_id!r}")
    return StationKey(key_id, SigningKey.generate())


def write_key_files(key: StationKey, directory: str | Path, *, overwrite: bool = False
                    ) -> tuple[Path, Path]:
    """Write ``<key_id>.key`` (0600) and ``<key_id>.pub``; returns both paths.

    Raises ``FileExistsError`` when the secret file exists and ``overwrite`` is false."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    secret_path = directory / f"{key.key_id}.key"
    public_path = directory / f"{key.key_id}.pub"
    secret = {"type": SECRET_TYPE, "v": 1, "key_id": key.key_id,
              "seed": bytes(key.signing_key).hex()}
    flags = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if overwrite else os.O_EXCL)
    fd = os.open(secret_path, flags, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(secret, fh)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    public = {"type": PUBLIC_TYPE, "v": 1, "key_id": key.key_id,
              "public_key": key.public_key_hex}
    public_path.write_text(json.dumps(public) + "\n")
    return secret_path, public_path


def _load_json(path: Path) -> dict[str, object]:
    try:
        text = path.read_text()
    except OSError as err:
        raise KeyFileError(str(path), f"cannot read: {err.strerror}") from err
    try:
        obj = json.loads(text)
    except ValueError as err:
        raise KeyFileError(str(path), f"not a key file (not JSON: {err})") from err
    if not isinstance(obj, dict):
        raise KeyFileError(str(path), "not a key file (expected a JSON object)")
    return obj


def load_secret_key(path: str | Path) -> StationKey:
    """Read a secret key file; raises ``KeyFileError`` naming the problem."""
    path = Path(path)
    obj = _load_json(path)
    if obj.get("type") != SECRET_TYPE:
        raise KeyFileError(str(path), f"expected type {SECRET_TYPE!r}, got {obj.get('type')!r}"
                           + (" (this is a public key file)" if obj.get("type") == PUBLIC_TYPE
                              else ""))
    key_id, seed = obj.get("key_id"), obj.get("seed")
    if not isinstance(key_id, str) or not KEY_ID_RE.match(key_id):
        raise KeyFileError(str(path), f"key_id: expected 1-64 characters of [A-Za-z0-9_.-], "
                                      f"got {key_id!r}")
    if not isinstance(seed, str) or not _HEX64.match(seed):
        raise KeyFileError(str(path), "seed: expected 64 lowercase hex characters")
    return StationKey(key_id, SigningKey(bytes.fromhex(seed)))


def load_public_key(path_or_hex: str | Path) -> tuple[str | None, VerifyKey]:
    """A public key from a ``.pub``/``.key`` file or from 64 hex characters: (key_id, key)."""
    text = str(path_or_hex)
    if _HEX64.match(text):
        return None, parse_public_key_hex(text)
    path = Path(text)
    obj = _load_json(path)
    if obj.get("type") == SECRET_TYPE:
        secret = load_secret_key(path)
        return secret.key_id, secret.signing_key.verify_key
    if obj.get("type") != PUBLIC_TYPE:
        raise KeyFileError(str(path), f"expected type {PUBLIC_TYPE!r}, got {obj.get('type')!r}")
    try:
        key = parse_public_key_hex(obj.get("public_key"))
    except ValueError as err:
        raise KeyFileError(str(path), f"public_key: {err}") from err
    key_id = obj.get("key_id")
    return (key_id if isinstance(key_id, str) else None), key


__all__ = [
    "KEY_ID_RE",
    "StationKey",
    "fingerprint",
    "generate",
    "load_public_key",
    "load_secret_key",
    "parse_public_key_hex",
    "public_key_hex",
    "write_key_files",
]
