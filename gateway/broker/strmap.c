/* Open-addressing string hash map (FNV-1a, linear probing, tombstones). */
#include "gateway/broker/strmap.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static char tombstone_marker;
#define STRMAP_TOMBSTONE (&tombstone_marker)

static uint64_t hash(const char *key, size_t len)
{
    uint64_t h = 1469598103934665603u;
    for (size_t i = 0; i < len; i++) {
        h ^= (unsigned char)key[i];
        h *= 1099511628211u;
    }
    return h;
}

void strmap_init(struct strmap *m)
{
    memset(m, 0, sizeof(*m));
}

void strmap_free(struct strmap *m)
{
    for (size_t i = 0; i < m->cap; i++)
        if (m->slots[i].key && m->slots[i].key != STRMAP_TOMBSTONE)
            free(m->slots[i].key);
    free(m->slots);
    strmap_init(m);
}

static bool key_equal(const char *stored, const char *key, size_t len)
{
    return stored != STRMAP_TOMBSTONE && strlen(stored) == len && memcmp(stored, key, len) == 0;
}

/* Slot holding `key`, or SIZE_MAX. */
static size_t find(const struct strmap *m, const char *key, size_t len)
{
    if (!m->cap)
        return SIZE_MAX;
    for (size_t i = hash(key, len) & (m->cap - 1);; i = (i + 1) & (m->cap - 1)) {
        const char *k = m->slots[i].key;
        if (!k)
            return SIZE_MAX;
        if (key_equal(k, key, len))
            return i;
    }
}

void *strmap_get(const struct strmap *m, const char *key, size_t len)
{
    size_t i = find(m, key, len);
    return i == SIZE_MAX ? NULL : m->slots[i].value;
}

static int grow(struct strmap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16;
    if (m->count * 2 < m->cap)
        cap = m->cap; /* mostly tombstones: rehash at the same size */
    struct strmap_slot *slots = calloc(cap, sizeof(*slots));
    if (!slots)
        return -1;
    for (size_t i = 0; i < m->cap; i++) {
        char *k = m->slots[i].key;
        if (!k || k == STRMAP_TOMBSTONE)
            continue;
        size_t j = hash(k, strlen(k)) & (cap - 1);
        while (slots[j].key)
            j = (j + 1) & (cap - 1);
        slots[j] = m->slots[i];
    }
    free(m->slots);
    m->slots = slots;
    m->cap = cap;
    m->used = m->count;
    return 0;
}

int strmap_put(struct strmap *m, const char *key, size_t len, void *value)
{
    size_t i = find(m, key, len);
    if (i != SIZE_MAX) {
        m->slots[i].value = value;
        return 0;
    }
    if ((m->used + 1) * 4 > m->cap * 3 && grow(m))
        return -1;
    char *copy = malloc(len + 1);
    if (!copy)
        return -1;
    memcpy(copy, key, len);
    copy[len] = '\0';
    for (i = hash(key, len) & (m->cap - 1); m->slots[i].key && m->slots[i].key != STRMAP_TOMBSTONE;
         i = (i + 1) & (m->cap - 1))
        ;
    if (!m->slots[i].key)
        m->used++;
    m->slots[i] = (struct strmap_slot){ copy, value };
    m->count++;
    return 0;
}

void *strmap_remove(struct strmap *m, const char *key, size_t len)
{
    size_t i = find(m, key, len);
    if (i == SIZE_MAX)
        return NULL;
    void *value = m->slots[i].value;
    free(m->slots[i].key);
    m->slots[i] = (struct strmap_slot){ STRMAP_TOMBSTONE, NULL };
    m->count--;
    return value;
}

int strmap_next(const struct strmap *m, size_t *i, const char **key, void **value)
{
    for (; *i < m->cap; (*i)++) {
        const char *k = m->slots[*i].key;
        if (k && k != STRMAP_TOMBSTONE) {
            *key = k;
            *value = m->slots[*i].value;
            (*i)++;
            return 1;
        }
    }
    return 0;
}
