/* Bounded multi-producer, single-consumer queue of driver events with an
 * eventfd for the consumer's loop (see event_queue.h). */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "drivers/event_queue.h"

struct event_queue {
    pthread_mutex_t lock;
    pthread_cond_t not_full;
    struct driver_event *ring;
    size_t capacity, head, count;
    uint64_t pushed;
    int efd;
};

struct event_queue *event_queue_new(size_t capacity)
{
    struct event_queue *q = calloc(1, sizeof *q);
    if (!q)
        return NULL;
    q->ring = calloc(capacity, sizeof *q->ring);
    q->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!q->ring || q->efd < 0) {
        int e = errno;
        free(q->ring);
        if (q->efd >= 0)
            close(q->efd);
        free(q);
        errno = e;
        return NULL;
    }
    q->capacity = capacity;
    pthread_mutex_init(&q->lock, NULL);
    pthread_cond_init(&q->not_full, NULL);
    return q;
}

void event_queue_free(struct event_queue *q)
{
    if (!q)
        return;
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->lock);
    close(q->efd);
    free(q->ring);
    free(q);
}

int event_queue_fd(const struct event_queue *q)
{
    return q->efd;
}

void event_queue_push(struct event_queue *q, const struct driver_event *ev)
{
    pthread_mutex_lock(&q->lock);
    while (q->count == q->capacity)
        pthread_cond_wait(&q->not_full, &q->lock);
    q->ring[(q->head + q->count) % q->capacity] = *ev;
    bool was_empty = q->count++ == 0;
    q->pushed++;
    pthread_mutex_unlock(&q->lock);
    if (was_empty) {
        uint64_t one = 1;
        /* Fails only when the counter would overflow: it is readable anyway. */
        ssize_t n = write(q->efd, &one, sizeof one);
        (void)n;
    }
}

size_t event_queue_pop(struct event_queue *q, struct driver_event *out, size_t max)
{
    pthread_mutex_lock(&q->lock);
    size_t n = 0;
    while (n < max && q->count > 0) {
        out[n++] = q->ring[q->head];
        q->head = (q->head + 1) % q->capacity;
        q->count--;
    }
    if (q->count == 0) {
        /* Drain the counter under the lock, so a push that follows sees an
         * empty queue and signals again. */
        uint64_t v;
        ssize_t r = read(q->efd, &v, sizeof v);
        (void)r;
    }
    if (n > 0)
        pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->lock);
    return n;
}

uint64_t event_queue_pushed(const struct event_queue *q)
{
    struct event_queue *mq = (struct event_queue *)q;
    pthread_mutex_lock(&mq->lock);
    uint64_t n = mq->pushed;
    pthread_mutex_unlock(&mq->lock);
    return n;
}
