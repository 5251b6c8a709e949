/* The hand-off from bus threads to the loop thread: a bounded FIFO of
 * driver events under a mutex, plus an eventfd the loop watches. Producers
 * wait while it is full instead of dropping: a reading accepted by a driver
 * is never lost on the way to the loop. */
#ifndef MQGATE_DRIVERS_EVENT_QUEUE_H
#define MQGATE_DRIVERS_EVENT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "drivers/reading.h"

struct event_queue;

/* A queue of `capacity` events. NULL on failure (errno set). */
struct event_queue *event_queue_new(size_t capacity);
void event_queue_free(struct event_queue *q);   /* NULL ok; no thread may use it */

/* The fd that is readable while events are waiting (for loop_fd_add). */
int event_queue_fd(const struct event_queue *q);

/* Any thread: append a copy of ev, waiting while the queue is full (the
 * consumer keeps emptying it, also while the producers are being stopped). */
void event_queue_push(struct event_queue *q, const struct driver_event *ev);

/* Consumer thread: move up to max events into out, oldest first; returns
 * how many. Clears the fd's readiness when the queue becomes empty. */
size_t event_queue_pop(struct event_queue *q, struct driver_event *out, size_t max);

/* Events pushed so far. */
uint64_t event_queue_pushed(const struct event_queue *q);

#endif
