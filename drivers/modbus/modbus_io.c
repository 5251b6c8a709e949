/* Modbus transactions with error sorting, retries and resynchronisation
 * (see modbus_io.h). libmodbus's own recovery modes are off: LINK recovery
 * loops forever inside the library on a vanished port, and PROTOCOL
 * recovery flushes only after CRC errors, not after late replies. */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>

#include "drivers/modbus/modbus_io.h"

void modbus_io_classify(int err, struct modbus_outcome *out)
{
    out->exception_code = 0;
    out->link_down = false;
    if (err > MODBUS_ENOBASE && err <= EMBXGTAR) {
        out->error = READING_ERR_EXCEPTION;
        out->exception_code = err - MODBUS_ENOBASE;
        snprintf(out->detail, sizeof out->detail, "%s", modbus_exception_name(out->exception_code));
        return;
    }
    switch (err) {
    case ETIMEDOUT:
        out->error = READING_ERR_TIMEOUT;
        snprintf(out->detail, sizeof out->detail, "no reply");
        return;
    case EMBBADCRC:
        out->error = READING_ERR_CRC;
        snprintf(out->detail, sizeof out->detail, "reply with a bad CRC");
        return;
    case EMBBADDATA: case EMBBADEXC: case EMBUNKEXC: case EMBMDATA: case EMBBADSLAVE:
        out->error = READING_ERR_BAD_REPLY;
        snprintf(out->detail, sizeof out->detail, "%s", modbus_strerror(err));
        return;
    case EIO: case EBADF: case ENXIO: case ENODEV: case ECONNRESET: case EPIPE:
    case ENOTCONN: case ECONNREFUSED:
        out->error = READING_ERR_DISCONNECTED;
        out->link_down = true;
        snprintf(out->detail, sizeof out->detail, "%s", strerror(err));
        return;
    default:
        out->error = READING_ERR_IO;
        snprintf(out->detail, sizeof out->detail, "%s", modbus_strerror(err));
    }
}

/* After an error, a reply may still be on its way (a slow slave) or half
 * received: wait until the line has been quiet for a response timeout,
 * discarding whatever arrives, so the next request gets its own reply. */
static void resync(struct modbus_io *io)
{
    if (!io->rtu) {
        modbus_flush(io->ctx);
        return;
    }
    int fd = modbus_get_socket(io->ctx);
    for (int rounds = 0; fd >= 0 && rounds < 4; rounds++) {
        struct pollfd pfd = { .fd = fd, .events = POLLIN };
        int n = poll(&pfd, 1, (int)io->response_timeout_ms);
        modbus_flush(io->ctx);
        if (n <= 0 || (pfd.revents & (POLLHUP | POLLERR | POLLNVAL)))
            return;
    }
}

static int read_once(modbus_t *ctx, int kind, uint16_t start, uint16_t count, uint16_t *regs,
                     uint8_t *bits)
{
    switch (kind) {
    case CFG_REG_HOLDING: return modbus_read_registers(ctx, start, count, regs);
    case CFG_REG_INPUT: return modbus_read_input_registers(ctx, start, count, regs);
    case CFG_REG_COIL: return modbus_read_bits(ctx, start, count, bits);
    default: return modbus_read_input_bits(ctx, start, count, bits);
    }
}

static bool retryable(const struct modbus_outcome *out)
{
    return out->error == READING_ERR_TIMEOUT || out->error == READING_ERR_CRC ||
           out->error == READING_ERR_BAD_REPLY;
}

void modbus_io_read(struct modbus_io *io, int kind, uint16_t start, uint16_t count,
                    uint16_t *regs, uint8_t *bits, int retries, struct modbus_outcome *out)
{
    memset(out, 0, sizeof *out);
    if (retries < 0)
        retries = io->retries;
    for (int attempt = 0; attempt <= retries; attempt++) {
        out->attempts++;
        int rc = read_once(io->ctx, kind, start, count, regs, bits);
        if (rc == count) {
            out->error = READING_ERR_NONE;
            out->detail[0] = '\0';
            return;
        }
        modbus_io_classify(rc < 0 ? errno : EMBBADDATA, out);
        out->failed[out->error]++;
        if (out->link_down || out->error == READING_ERR_EXCEPTION)
            return;
        resync(io);
        if (!retryable(out))
            return;
    }
}

static void finish_write(struct modbus_io *io, int rc, struct modbus_outcome *out)
{
    out->attempts = 1;
    if (rc >= 0) {
        out->error = READING_ERR_NONE;
        return;
    }
    modbus_io_classify(errno, out);
    out->failed[out->error]++;
    if (!out->link_down && out->error != READING_ERR_EXCEPTION)
        resync(io);
}

void modbus_io_write_bit(struct modbus_io *io, uint16_t addr, bool on, bool multiple,
                         struct modbus_outcome *out)
{
    memset(out, 0, sizeof *out);
    uint8_t bit = on ? 1 : 0;
    int rc = multiple ? modbus_write_bits(io->ctx, addr, 1, &bit)
                      : modbus_write_bit(io->ctx, addr, bit);
    finish_write(io, rc, out);
}

void modbus_io_write_registers(struct modbus_io *io, uint16_t addr, const uint16_t *regs,
                               uint16_t count, bool multiple, struct modbus_outcome *out)
{
    memset(out, 0, sizeof *out);
    int rc = count == 1 && !multiple ? modbus_write_register(io->ctx, addr, regs[0])
                                     : modbus_write_registers(io->ctx, addr, count, regs);
    finish_write(io, rc, out);
}
