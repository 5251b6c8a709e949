/* Listing the serial ports of this machine (for `mqgate probe --list-ports`):
 * what libserialport finds, with its USB details, and the stable
 * /dev/serial/by-id/ name that points at each port, which is the one to put
 * in a config because /dev/ttyUSBn numbers change between boots. */
#ifndef MQGATE_DRIVERS_SERIAL_PORTS_H
#define MQGATE_DRIVERS_SERIAL_PORTS_H

#include <stddef.h>
#include <stdio.h>

/* The directory udev fills with stable names. */
#define SERIAL_PORTS_BY_ID_DIR "/dev/serial/by-id"

/* One port. Strings are owned by the array (serial_ports_free); NULL means
 * unknown or not applicable. */
struct serial_port_info {
    char *name;            /* /dev/ttyUSB0 */
    char *description;     /* libserialport's: "FT232R USB UART - FT232R USB UART", "ttyS0" */
    const char *transport; /* static: "usb", "native", "bluetooth", "unknown" */
    int usb_vid, usb_pid;  /* -1 unless a USB port that reports them */
    char *manufacturer;    /* USB strings (sp_get_port_usb_*) */
    char *product;
    char *serial_number;
    char *by_id;           /* /dev/serial/by-id/... that resolves to name */
};

/* List the ports libserialport finds (it skips virtual ttys, so never ptys),
 * sorted by name. Blocking (reads sysfs, /dev); any thread.
 * Returns 0 with *out (caller owns: serial_ports_free; NULL when *n is 0) and
 * *n, or -errno (-ENOMEM, -EIO when enumeration failed) with both untouched. */
int serial_ports_list(struct serial_port_info **out, size_t *n);

/* Free what serial_ports_list returned. NULL is a no-op. */
void serial_ports_free(struct serial_port_info *ports, size_t n);

/* A readable table: one row per port, plus a row for the by-id name when
 * there is one; a single "no serial ports found" line when n is 0. */
void serial_ports_print(FILE *out, const struct serial_port_info *ports, size_t n);

/* Look in `dir` (SERIAL_PORTS_BY_ID_DIR, or another for tests) for an entry
 * whose target resolves (realpath) to the same file as `device`. Returns 1
 * with the entry's path (dir/name) in out, 0 when none does (or dir is
 * missing), or -errno (-ENAMETOOLONG when out is too small, -ENOENT when
 * device itself does not resolve). When several match, the first in name
 * order wins, so the answer is stable. */
int serial_ports_find_by_id(const char *dir, const char *device, char *out, size_t outlen);

#endif
