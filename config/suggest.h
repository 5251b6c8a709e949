/* "Did you mean …?": the closest known name to a misspelt one, by edit
 * distance, for unknown keys, enum values, references and template variables. */
#ifndef MQGATE_CONFIG_SUGGEST_H
#define MQGATE_CONFIG_SUGGEST_H

#include <stddef.h>

/* Edit distance (Damerau: insert, delete, substitute, swap neighbours). */
size_t suggest_distance(const char *a, const char *b);

/* Keeps the best candidate offered so far. A candidate counts only when it is
 * close enough to be a plausible typo of `word` (distance ≤ max(1, len/3)). */
struct suggest {
    const char *word;
    const char *best;
    size_t best_distance;
};

void suggest_init(struct suggest *s, const char *word);
void suggest_offer(struct suggest *s, const char *candidate);
/* The best candidate, or NULL. */
const char *suggest_result(const struct suggest *s);

#endif
