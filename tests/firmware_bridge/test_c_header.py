"""docs/rig_protocol.h, compiled with the machine's C compiler, against every hex vector
and against the numbers of ``firmware_bridge.messages``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from firmware_bridge import messages
from firmware_bridge.codec import (
    CHANNEL_EXTRA_SIZE,
    INFO_CHANNEL_EXTRA,
    INFO_TABLE_OMITTED,
    INFO_WATCHDOG_TRIPPED,
    decode_body,
    encode_payload,
)

from .test_vectors import BODY, WIRE
from .vectors import VECTORS

HEADER_FILE = Path(__file__).resolve().parents[2] / "docs" / "rig_protocol.h"

MAIN = r"""
#include <stdio.h>
#define RIG_PROTOCOL_IMPLEMENTATION
#include "rig_protocol.h"

typedef struct { const char *name; const uint8_t *wire; size_t nwire; const uint8_t *body;
                 size_t nbody; uint8_t type, flags; uint32_t seq, ack; } vec_t;
%(arrays)s
static const vec_t VECS[] = { %(table)s };
static rig_deframer_t D;
static uint8_t out[RIG_MAX_ENCODED + 1], dec[RIG_MAX_BODY];

#define CHECK(c, what) \
    do { if (!(c)) { printf("FAIL %%s: %%s\n", v->name, what); return 1; } } while (0)

static int one(const vec_t *v) {
    size_t got = 0; int frames = 0;
    for (size_t i = 0; i < v->nwire; i++) {
        size_t n = rig_deframer_push(&D, v->wire[i]);
        if (n) { got = n; frames++; }
    }
    CHECK(frames == 1 && got == v->nbody - 4, "deframer length");
    CHECK(memcmp(D.body, v->body, got) == 0, "deframer body");
    rig_header_t h; rig_get_header(D.body, &h);
    CHECK(h.version == 1 && h.type == v->type && h.flags == v->flags, "header bytes");
    CHECK(h.seq == v->seq && h.ack == v->ack, "header seq/ack");
    CHECK(rig_cobs_decode(v->wire, v->nwire - 1, dec) == (long)v->nbody, "cobs length");
    CHECK(memcmp(dec, v->body, v->nbody) == 0, "cobs decode");
    CHECK(rig_frame_encode(v->body, v->nbody - 4, out) == v->nwire, "encode length");
    CHECK(memcmp(out, v->wire, v->nwire) == 0, "encode bytes");
    uint32_t bad = D.crc_errors + D.framing_errors;
    memcpy(out, v->wire, v->nwire);
    out[v->nwire / 2] ^= 0x10; /* one flipped bit: never a frame */
    if (out[v->nwire / 2] == 0) out[v->nwire / 2] = 0x42;
    for (size_t i = 0; i < v->nwire; i++) CHECK(rig_deframer_push(&D, out[i]) == 0, "flip");
    CHECK(D.crc_errors + D.framing_errors > bad, "flip not counted");
    if (v->type == RIG_HELLO) {
        rig_hello_t m;
        CHECK(rig_get_hello(D.body + 12, got - 12, &m) == 0 && m.watchdog_ms == 250, "hello");
    }
    if (v->type == RIG_COMMAND) {
        rig_command_t c;
        CHECK(rig_get_command(v->body + 12, v->nbody - 16, &c) == 0 && c.code == 3
              && c.args[0] == 10.0f && rig_in_range(c.args[2], 0.0f, 0.3f), "command");
    }
    return 0;
}

int main(void) {
    rig_deframer_init(&D);
    const uint8_t check[] = "123456789";
    if (rig_crc32c(0, check, 9) != 0xE3069283u) { puts("FAIL crc check value"); return 1; }
    static uint8_t big[5000];
    memset(big, 0x55, sizeof big);
    for (size_t i = 0; i < sizeof big; i++) rig_deframer_push(&D, big[i]);
    rig_deframer_push(&D, 0);
    if (D.oversize_errors != 1) { puts("FAIL oversize"); return 1; }
    size_t n = sizeof VECS / sizeof VECS[0];
    for (size_t i = 0; i < n; i++) if (one(&VECS[i])) return 1;
    printf("ok %%zu vectors, %%u frames, %%u crc errors, %%u framing errors\n", n,
           (unsigned)D.frames, (unsigned)D.crc_errors, (unsigned)D.framing_errors);
    return 0;
}
"""


def _c_array(name: str, data: bytes) -> str:
    return f"static const uint8_t {name}[] = {{{', '.join(str(b) for b in data)}}};"


def test_c_header_passes_every_vector(tmp_path) -> None:
    cc = shutil.which("cc")
    assert cc is not None, "a C compiler (cc) is required to check docs/rig_protocol.h"
    arrays, table = [], []
    for i, (name, *_rest) in enumerate(VECTORS):
        wire, body = WIRE[name], BODY[name]
        frame = decode_body(body[:-4])
        arrays += [_c_array(f"w{i}", wire), _c_array(f"b{i}", body)]
        table.append(f'{{"{name}", w{i}, {len(wire)}, b{i}, {len(body)}, {frame.msg_type}, '
                     f"{frame.flags}, {frame.seq}u, {frame.ack}u}}")
    src = tmp_path / "vectors.c"
    src.write_text(MAIN % {"arrays": "\n".join(arrays), "table": ",\n".join(table)})
    exe = tmp_path / "vectors"
    subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-O1",
                    "-I", str(HEADER_FILE.parent), str(src), "-o", str(exe)],
                   check=True, capture_output=True, text=True, timeout=120)
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith(f"ok {len(VECTORS)} vectors, {len(VECTORS)} frames"), run.stdout


# Python name -> C name: every member of each enum the wire uses, and the constants.
# A name missing from the header fails to compile (the error names it); a wrong
# value fails the comparison.
C_PREFIX: dict[type, tuple[str, dict[str, str]]] = {
    messages.MsgType: ("RIG_", {}),
    messages.Flags: ("RIG_F_", {}),
    messages.Reason: ("RIG_R_", {}),
    messages.CommandCode: ("RIG_CMD_", {}),
    messages.ResultStatus: ("RIG_", {}),
    messages.EventCode: ("RIG_EV_", {}),
    messages.FirmwareSeverity: ("RIG_SEV_", {}),
    messages.Capability: ("RIG_CAP_", {}),
    messages.Status: ("RIG_ST_", {}),
    messages.ResetReason: ("RIG_RESET_", {}),
    messages.Param: ("RIG_P_", {}),
    messages.ParamStatus: ("RIG_PS_", {"UNKNOWN_PARAM": "UNKNOWN"}),
    messages.HelloFlag: ("RIG_HELLO_", {}),
}
C_CONSTANTS = {
    "RIG_PROTOCOL_VERSION": messages.PROTOCOL_VERSION,
    "RIG_PROTOCOL_REVISION_MAJOR": messages.PROTOCOL_REVISION[0],
    "RIG_PROTOCOL_REVISION_MINOR": messages.PROTOCOL_REVISION[1],
    "RIG_COUNT_NO_READING": messages.NO_READING,
    "RIG_COUNT_RAIL": messages.COUNT_RAIL,
    "RIG_INFO_TABLE_OMITTED": INFO_TABLE_OMITTED,
    "RIG_INFO_WATCHDOG_TRIPPED": INFO_WATCHDOG_TRIPPED,
    "RIG_INFO_CHANNEL_EXTRA": INFO_CHANNEL_EXTRA,
    "RIG_CHANNEL_EXTRA_SIZE": CHANNEL_EXTRA_SIZE,
}


def test_c_header_numbers_are_the_python_ones(tmp_path) -> None:
    cc = shutil.which("cc")
    assert cc is not None, "a C compiler (cc) is required to check docs/rig_protocol.h"
    want = dict(C_CONSTANTS)
    for enum, (prefix, renamed) in C_PREFIX.items():
        for member in enum:
            assert member.name is not None
            want[prefix + renamed.get(member.name, member.name)] = int(member)
    lines = "\n".join(f'    printf("{name} %lld\\n", (long long)({name}));' for name in want)
    src = tmp_path / "numbers.c"
    src.write_text(f'#include <stdio.h>\n#include "rig_protocol.h"\nint main(void) {{\n{lines}\n'
                   "    return 0;\n}\n")
    exe = tmp_path / "numbers"
    build = subprocess.run([cc, "-std=c99", "-Wall", "-Werror", "-I", str(HEADER_FILE.parent),
                            str(src), "-o", str(exe)], capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=True)
    got = {name: int(value) for name, value in (line.split() for line in run.stdout.splitlines())}
    assert got == want


def test_c_header_reads_the_1_2_hello_flags(tmp_path) -> None:
    """A firmware built on the header sees the host's WANTS_CHANNEL_EXTRA bit (and 0
    from a 1.1 host) where the Python codec puts it."""
    cc = shutil.which("cc")
    assert cc is not None, "a C compiler (cc) is required to check docs/rig_protocol.h"
    new = encode_payload(messages.Hello(session_id=5,
                                          hello_flags=messages.HelloFlag.WANTS_CHANNEL_EXTRA))
    old = encode_payload(messages.Hello(session_id=6))
    src = tmp_path / "hello.c"
    src.write_text(
        '#include <stdio.h>\n#define RIG_PROTOCOL_IMPLEMENTATION\n#include "rig_protocol.h"\n'
        f"static const uint8_t NEW[] = {{{', '.join(map(str, new))}}};\n"
        f"static const uint8_t OLD[] = {{{', '.join(map(str, old))}}};\n"
        "int main(void) {\n    rig_hello_t a, b;\n"
        "    if (rig_get_hello(NEW, sizeof NEW, &a) || rig_get_hello(OLD, sizeof OLD, &b))"
        " return 2;\n"
        '    printf("%u %u %u %u\\n", (unsigned)(a.hello_flags & RIG_HELLO_WANTS_CHANNEL_EXTRA), '
        "(unsigned)a.session_id, (unsigned)b.hello_flags, (unsigned)b.session_id);\n"
        "    return 0;\n}\n")
    exe = tmp_path / "hello"
    build = subprocess.run([cc, "-std=c99", "-Wall", "-Wextra", "-Werror", "-I",
                            str(HEADER_FILE.parent), str(src), "-o", str(exe)],
                           capture_output=True, text=True, timeout=120)
    assert build.returncode == 0, build.stderr
    run = subprocess.run([str(exe)], capture_output=True, text=True, timeout=60, check=True)
    assert run.stdout.split() == ["1", "5", "0", "6"]
