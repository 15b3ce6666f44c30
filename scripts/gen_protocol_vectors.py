"""Regenerate the hex vectors of docs/protocol.md section 9 from tests/firmware_bridge/vectors.py.

Run only when the protocol changes on purpose (and bump the version if the
change is incompatible): `python scripts/gen_protocol_vectors.py`.
"""

from __future__ import annotations

import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from firmware_bridge.codec import encode_frame  # noqa: E402
from firmware_bridge.framing import cobs_decode  # noqa: E402
from firmware_bridge.messages import Flags  # noqa: E402
from tests.firmware_bridge.vectors import VECTORS  # noqa: E402


def _hex(b: bytes) -> str:
    return "\n".join(textwrap.wrap(" ".join(f"{x:02x}" for x in b), 48))


def render() -> str:
    out = []
    for name, m, seq, ack, fl in VECTORS:
        wire = encode_frame(m, seq=seq, ack=ack, flags=fl)
        body = cobs_decode(wire[:-1])
        names = [f.name for f in Flags if body[2] & f] or ["none"]
        text = repr(m)
        if name.startswith("SAMPLE_BATCH"):
            text = text[:-1] + f", counts={m.counts.tolist()})"
        out.append(f"### {name}\n\n`{text}`, seq={seq}, ack={ack}, flags={'|'.join(names)}\n")
        out.append(f"```text body={name}\n{_hex(body)}\n```\n")
        out.append(f"```text wire={name}\n{_hex(wire)}\n```\n")
    return "\n".join(out) + "\n"


def main() -> None:
    doc = ROOT / "docs" / "protocol.md"
    text = doc.read_text(encoding="utf-8")
    start = text.index("### ", text.index("## 9. Test vectors"))
    end = text.index("## 10.")
    doc.write_text(text[:start] + render() + text[end:], encoding="utf-8")


if __name__ == "__main__":
    main()
