/* A string-keyed hash map for the broker (sessions by client id, retained
 * messages by topic): open addressing, keys copied and owned by the map,
 * values borrowed. */
#ifndef MQGATE_BROKER_STRMAP_H
#define MQGATE_BROKER_STRMAP_H

#include <stddef.h>

struct strmap_slot {
    char *key;      /* NULL: empty; STRMAP_TOMBSTONE: deleted */
    void *value;
};

struct strmap {
    struct strmap_slot *slots;
    size_t cap;     /* power of two, or 0 */
    size_t count;   /* live keys */
    size_t used;    /* live keys and tombstones */
};

void strmap_init(struct strmap *m);
/* Frees the keys and the table, not the values. */
void strmap_free(struct strmap *m);
void *strmap_get(const struct strmap *m, const char *key, size_t len);
/* Insert or replace. Returns 0, or -1 when out of memory (map unchanged). */
int strmap_put(struct strmap *m, const char *key, size_t len, void *value);
/* Remove; returns the value that was there, or NULL. */
void *strmap_remove(struct strmap *m, const char *key, size_t len);

/* Iterate: for (size_t i = 0; strmap_next(m, &i, &key, &value);) … Safe to
 * remove the current key during iteration. */
int strmap_next(const struct strmap *m, size_t *i, const char **key, void **value);

#endif
