/* Coalescing a device's points into as few Modbus reads as the protocol
 * and the device allow (see plan.h). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "drivers/modbus/plan.h"
#include "gateway/mapping/value.h"

/* Modbus Application Protocol v1.1b3: the most one read may ask for. */
#define MODBUS_MAX_READ_REGISTERS 125
#define MODBUS_MAX_READ_BITS 2000

static bool kind_is_bits(int kind)
{
    return kind == CFG_REG_COIL || kind == CFG_REG_DISCRETE;
}

uint16_t modbus_point_span(const struct cfg_point *pt)
{
    if (kind_is_bits(pt->register_kind) || pt->type == CFG_T_BOOL)
        return 1;
    return (uint16_t)((value_type_size(pt->type, pt->count) + 1) / 2);
}

static int by_kind_then_address(const void *a, const void *b, void *arg)
{
    const struct cfg_device *sort_dev = arg;
    const struct cfg_point *pa = &sort_dev->points[*(const uint32_t *)a];
    const struct cfg_point *pb = &sort_dev->points[*(const uint32_t *)b];
    if (pa->register_kind != pb->register_kind)
        return pa->register_kind - pb->register_kind;
    if (pa->address != pb->address)
        return pa->address < pb->address ? -1 : 1;
    return *(const uint32_t *)a < *(const uint32_t *)b ? -1 : 1;
}

static int64_t read_limit(const struct cfg_device *dev, int kind)
{
    if (kind_is_bits(kind))
        return dev->max_bits < MODBUS_MAX_READ_BITS ? dev->max_bits : MODBUS_MAX_READ_BITS;
    return dev->max_registers < MODBUS_MAX_READ_REGISTERS ? dev->max_registers :
                                                           MODBUS_MAX_READ_REGISTERS;
}

/* Whether point `pt` may join `r` (whose points end before `end`). */
static bool can_join(const struct cfg_device *dev, const struct modbus_read *r, int64_t end,
                     const struct cfg_point *pt)
{
    if (!dev->coalesce || pt->register_kind != r->kind)
        return false;
    int64_t pt_end = pt->address + modbus_point_span(pt);
    int64_t new_end = pt_end > end ? pt_end : end;
    return pt->address - end <= dev->max_gap && new_end - r->start <= read_limit(dev, r->kind);
}

int modbus_plan_build(const struct cfg_device *dev, int64_t interval_us, struct modbus_plan *plan)
{
    memset(plan, 0, sizeof *plan);
    size_t n = 0;
    plan->order = calloc(dev->n_points ? dev->n_points : 1, sizeof *plan->order);
    plan->reads = calloc(dev->n_points ? dev->n_points : 1, sizeof *plan->reads);
    if (!plan->order || !plan->reads) {
        modbus_plan_free(plan);
        return -ENOMEM;
    }
    for (size_t i = 0; i < dev->n_points; i++)
        if (interval_us < 0 || dev->points[i].poll_interval == interval_us)
            plan->order[n++] = (uint32_t)i;
    qsort_r(plan->order, n, sizeof *plan->order, by_kind_then_address, (void *)dev);
    plan->n_points = n;
    int64_t end = 0;
    for (size_t i = 0; i < n; i++) {
        const struct cfg_point *pt = &dev->points[plan->order[i]];
        int64_t pt_end = pt->address + modbus_point_span(pt);
        struct modbus_read *r = plan->n_reads ? &plan->reads[plan->n_reads - 1] : NULL;
        if (r && can_join(dev, r, end, pt)) {
            if (pt_end > end)
                end = pt_end;
            r->count = (uint16_t)(end - r->start);
            r->n++;
            continue;
        }
        r = &plan->reads[plan->n_reads++];
        *r = (struct modbus_read){ .kind = pt->register_kind, .start = (uint16_t)pt->address,
                                   .count = modbus_point_span(pt), .first = (uint32_t)i, .n = 1 };
        end = pt_end;
    }
    return 0;
}

int modbus_plan_split(struct modbus_plan *plan, size_t i, const struct cfg_device *dev)
{
    struct modbus_read old = plan->reads[i];
    if (old.n <= 1)
        return 1;
    struct modbus_read *reads = realloc(plan->reads, (plan->n_reads + old.n - 1) * sizeof *reads);
    if (!reads)
        return -ENOMEM;
    plan->reads = reads;
    memmove(&reads[i + old.n], &reads[i + 1], (plan->n_reads - i - 1) * sizeof *reads);
    for (uint32_t k = 0; k < old.n; k++) {
        const struct cfg_point *pt = &dev->points[plan->order[old.first + k]];
        reads[i + k] = (struct modbus_read){ .kind = old.kind, .start = (uint16_t)pt->address,
                                             .count = modbus_point_span(pt),
                                             .first = old.first + k, .n = 1 };
    }
    plan->n_reads += old.n - 1;
    return (int)old.n;
}

void modbus_plan_free(struct modbus_plan *plan)
{
    free(plan->reads);
    free(plan->order);
    memset(plan, 0, sizeof *plan);
}
