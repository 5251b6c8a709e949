/* Schema of `buses`: serial ports (Modbus RTU or raw UART) and Modbus TCP
 * links, with their line settings, RS-485 direction control and timing. */
#include "config/config.h"
#include "config/schema.h"

static const struct cfg_enum_name bus_type_names[] = {
    { "modbus_rtu", CFG_BUS_MODBUS_RTU }, { "modbus_tcp", CFG_BUS_MODBUS_TCP },
    { "uart", CFG_BUS_UART }, { NULL, 0 },
};
static const struct cfg_enum_name parity_names[] = {
    { "none", CFG_PARITY_NONE }, { "even", CFG_PARITY_EVEN }, { "odd", CFG_PARITY_ODD }, { NULL, 0 },
};
static const struct cfg_enum_name flow_names[] = {
    { "none", CFG_FLOW_NONE }, { "rtscts", CFG_FLOW_RTSCTS }, { "xonxoff", CFG_FLOW_XONXOFF },
    { NULL, 0 },
};
static const struct cfg_enum_name rs485_mode_names[] = {
    { "off", CFG_RS485_OFF }, { "kernel", CFG_RS485_KERNEL }, { "rts", CFG_RS485_RTS }, { NULL, 0 },
};
static const struct cfg_enum_name rts_names[] = {
    { "up", CFG_RTS_UP }, { "down", CFG_RTS_DOWN }, { NULL, 0 },
};

#define R struct cfg_rs485
static const struct cfg_key rs485_keys[] = {
    KEY_ENUM(R, mode, "mode", rs485_mode_names, .def = "off",
             .doc = "`off`: the adapter switches direction itself (most USB adapters); `kernel`: "
                    "the UART driver's RS-485 mode (TIOCSRS485, Pi HATs on ttyAMA/ttySC); "
                    "`rts`: the gateway drives RTS around each request."),
    KEY_ENUM(R, rts, "rts", rts_names, .def = "up",
             .doc = "RTS level while sending, in `kernel` and `rts` modes."),
    KEY_DURATION(R, rts_delay, "rts_delay", .def = "0", .min = "0", .max = "100ms",
                 .doc = "Delay between switching RTS and sending (and after sending)."),
    { .name = NULL },
};
#undef R
static const struct cfg_section rs485_section = SECTION_OF(struct cfg_rs485, "rs485",
    "buses[].rs485", rs485_keys, .doc = "RS-485 transmit direction control.");

#define B struct cfg_bus
static const struct cfg_key bus_keys[] = {
    KEY_STRING(B, name, "name", .flags = CFG_REQUIRED | CFG_NONEMPTY,
               .doc = "Name devices refer to: `{bus}` in topics.", .example = "rs485"),
    KEY_ENUM(B, type, "type", bus_type_names, .def = "modbus_rtu",
             .doc = "`modbus_rtu` (serial Modbus master), `modbus_tcp` (Modbus over TCP, e.g. "
                    "an RS-485/Ethernet converter), `uart` (one raw serial sensor)."),
    KEY_STRING(B, device, "device", .flags = CFG_NONEMPTY,
               .doc = "Serial port (`modbus_rtu`, `uart`). Prefer the stable /dev/serial/by-id/ "
                      "names; ptys (socat, ser2net) work too.",
               .example = "/dev/serial/by-id/usb-FTDI_FT232R_USB_UART_A10K1234-if00-port0"),
    KEY_STRING(B, host, "host", .flags = CFG_NONEMPTY, .doc = "Host of a `modbus_tcp` bus.",
               .example = "192.0.2.10"),
    KEY_INT(B, port, "port", .def = "502", .min = "1", .max = "65535",
            .doc = "TCP port of a `modbus_tcp` bus."),
    KEY_INT(B, baud, "baud", .def = "9600", .min = "50", .max = "4000000", .doc = "Bits per second."),
    KEY_ENUM(B, parity, "parity", parity_names, .def = "none", .doc = "Parity bit."),
    KEY_INT(B, data_bits, "data_bits", .def = "8", .min = "5", .max = "8", .doc = "Data bits."),
    KEY_INT(B, stop_bits, "stop_bits", .def = "1", .min = "1", .max = "2", .doc = "Stop bits."),
    KEY_ENUM(B, flow_control, "flow_control", flow_names, .def = "none",
             .doc = "Flow control (RS-485 buses use `none`)."),
    KEY_SECTION(B, rs485, "rs485", &rs485_section, .doc = "RS-485 direction control."),
    KEY_DURATION(B, response_timeout, "response_timeout", .def = "500ms", .min = "1ms", .max = "60s",
                 .doc = "Longest wait for the first byte of a reply."),
    KEY_DURATION(B, byte_timeout, "byte_timeout", .def = "0", .min = "0", .max = "10s",
                 .doc = "Longest silence inside a reply (0: only `response_timeout` bounds it)."),
    KEY_DURATION(B, inter_request_delay, "inter_request_delay", .def = "0", .min = "0", .max = "10s",
                 .doc = "Silence between the end of one transaction and the next request, on top "
                        "of the 3.5 character times Modbus RTU requires (slow slaves need more)."),
    KEY_INT(B, retries, "retries", .def = "1", .min = "0", .max = "10",
            .doc = "Retries after a timeout or CRC error before a read counts as failed."),
    KEY_DURATION(B, reconnect_min, "reconnect_min", .def = "500ms", .min = "10ms", .max = "1h",
                 .doc = "First wait before reopening a port that vanished (doubles up to `reconnect_max`)."),
    KEY_DURATION(B, reconnect_max, "reconnect_max", .def = "30s", .min = "10ms", .max = "1h",
                 .doc = "Longest wait between attempts to reopen a port."),
    KEY_SECTION(B, publish, "publish", &cfg_schema_publish,
                .doc = "Publish settings for every device on this bus."),
    { .name = NULL },
};
#undef B
const struct cfg_section cfg_schema_bus = SECTION_OF(struct cfg_bus, "bus", "buses[]", bus_keys,
    .doc = "A serial port or a Modbus TCP link. Each has one owner that serialises every "
           "transaction on it.");
