/*
 * rig_protocol.h - the rig link protocol 1.2 (docs/protocol.md) for firmware in C.
 *
 * Single header, C99, no allocation, no dependencies beyond <stdint.h>,
 * <stddef.h> and <string.h>. Define RIG_PROTOCOL_IMPLEMENTATION in exactly one
 * .c file before including it to get the function bodies; elsewhere it only
 * declares. The tests compile it with the machine's cc and run it against
 * every hex vector of section 9.
 *
 * Contents: wire constants (section 4), the frame header and fixed payload
 * layouts as byte offsets (section 2.1, 4.x; the wire is little-endian and
 * unaligned, so read it with rig_get_* / write it with rig_put_*, never by
 * casting a struct over a buffer), CRC-32C, COBS encode/decode, and an
 * incremental deframer (bytes in, CRC-checked frame bodies out, errors counted).
 */
#ifndef RIG_PROTOCOL_H
#define RIG_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* --- sizes (section 2) ------------------------------------------------------------ */
#define RIG_PROTOCOL_VERSION 1u /* header byte, the same in every 1.x revision */
#define RIG_PROTOCOL_REVISION_MAJOR 1u /* document revision 1.2 */
#define RIG_PROTOCOL_REVISION_MINOR 2u
#define RIG_HEADER_SIZE 12u
#define RIG_CRC_SIZE 4u
#define RIG_MAX_PAYLOAD 4096u
#define RIG_MAX_BODY (RIG_HEADER_SIZE + RIG_MAX_PAYLOAD + RIG_CRC_SIZE) /* 4112 */
#define RIG_COBS_MAX(n) ((n) + (n) / 254u + 1u)                          /* no delimiter */
#define RIG_MAX_ENCODED RIG_COBS_MAX(RIG_MAX_BODY)                        /* 4129 */

/* --- message types (section 4) ------------------------------------------------------ */
enum rig_msg_type {
    RIG_HELLO = 0x01, RIG_FIRMWARE_INFO = 0x02, RIG_HEARTBEAT = 0x03, RIG_ACK = 0x04,
    RIG_NACK = 0x05, RIG_SAMPLE_BATCH = 0x10, RIG_SETPOINTS = 0x20, RIG_COMMAND = 0x21,
    RIG_COMMAND_RESULT = 0x22, RIG_ESTOP = 0x30, RIG_EVENT = 0x31, RIG_RESET_NOTICE = 0x32,
    RIG_PARAM_GET = 0x40, RIG_PARAM_SET = 0x41, RIG_PARAM_VALUE = 0x42
};

/* FIRMWARE_INFO capabilities (4.2): set the bits of what the firmware implements */
enum rig_capability { RIG_CAP_DRIVE_ARM_FOLLOW = 0x01 };

enum rig_flags { RIG_F_RELIABLE = 0x01, RIG_F_RETRANSMIT = 0x02, RIG_F_ACK_VALID = 0x04 };

enum rig_reason {
    RIG_R_NONE = 0, RIG_R_UNKNOWN_TYPE = 1, RIG_R_BAD_LENGTH = 2, RIG_R_BAD_VALUE = 3,
    RIG_R_UNSUPPORTED_VERSION = 4, RIG_R_NOT_HANDSHAKEN = 5, RIG_R_EXPIRED = 6,
    RIG_R_ESTOP_LATCHED = 7, RIG_R_BUSY = 8, RIG_R_NOT_ENABLED = 9, RIG_R_UNKNOWN_COMMAND = 10,
    RIG_R_CAUSE_PRESENT = 11, RIG_R_INTERRUPTED = 12, RIG_R_LIMIT = 13
};

enum rig_command_code {
    RIG_CMD_ENABLE = 1, RIG_CMD_STOP = 2, RIG_CMD_DRIVE_TO = 3, RIG_CMD_DUMP = 4,
    RIG_CMD_STOW = 5, RIG_CMD_RESET_ESTOP = 6
};

enum rig_result_status {
    RIG_ACCEPTED = 0, RIG_IN_PROGRESS = 1, RIG_DONE = 2, RIG_REJECTED = 3, RIG_FAILED = 4
};

enum rig_event_code {
    RIG_EV_BOOT = 1, RIG_EV_WATCHDOG_STOP = 2, RIG_EV_ESTOP_LATCHED = 3, RIG_EV_ESTOP_RESET = 4,
    RIG_EV_CURRENT_LIMIT = 5, RIG_EV_STALL = 6, RIG_EV_END_STOP = 7, RIG_EV_OVER_TEMPERATURE = 8,
    RIG_EV_LOW_BATTERY = 9, RIG_EV_DUMP_DONE = 10, RIG_EV_DRIVE_DONE = 11, RIG_EV_STOW_DONE = 12,
    RIG_EV_SENSOR_FAULT = 13, RIG_EV_FAULT_INJECTED = 14, RIG_EV_PARAM_CHANGED = 15,
    RIG_EV_STANDSTILL = 16
};

enum rig_status_bits {
    RIG_ST_ESTOP = 0x01, RIG_ST_MOTORS_ENABLED = 0x02, RIG_ST_WATCHDOG_TRIPPED = 0x04,
    RIG_ST_DRIVING = 0x08, RIG_ST_DUMPING = 0x10, RIG_ST_FAULT = 0x20, RIG_ST_STOWING = 0x40
};

enum rig_info_flags { RIG_INFO_TABLE_OMITTED = 0x01, RIG_INFO_WATCHDOG_TRIPPED = 0x02,
                      RIG_INFO_CHANNEL_EXTRA = 0x04 /* 1.2, reserved: 4.2.1 */ };
/* HELLO hello_flags (offset 2; reserved 0 before 1.2) and the per-channel extra block (4.2.1) */
enum rig_hello_flags { RIG_HELLO_WANTS_CHANNEL_EXTRA = 0x01 };
#define RIG_CHANNEL_EXTRA_SIZE 2u /* extra_size in 1.2: u16 noise_floor_counts */
#define RIG_NOISE_FLOOR_UNKNOWN 0u
#define RIG_NOISE_FLOOR_ALWAYS_NOISY 0xFFFFu

enum rig_param {
    RIG_P_WATCHDOG_MS = 1, RIG_P_DRUM_CURRENT_LIMIT_A = 2, RIG_P_ARM_RATE_LIMIT_M_S = 3,
    RIG_P_SAMPLE_RATE_HZ = 4, RIG_P_BATCH_SAMPLES = 5, RIG_P_DRUM_SPEED_KP = 6,
    RIG_P_DRUM_SPEED_KI = 7, RIG_P_MAX_DRUM_SPEED_RAD_S = 8,
    RIG_P_SITE_HALF_SIZE_M = 9, RIG_P_SLOW_STREAM_RATE_HZ = 10 /* 1.2, read-only */
};

enum rig_param_status { RIG_PS_OK = 0, RIG_PS_UNKNOWN = 1, RIG_PS_OUT_OF_RANGE = 2,
                        RIG_PS_READ_ONLY = 3 };

/* EVENT severity (4.11) and RESET_NOTICE reason (4.12) */
enum rig_severity { RIG_SEV_INFO = 0, RIG_SEV_WARNING = 1, RIG_SEV_FAULT = 2, RIG_SEV_CRITICAL = 3 };
enum rig_reset_reason {
    RIG_RESET_POWER_ON = 0, RIG_RESET_WATCHDOG = 1, RIG_RESET_BROWNOUT = 2,
    RIG_RESET_COMMANDED = 3, RIG_RESET_FAULT = 4
};

/* SAMPLE_BATCH counts with a meaning (4.6): a sensor giving no reading, and the rails */
#define RIG_COUNT_NO_READING (-32767 - 1) /* INT16_MIN */
#define RIG_COUNT_RAIL 32767

/* --- timing (section 6, ms) --------------------------------------------------------- */
#define RIG_HEARTBEAT_MS 25u
#define RIG_HELLO_INTERVAL_MS 100u
#define RIG_RETRANSMIT_MS 50u
#define RIG_MAX_RETRANSMISSIONS 10u
#define RIG_WINDOW 8u
#define RIG_NACK_INTERVAL_MS 50u
#define RIG_WATCHDOG_DEFAULT_MS 250u
#define RIG_STANDSTILL_MS 300u
#define RIG_ACK_DELAY_MS 10u        /* 1.2: an ack is on the wire within this (5.1) */
#define RIG_ESTOP_POWER_CUT_MS 50u   /* 1.2: ESTOP to a heartbeat showing power off */
#define RIG_FW_HEARTBEAT_MS 25u      /* 1.2: the firmware's own heartbeat period */

/* --- fixed payload sizes and field offsets (section 4) ----------------------------- */
#define RIG_HELLO_SIZE 16u
#define RIG_INFO_FIXED_SIZE 36u /* then str firmware_id, then the channel table */
#define RIG_CHANNEL_FIXED_SIZE 10u /* u8 id, u8 stream, f32 scale, f32 offset; + 2 str */
#define RIG_HEARTBEAT_SIZE 16u
#define RIG_NACK_SIZE 8u
#define RIG_BATCH_FIXED_SIZE 20u
#define RIG_SETPOINTS_SIZE 20u
#define RIG_COMMAND_SIZE 28u
#define RIG_RESULT_FIXED_SIZE 10u
#define RIG_ESTOP_FIXED_SIZE 4u
#define RIG_EVENT_FIXED_SIZE 16u
#define RIG_RESET_NOTICE_SIZE 8u
#define RIG_PARAM_GET_SIZE 4u
#define RIG_PARAM_SET_SIZE 8u
#define RIG_PARAM_VALUE_SIZE 12u

/* The decoded header (section 2.1). */
typedef struct {
    uint8_t version, type, flags, reserved;
    uint32_t seq, ack;
} rig_header_t;

/* Decoded fixed parts of the messages a firmware receives or sends most. */
typedef struct {
    uint8_t proto_min, proto_max;
    uint16_t hello_flags; /* 1.2: RIG_HELLO_WANTS_CHANNEL_EXTRA (4.2.1) */
    uint32_t session_id; /* 0: not a session, ignore the HELLO (1.2) */
    uint16_t heartbeat_ms, watchdog_ms;
    uint32_t table_crc;
} rig_hello_t;

typedef struct { uint64_t time_us; uint32_t status, echo_seq; } rig_heartbeat_t;
typedef struct { uint32_t rejected_seq; uint8_t rejected_type, reason; } rig_nack_t;
typedef struct { uint64_t deadline_us; float drum_speed, cut_depth; uint32_t flags; }
    rig_setpoints_t;
typedef struct { uint64_t deadline_us; uint16_t code; float args[4]; } rig_command_t;
typedef struct { uint64_t time_us; uint16_t code; uint8_t severity; float value; } rig_event_t;

/* --- little-endian access ------------------------------------------------------------ */
static inline uint16_t rig_get_u16(const uint8_t *p) { return (uint16_t)(p[0] | p[1] << 8); }
static inline uint32_t rig_get_u32(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static inline uint64_t rig_get_u64(const uint8_t *p) {
    return (uint64_t)rig_get_u32(p) | (uint64_t)rig_get_u32(p + 4) << 32;
}
static inline float rig_get_f32(const uint8_t *p) {
    uint32_t u = rig_get_u32(p);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static inline void rig_put_u16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static inline void rig_put_u32(uint8_t *p, uint32_t v) {
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(v >> (8 * i));
}
static inline void rig_put_u64(uint8_t *p, uint64_t v) {
    rig_put_u32(p, (uint32_t)v);
    rig_put_u32(p + 4, (uint32_t)(v >> 32));
}
static inline void rig_put_f32(uint8_t *p, float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    rig_put_u32(p, u);
}

/* Range rule for f32 arguments and parameters (section 4.8): bounds are rounded to
 * float32 before comparing, so a host that sends (float)0.3 for a bound of 0.3 passes.
 * In C that is simply comparing with float constants: rig_in_range(v, 0.0f, 0.3f). */
static inline int rig_in_range(float v, float lo, float hi) {
    return v == v && v >= lo && v <= hi; /* v == v is false for NaN */
}

static inline void rig_get_header(const uint8_t *body, rig_header_t *h) {
    h->version = body[0]; h->type = body[1]; h->flags = body[2]; h->reserved = body[3];
    h->seq = rig_get_u32(body + 4); h->ack = rig_get_u32(body + 8);
}
static inline void rig_put_header(uint8_t *body, const rig_header_t *h) {
    body[0] = h->version; body[1] = h->type; body[2] = h->flags; body[3] = 0;
    rig_put_u32(body + 4, h->seq); rig_put_u32(body + 8, h->ack);
}
static inline int rig_get_hello(const uint8_t *p, size_t n, rig_hello_t *m) {
    if (n != RIG_HELLO_SIZE) return -RIG_R_BAD_LENGTH;
    m->proto_min = p[0]; m->proto_max = p[1]; m->hello_flags = rig_get_u16(p + 2);
    m->session_id = rig_get_u32(p + 4);
    m->heartbeat_ms = rig_get_u16(p + 8); m->watchdog_ms = rig_get_u16(p + 10);
    m->table_crc = rig_get_u32(p + 12);
    return 0;
}
static inline int rig_get_command(const uint8_t *p, size_t n, rig_command_t *m) {
    if (n != RIG_COMMAND_SIZE) return -RIG_R_BAD_LENGTH;
    m->deadline_us = rig_get_u64(p); m->code = rig_get_u16(p + 8);
    for (int i = 0; i < 4; i++) m->args[i] = rig_get_f32(p + 12 + 4 * i);
    return 0;
}

/* --- CRC-32C, COBS, deframer ------------------------------------------------------ */
/* CRC-32C (Castagnoli, reflected 0x82F63B78): crc = rig_crc32c(0, buf, n) starts one;
 * pass the previous value to continue. Check value of "123456789": 0xE3069283. */
uint32_t rig_crc32c(uint32_t crc, const uint8_t *p, size_t n);

/* COBS-encode n bytes into dst (room for RIG_COBS_MAX(n)); returns the encoded length,
 * without the 0x00 delimiter (append it yourself). */
size_t rig_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst);

/* Decode one COBS block (no delimiter) into dst (room for n bytes). Returns the decoded
 * length, or -1 if the block is malformed (a zero byte inside, or a code past the end). */
long rig_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst);

/* Complete wire frame of a body (header + payload, without CRC): appends the CRC,
 * COBS-encodes and adds the delimiter. out needs RIG_COBS_MAX(n + 4) + 1 bytes. */
size_t rig_frame_encode(const uint8_t *body, size_t n, uint8_t *out);

/* Incremental deframer: feed bytes one at a time; rig_deframer_push returns the length
 * of a complete, CRC-checked body (header + payload, CRC removed) now in d->body, or 0.
 * Anything malformed is counted and dropped; it resynchronises at the next 0x00. */
typedef struct {
    uint8_t raw[RIG_MAX_ENCODED];
    uint8_t body[RIG_MAX_BODY];
    size_t len;
    int discarding;
    uint32_t frames, crc_errors, framing_errors, oversize_errors;
} rig_deframer_t;

void rig_deframer_init(rig_deframer_t *d);
size_t rig_deframer_push(rig_deframer_t *d, uint8_t byte);

#ifdef RIG_PROTOCOL_IMPLEMENTATION

static uint32_t rig_crc_table[256];
static int rig_crc_ready;

uint32_t rig_crc32c(uint32_t crc, const uint8_t *p, size_t n) {
    if (!rig_crc_ready) {
        for (uint32_t i = 0; i < 256; i++) {
            uint32_t c = i;
            for (int k = 0; k < 8; k++) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
            rig_crc_table[i] = c;
        }
        rig_crc_ready = 1;
    }
    crc = ~crc;
    while (n--) crc = rig_crc_table[(crc ^ *p++) & 0xFFu] ^ (crc >> 8);
    return ~crc;
}

size_t rig_cobs_encode(const uint8_t *src, size_t n, uint8_t *dst) {
    size_t code_i = 0, o = 1;
    uint8_t code = 1;
    for (size_t i = 0; i < n; i++) {
        if (src[i] == 0) {
            dst[code_i] = code; code_i = o++; code = 1;
        } else {
            dst[o++] = src[i];
            if (++code == 0xFF) { dst[code_i] = code; code_i = o++; code = 1; }
        }
    }
    dst[code_i] = code;
    return o;
}

long rig_cobs_decode(const uint8_t *src, size_t n, uint8_t *dst) {
    size_t i = 0, o = 0;
    while (i < n) {
        uint8_t code = src[i];
        if (code == 0 || i + code > n) return -1;
        for (size_t k = 1; k < code; k++) {
            if (src[i + k] == 0) return -1;
            dst[o++] = src[i + k];
        }
        i += code;
        if (code != 0xFF && i < n) dst[o++] = 0;
    }
    return (long)o;
}

size_t rig_frame_encode(const uint8_t *body, size_t n, uint8_t *out) {
    static uint8_t tmp[RIG_MAX_BODY];
    memcpy(tmp, body, n);
    rig_put_u32(tmp + n, rig_crc32c(0, body, n));
    size_t m = rig_cobs_encode(tmp, n + RIG_CRC_SIZE, out);
    out[m] = 0;
    return m + 1;
}

void rig_deframer_init(rig_deframer_t *d) { memset(d, 0, sizeof *d); }

size_t rig_deframer_push(rig_deframer_t *d, uint8_t byte) {
    if (byte != 0) {
        if (d->discarding) return 0;
        if (d->len == sizeof d->raw) { /* longer than any valid frame: drop it whole */
            d->discarding = 1; d->len = 0; d->oversize_errors++; d->framing_errors++;
            return 0;
        }
        d->raw[d->len++] = byte;
        return 0;
    }
    size_t len = d->len;
    d->len = 0;
    if (d->discarding) { d->discarding = 0; return 0; }
    if (len == 0) return 0; /* idle fill */
    long n = rig_cobs_decode(d->raw, len, d->body);
    if (n < (long)(RIG_HEADER_SIZE + RIG_CRC_SIZE) || n > (long)RIG_MAX_BODY) {
        d->framing_errors++;
        return 0;
    }
    size_t body = (size_t)n - RIG_CRC_SIZE;
    if (rig_crc32c(0, d->body, body) != rig_get_u32(d->body + body)) {
        d->crc_errors++;
        return 0;
    }
    d->frames++;
    return body;
}

#endif /* RIG_PROTOCOL_IMPLEMENTATION */

#ifdef __cplusplus
}
#endif
#endif /* RIG_PROTOCOL_H */
