/* Listing serial ports: libserialport's enumeration copied into plain structs
 * the caller owns, each matched with its /dev/serial/by-id/ name, and a table
 * printer for `mqgate probe --list-ports`. */
#include <dirent.h>
#include <errno.h>
#include <libserialport.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/serial/ports.h"

static int by_id_filter(const struct dirent *d)
{
    return d->d_name[0] != '.';
}

/* 1 when dir/name resolves to `want` (copied to out), 0 when not (a
 * dangling link: adapter gone, or udev not done yet), -ENAMETOOLONG. */
static int by_id_match(const char *dir, const char *name, const char *want, char *out,
                       size_t outlen)
{
    char entry[PATH_MAX], got[PATH_MAX];
    int len = snprintf(entry, sizeof entry, "%s/%s", dir, name);
    if (len < 0 || (size_t)len >= sizeof entry || !realpath(entry, got) || strcmp(got, want) != 0)
        return 0;
    if ((size_t)len >= outlen)
        return -ENAMETOOLONG;
    memcpy(out, entry, (size_t)len + 1);
    return 1;
}

int serial_ports_find_by_id(const char *dir, const char *device, char *out, size_t outlen)
{
    char want[PATH_MAX];
    if (!realpath(device, want))
        return -errno;
    struct dirent **names = NULL;
    int count = scandir(dir, &names, by_id_filter, alphasort);
    if (count < 0)
        return errno == ENOENT || errno == ENOTDIR ? 0 : -errno;
    int found = 0;
    for (int i = 0; i < count; i++) {
        if (found == 0)
            found = by_id_match(dir, names[i]->d_name, want, out, outlen);
        free(names[i]);
    }
    free(names);
    return found;
}

/* strdup that keeps NULL (and "") as NULL; sets *oom on failure. */
static char *dup_opt(const char *s, bool *oom)
{
    if (!s || !s[0])
        return NULL;
    char *d = strdup(s);
    if (!d)
        *oom = true;
    return d;
}

static const char *transport_name(enum sp_transport t)
{
    switch (t) {
    case SP_TRANSPORT_NATIVE: return "native";
    case SP_TRANSPORT_USB: return "usb";
    case SP_TRANSPORT_BLUETOOTH: return "bluetooth";
    }
    return "unknown";
}

static int port_fill(struct serial_port_info *info, const struct sp_port *port)
{
    bool oom = false;
    info->usb_vid = info->usb_pid = -1;
    info->name = dup_opt(sp_get_port_name(port), &oom);
    info->description = dup_opt(sp_get_port_description(port), &oom);
    enum sp_transport t = sp_get_port_transport(port);
    info->transport = transport_name(t);
    if (t == SP_TRANSPORT_USB) {
        int vid, pid;
        if (sp_get_port_usb_vid_pid(port, &vid, &pid) == SP_OK) {
            info->usb_vid = vid;
            info->usb_pid = pid;
        }
        info->manufacturer = dup_opt(sp_get_port_usb_manufacturer(port), &oom);
        info->product = dup_opt(sp_get_port_usb_product(port), &oom);
        info->serial_number = dup_opt(sp_get_port_usb_serial(port), &oom);
    }
    char by_id[PATH_MAX];
    if (info->name && serial_ports_find_by_id(SERIAL_PORTS_BY_ID_DIR, info->name, by_id,
                                              sizeof by_id) == 1)
        info->by_id = dup_opt(by_id, &oom);
    return oom || !info->name ? -ENOMEM : 0;
}

static int info_by_name(const void *a, const void *b)
{
    return strcmp(((const struct serial_port_info *)a)->name,
                  ((const struct serial_port_info *)b)->name);
}

static int sp_list_errno(enum sp_return r)
{
    if (r == SP_ERR_MEM)
        return -ENOMEM;
    if (r == SP_ERR_SUPP)
        return -ENOTSUP;
    if (r == SP_ERR_FAIL && sp_last_error_code() > 0)
        return -sp_last_error_code();
    return -EIO;
}

int serial_ports_list(struct serial_port_info **out, size_t *n)
{
    struct sp_port **list = NULL;
    enum sp_return r = sp_list_ports(&list);
    if (r != SP_OK)
        return sp_list_errno(r);
    size_t count = 0;
    while (list[count])
        count++;
    struct serial_port_info *ports = count ? calloc(count, sizeof *ports) : NULL;
    int err = count && !ports ? -ENOMEM : 0;
    for (size_t i = 0; i < count && err == 0; i++)
        err = port_fill(&ports[i], list[i]);
    sp_free_port_list(list);
    if (err < 0) {
        serial_ports_free(ports, count);
        return err;
    }
    if (count > 1)
        qsort(ports, count, sizeof *ports, info_by_name);
    *out = ports;
    *n = count;
    return 0;
}

void serial_ports_free(struct serial_port_info *ports, size_t n)
{
    if (!ports)
        return;
    for (size_t i = 0; i < n; i++) {
        free(ports[i].name);
        free(ports[i].description);
        free(ports[i].manufacturer);
        free(ports[i].product);
        free(ports[i].serial_number);
        free(ports[i].by_id);
    }
    free(ports);
}

/* ---- the table ------------------------------------------------------------ */

struct port_row {
    const char *port, *type, *device, *serial;
    char usb_id[16];
    char device_buf[256];
};

static const char *or_dash(const char *s)
{
    return s && s[0] ? s : "-";
}

/* DEVICE is the USB manufacturer and product when known, since they name
 * the adapter; otherwise libserialport's description. */
static void row_make(struct port_row *row, const struct serial_port_info *p)
{
    row->port = or_dash(p->name);
    row->type = or_dash(p->transport);
    row->serial = or_dash(p->serial_number);
    if (p->usb_vid >= 0 && p->usb_pid >= 0)
        snprintf(row->usb_id, sizeof row->usb_id, "%04x:%04x", (unsigned)p->usb_vid & 0xffff,
                 (unsigned)p->usb_pid & 0xffff);
    else
        snprintf(row->usb_id, sizeof row->usb_id, "-");
    if (p->manufacturer || p->product) {
        snprintf(row->device_buf, sizeof row->device_buf, "%s%s%s", p->manufacturer ? p->manufacturer : "",
                 p->manufacturer && p->product ? " " : "", p->product ? p->product : "");
        row->device = row->device_buf;
    } else {
        row->device = or_dash(p->description);
    }
}

static int width_max(int w, const char *s)
{
    int len = (int)strlen(s);
    return len > w ? len : w;
}

void serial_ports_print(FILE *out, const struct serial_port_info *ports, size_t n)
{
    if (n == 0 || !ports) {
        fprintf(out, "no serial ports found\n");
        return;
    }
    int w_port = 4, w_type = 4, w_usb = 6, w_dev = 6;
    struct port_row row;
    for (size_t i = 0; i < n; i++) {
        row_make(&row, &ports[i]);
        w_port = width_max(w_port, row.port);
        w_type = width_max(w_type, row.type);
        w_usb = width_max(w_usb, row.usb_id);
        w_dev = width_max(w_dev, row.device);
    }
    fprintf(out, "%-*s  %-*s  %-*s  %-*s  %s\n", w_port, "PORT", w_type, "TYPE", w_usb,
            "USB ID", w_dev, "DEVICE", "SERIAL");
    for (size_t i = 0; i < n; i++) {
        row_make(&row, &ports[i]);
        fprintf(out, "%-*s  %-*s  %-*s  %-*s  %s\n", w_port, row.port, w_type, row.type, w_usb,
                row.usb_id, w_dev, row.device, row.serial);
        if (ports[i].by_id)
            fprintf(out, "%-*s  by-id: %s\n", w_port, "", ports[i].by_id);
    }
}
