/*
 * dp_deal.h - one source dealt in batches to N pumps (io/shared.pyx).
 *
 * Free mode: whichever pump asks first gets the next batch; pumps run their
 * batches at the same time.  Ordered mode (the replay's deterministic mode):
 * batch k goes to worker k % N, and batch k runs its chain and its sinks
 * only after batch k-1 released -- every program sees the packets in the
 * single-worker order, outputs get them in trace order, while the next
 * worker reads its batch in parallel.
 *
 * Every wait is in slices of DP_PACE_SLICE_NS that look at the cancel flag,
 * so cancel() (or a worker that failed mid-batch and never releases) stops
 * the others within ~20 ms.  Callers hold no GIL while waiting.
 */
#ifndef DP_DEAL_H
#define DP_DEAL_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "dp_pace.h"

struct dp_deal {
    pthread_mutex_t m;
    pthread_cond_t c;        /* any change of the fields below */
    uint32_t nworkers;
    int ordered;
    int ended;               /* no batch will be dealt any more */
    uint64_t next_seq;       /* number of the next batch dealt */
    uint64_t turn;           /* ordered: the batch that may run now */
    uint32_t inflight;       /* batches dealt and not released */
};

static inline int dp_deal_init(struct dp_deal *d, uint32_t nworkers, int ordered)
{
    pthread_condattr_t ca;
    int rc;
    d->nworkers = nworkers;
    d->ordered = ordered;
    d->ended = 0;
    d->next_seq = d->turn = 0;
    d->inflight = 0;
    if ((rc = pthread_mutex_init(&d->m, NULL)) != 0)
        return -rc;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(&d->c, &ca);
    pthread_condattr_destroy(&ca);
    if (rc != 0) {
        pthread_mutex_destroy(&d->m);
        return -rc;
    }
    return 0;
}

static inline void dp_deal_destroy(struct dp_deal *d)
{
    pthread_cond_destroy(&d->c);
    pthread_mutex_destroy(&d->m);
}

/* One slice of waiting, d->m held. */
static inline void dp_deal_wait_slice(struct dp_deal *d)
{
    uint64_t until = dp_pace_now() + DP_PACE_SLICE_NS;
    struct timespec ts = {(time_t)(until / 1000000000ull), (long)(until % 1000000000ull)};
    pthread_cond_timedwait(&d->c, &d->m, &ts);
}

/* Before a fill by `worker`: ordered mode waits for its round-robin turn
 * (next_seq % N == worker).  0: go on, 1: cancelled, 2: ended. */
static inline int dp_deal_wait_fill(struct dp_deal *d, uint32_t worker, const volatile int *cancel)
{
    int rc = 0;
    pthread_mutex_lock(&d->m);
    for (;;) {
        if (d->ended) { rc = 2; break; }
        if (*cancel) { rc = 1; break; }
        if (!d->ordered || d->next_seq % d->nworkers == worker)
            break;
        dp_deal_wait_slice(d);
    }
    pthread_mutex_unlock(&d->m);
    return rc;
}

/* Wait until no batch is in flight (a reader about to give up what frames
 * of in-flight batches point into).  0, or 1 when cancelled. */
static inline int dp_deal_wait_drained(struct dp_deal *d, const volatile int *cancel)
{
    int rc = 0;
    pthread_mutex_lock(&d->m);
    while (d->inflight) {
        if (*cancel) { rc = 1; break; }
        dp_deal_wait_slice(d);
    }
    pthread_mutex_unlock(&d->m);
    return rc;
}

/* A fill brought a batch: its number. */
static inline uint64_t dp_deal_dealt(struct dp_deal *d)
{
    uint64_t seq;
    pthread_mutex_lock(&d->m);
    seq = d->next_seq++;
    d->inflight++;
    pthread_cond_broadcast(&d->c);
    pthread_mutex_unlock(&d->m);
    return seq;
}

/* The source is done (its end, or an error): later fills end. */
static inline void dp_deal_end(struct dp_deal *d)
{
    pthread_mutex_lock(&d->m);
    d->ended = 1;
    pthread_cond_broadcast(&d->c);
    pthread_mutex_unlock(&d->m);
}

/* Ordered mode: wait until batch `seq` may run.  0, or 1 when cancelled. */
static inline int dp_deal_wait_turn(struct dp_deal *d, uint64_t seq, const volatile int *cancel)
{
    int rc = 0;
    if (!d->ordered)
        return 0;
    pthread_mutex_lock(&d->m);
    while (d->turn != seq) {
        if (*cancel) { rc = 1; break; }
        dp_deal_wait_slice(d);
    }
    pthread_mutex_unlock(&d->m);
    return rc;
}

/* Batch `seq` went through chain and sinks (or was given up): the next one's turn. */
static inline void dp_deal_released(struct dp_deal *d, uint64_t seq)
{
    pthread_mutex_lock(&d->m);
    if (d->inflight)
        d->inflight--;
    if (d->turn == seq)
        d->turn = seq + 1;
    pthread_cond_broadcast(&d->c);
    pthread_mutex_unlock(&d->m);
}

#endif /* DP_DEAL_H */
