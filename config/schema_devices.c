/* Schema of `devices` and their `points`: Modbus slaves and UART sensors,
 * how each is framed and polled, and how each point is decoded and scaled. */
#include "config/config.h"
#include "config/schema.h"

static const struct cfg_enum_name framing_names[] = {
    { "none", CFG_FRAMING_NONE }, { "line", CFG_FRAMING_LINE }, { "nmea", CFG_FRAMING_NMEA },
    { "frame", CFG_FRAMING_FRAME }, { NULL, 0 },
};
static const struct cfg_enum_name line_format_names[] = {
    { "value", CFG_LINE_VALUE }, { "regex", CFG_LINE_REGEX }, { "csv", CFG_LINE_CSV },
    { "kv", CFG_LINE_KV }, { NULL, 0 },
};
static const struct cfg_enum_name endian_names[] = {
    { "big", CFG_ENDIAN_BIG }, { "little", CFG_ENDIAN_LITTLE }, { NULL, 0 },
};
static const struct cfg_enum_name counts_names[] = {
    { "rest", CFG_COUNTS_REST }, { "frame", CFG_COUNTS_FRAME }, { "payload", CFG_COUNTS_PAYLOAD },
    { NULL, 0 },
};
static const struct cfg_enum_name checksum_names[] = {
    { "none", CFG_CHECKSUM_NONE }, { "sum8", CFG_CHECKSUM_SUM8 }, { "sum16", CFG_CHECKSUM_SUM16 },
    { "xor8", CFG_CHECKSUM_XOR8 }, { "crc8", CFG_CHECKSUM_CRC8 },
    { "crc16_modbus", CFG_CHECKSUM_CRC16_MODBUS }, { NULL, 0 },
};
static const struct cfg_enum_name register_names[] = {
    { "holding", CFG_REG_HOLDING }, { "input", CFG_REG_INPUT }, { "coil", CFG_REG_COIL },
    { "discrete", CFG_REG_DISCRETE }, { NULL, 0 },
};
const struct cfg_enum_name cfg_value_type_names[] = {
    { "bool", CFG_T_BOOL }, { "int16", CFG_T_INT16 }, { "uint16", CFG_T_UINT16 },
    { "int32", CFG_T_INT32 }, { "uint32", CFG_T_UINT32 }, { "int64", CFG_T_INT64 },
    { "uint64", CFG_T_UINT64 }, { "float32", CFG_T_FLOAT32 }, { "float64", CFG_T_FLOAT64 },
    { "string", CFG_T_STRING }, { "raw", CFG_T_RAW }, { NULL, 0 },
};
static const struct cfg_enum_name order_names[] = {
    { "abcd", CFG_ORDER_ABCD }, { "badc", CFG_ORDER_BADC }, { "cdab", CFG_ORDER_CDAB },
    { "dcba", CFG_ORDER_DCBA }, { NULL, 0 },
};

#define L struct cfg_line_framing
static const struct cfg_key line_keys[] = {
    KEY_STRING(L, delimiter, "delimiter", .def = "\\n", .flags = CFG_NONEMPTY,
               .doc = "End of a line; escapes \\n, \\r, \\t, \\xHH are understood. A trailing "
                      "\\r before \\n is dropped either way."),
    KEY_SIZE(L, max_length, "max_length", .def = "256", .min = "8", .max = "64KiB",
             .doc = "Longer lines are counted and skipped."),
    KEY_ENUM(L, format, "format", line_format_names, .def = "value",
             .doc = "`value`: the whole line is one value; `regex`: capture groups; `csv`: "
                    "columns; `kv`: `key=value` pairs."),
    KEY_STRING(L, regex, "regex", .flags = CFG_NONEMPTY,
               .doc = "POSIX extended regular expression (format: regex).",
               .example = "T=([0-9.+-]+),H=([0-9]+)"),
    KEY_STRING(L, separator, "separator", .def = ",", .flags = CFG_NONEMPTY,
               .doc = "Column separator (csv) or pair separator (kv)."),
    KEY_STRING(L, kv_separator, "kv_separator", .def = "=", .flags = CFG_NONEMPTY,
               .doc = "Between key and value (kv)."),
    { .name = NULL },
};
#undef L
static const struct cfg_section line_section = SECTION_OF(struct cfg_line_framing, "line",
    "devices[].line", line_keys, .doc = "Text-line framing (framing: line).");

#define FL struct cfg_frame_length
static const struct cfg_key frame_length_keys[] = {
    KEY_INT(FL, offset, "offset", .flags = CFG_REQUIRED, .min = "0", .max = "1024",
            .doc = "Byte offset of the length field in the frame."),
    KEY_INT(FL, size, "size", .def = "1", .min = "1", .max = "4", .doc = "Bytes in the length field."),
    KEY_ENUM(FL, endian, "endian", endian_names, .def = "big", .doc = "Byte order of the length field."),
    KEY_ENUM(FL, counts, "counts", counts_names, .def = "rest",
             .doc = "What the length counts: `rest` (bytes after the field), `frame` (the whole "
                    "frame), `payload` (bytes after the field, before the checksum)."),
    KEY_INT(FL, adjust, "adjust", .def = "0", .min = "-1024", .max = "1024",
            .doc = "Added to the length field's value."),
    { .name = NULL },
};
#undef FL
static const struct cfg_section frame_length_section = SECTION_OF(struct cfg_frame_length,
    "length", "devices[].frame.length", frame_length_keys, .doc = "A length field in the frame.");

#define FC struct cfg_frame_checksum
static const struct cfg_key frame_checksum_keys[] = {
    KEY_ENUM(FC, type, "type", checksum_names, .def = "none",
             .doc = "Checksum at the end of the frame."),
    KEY_INT(FC, start, "start", .def = "0", .min = "0", .max = "1024",
            .doc = "First byte it covers; it runs up to the checksum itself."),
    KEY_ENUM(FC, endian, "endian", endian_names, .def = "big",
             .doc = "Byte order of a 16-bit checksum (crc16_modbus is sent low byte first: `little`)."),
    { .name = NULL },
};
#undef FC
static const struct cfg_section frame_checksum_section = SECTION_OF(struct cfg_frame_checksum,
    "checksum", "devices[].frame.checksum", frame_checksum_keys, .doc = "A frame's checksum.");

#define F struct cfg_frame_framing
static const struct cfg_key frame_keys[] = {
    KEY_BYTES(F, header, "header", .flags = CFG_REQUIRED,
              .doc = "Bytes every frame starts with; the parser resynchronises on them.",
              .example = "\"42 4d\""),
    KEY_INT(F, fixed_length, "fixed_length", .def = "0", .min = "0", .max = "65535",
            .doc = "Length of every frame, header included (0: use `length`)."),
    KEY_SIZE(F, max_length, "max_length", .def = "1KiB", .min = "2", .max = "64KiB",
             .doc = "Longer frames are counted and skipped."),
    KEY_SECTION(F, length, "length", &frame_length_section, .doc = "Length field."),
    KEY_SECTION(F, checksum, "checksum", &frame_checksum_section, .doc = "Checksum."),
    { .name = NULL },
};
#undef F
static const struct cfg_section frame_section = SECTION_OF(struct cfg_frame_framing, "frame",
    "devices[].frame", frame_keys, .doc = "Binary framing (framing: frame).");

#define P struct cfg_point
static const struct cfg_key point_keys[] = {
    KEY_STRING(P, name, "name", .flags = CFG_REQUIRED | CFG_NONEMPTY,
               .doc = "`{point}` in topics; unique in its device.", .example = "voltage_l1"),
    KEY_ENUM(P, register_kind, "register", register_names, .def = "holding",
             .doc = "Modbus: `holding` (FC 03), `input` (04), `coil` (01), `discrete` (02)."),
    KEY_INT(P, address, "address", .min = "0", .max = "65535",
            .doc = "Modbus: 0-based register or bit address, decimal or hex (protocol "
                   "address, not the 4xxxx notation).", .example = "0x0100"),
    KEY_ENUM(P, type, "type", cfg_value_type_names, .def = "uint16",
             .doc = "Modbus and frame: how the bytes are read. Coils and discrete inputs are "
                    "`bool`; a `bool` on a register reads `bit`."),
    KEY_INT(P, count, "count", .min = "1", .max = "125",
            .doc = "Registers of a `string` or `raw` point (for frames: bytes)."),
    KEY_INT(P, bit, "bit", .min = "0", .max = "15", .doc = "Bit of a register for `type: bool`."),
    KEY_DURATION(P, poll_interval, "poll_interval", .min = "10ms", .max = "1d",
                 .doc = "Modbus: read this point at its own pace (energy counters every "
                        "minute, power every second). Default: the device's."),
    KEY_ENUM(P, byte_order, "byte_order", order_names,
             .doc = "Byte and word order of multi-byte values: `abcd` is big-endian (Modbus' own), "
                    "`cdab` swaps 16-bit words, `badc` swaps bytes in each word, `dcba` is "
                    "little-endian. Default: the device's."),
    KEY_INT(P, group, "group", .min = "0", .max = "9",
            .doc = "Line, format regex: capture group (0: the whole match)."),
    KEY_INT(P, column, "column", .min = "0", .max = "255", .doc = "Line, format csv: 0-based column."),
    KEY_STRING(P, key, "key", .flags = CFG_NONEMPTY, .doc = "Line, format kv: the key."),
    KEY_STRING(P, sentence, "sentence", .flags = CFG_NONEMPTY,
               .doc = "NMEA: sentence type without talker (GGA, RMC, …).", .example = "GGA"),
    KEY_STRING(P, field, "field", .flags = CFG_NONEMPTY,
               .doc = "NMEA: named field: latitude, longitude, fix_quality, satellites, hdop, "
                      "altitude, speed_knots, speed_kmh, course, time, date, status.",
               .example = "latitude"),
    KEY_INT(P, index, "index", .min = "1", .max = "99",
            .doc = "NMEA: 1-based field index, for sentences or fields without a name."),
    KEY_INT(P, byte_offset, "byte_offset", .min = "0", .max = "65535",
            .doc = "Frame: offset of the value from the start of the frame."),
    KEY_DOUBLE(P, scale, "scale", .def = "1", .doc = "value = raw × scale + offset."),
    KEY_DOUBLE(P, offset, "offset", .def = "0", .doc = "Added after `scale`."),
    KEY_STRING(P, expression, "expression", .flags = CFG_NONEMPTY,
               .doc = "Instead of scale/offset: arithmetic on `x` with + - * / ( ) and "
                      "min, max, abs, round.", .example = "x * 0.1 - 40"),
    KEY_INT(P, decimals, "decimals", .def = "-1", .min = "-1", .max = "15",
            .doc = "Digits after the point in text payloads (-1: as many as needed)."),
    KEY_STRING(P, unit, "unit", .def = "", .doc = "Unit: `{unit}` in templates.", .example = "V"),
    KEY_ENUM_MAP(P, enum_map, "enum", .doc = "Raw integer values to labels.",
                 .example = "{0: off, 1: on}"),
    KEY_BOOL(P, writable, "writable", .def = "false",
             .doc = "Accept commands on the command topic (holding registers and coils)."),
    KEY_DOUBLE(P, min, "min", .doc = "Commands below this (in scaled units) are refused."),
    KEY_DOUBLE(P, max, "max", .doc = "Commands above this (in scaled units) are refused."),
    KEY_STRING(P, device_class, "device_class", .flags = CFG_NONEMPTY,
               .doc = "Home Assistant device class (default: guessed from the unit)."),
    KEY_STRING(P, description, "description", .doc = "Free text, shown by `mqgate check`."),
    KEY_SECTION(P, publish, "publish", &cfg_schema_publish, .doc = "Publish settings of this point."),
    { .name = NULL },
};
#undef P
static const struct cfg_section point_section = SECTION_OF(struct cfg_point, "point",
    "devices[].points[]", point_keys, .doc = "One value read from a device.");

#define D struct cfg_device
static const struct cfg_key device_keys[] = {
    KEY_STRING(D, name, "name", .flags = CFG_REQUIRED | CFG_NONEMPTY,
               .doc = "`{device}` in topics; unique.", .example = "meter1"),
    KEY_STRING(D, bus, "bus", .flags = CFG_REQUIRED | CFG_NONEMPTY, .doc = "Name of its bus."),
    KEY_BOOL(D, enabled, "enabled", .def = "true", .doc = "Poll this device."),
    KEY_INT(D, slave, "slave", .min = "0", .max = "255",
            .doc = "Modbus slave (unit) id: 1–247 on RTU; on TCP usually 1 or 255.",
            .example = "1"),
    KEY_DURATION(D, poll_interval, "poll_interval", .def = "1s", .min = "10ms", .max = "1d",
                 .doc = "How often the device is read (for UART sensors in query mode: asked)."),
    KEY_ENUM(D, byte_order, "byte_order", order_names, .def = "abcd",
             .doc = "Default byte/word order of its points."),
    KEY_BOOL(D, coalesce, "coalesce", .def = "true",
             .doc = "Read neighbouring points of one register kind in one request."),
    KEY_INT(D, max_gap, "max_gap", .def = "8", .min = "0", .max = "124",
            .doc = "Unused registers (or bits) a coalesced read may span between two points."),
    KEY_INT(D, max_registers, "max_registers", .def = "125", .min = "1", .max = "125",
            .doc = "Most registers in one read (some devices accept fewer)."),
    KEY_INT(D, max_bits, "max_bits", .def = "2000", .min = "1", .max = "2000",
            .doc = "Most coils or discrete inputs in one read."),
    KEY_BOOL(D, write_multiple, "write_multiple", .def = "false",
             .doc = "Write single coils and registers with function 15/16 instead of 05/06 "
                    "(devices that implement only the multiple-write functions)."),
    KEY_INT(D, offline_after, "offline_after", .def = "3", .min = "1", .max = "100",
            .doc = "Failed polls in a row before the device is reported offline."),
    KEY_ENUM(D, framing, "framing", framing_names, .def = "none",
             .doc = "UART devices: `line`, `nmea` or `frame`."),
    KEY_SECTION(D, line, "line", &line_section, .doc = "Line framing settings."),
    KEY_SECTION(D, frame, "frame", &frame_section, .doc = "Binary frame settings."),
    KEY_BYTES(D, query, "query",
              .doc = "UART: bytes sent every `poll_interval`; the reply is parsed (sensors that "
                     "answer only when asked).", .example = "\"42 4d e2 00 00 01 71\""),
    KEY_STRING(D, manufacturer, "manufacturer", .doc = "Shown in Home Assistant."),
    KEY_STRING(D, model, "model", .doc = "Shown in Home Assistant."),
    KEY_SECTION(D, publish, "publish", &cfg_schema_publish,
                .doc = "Publish settings for the device's points."),
    KEY_LIST(D, points, n_points, "points", &point_section, .flags = CFG_REQUIRED,
             .doc = "The values read from the device."),
    { .name = NULL },
};
#undef D
const struct cfg_section cfg_schema_device = SECTION_OF(struct cfg_device, "device", "devices[]",
    device_keys, .doc = "A Modbus slave or a UART sensor on a bus.");
