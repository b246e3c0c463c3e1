/*
 * dp_pace.h - pacing for replays: sleep until a packet is due.
 *
 * A paced replay sleeps between groups of packets (never spins: a core stays
 * free for the rest of the service), in slices of at most DP_PACE_SLICE_NS
 * so that a cancel request (a flag another thread sets) ends the wait
 * promptly even when a trace's timestamps have a gap of hours.
 */
#ifndef DP_PACE_H
#define DP_PACE_H

#include <stdint.h>
#include <time.h>

#define DP_PACE_SLICE_NS 20000000ull   /* 20 ms: the cancel latency bound */
/* Packets due within this window of the first one of a group run together:
 * one wakeup per millisecond at most, whatever the rate. */
#define DP_PACE_GROUP_NS 1000000ull

static inline uint64_t dp_pace_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Sleep until CLOCK_MONOTONIC reaches deadline_ns. 0, or 1 when *cancel was
 * set before the deadline. */
static inline int dp_pace_sleep_until(uint64_t deadline_ns, const volatile int *cancel)
{
    for (;;) {
        uint64_t now = dp_pace_now(), until;
        struct timespec ts;
        if (*cancel)
            return 1;
        if (now >= deadline_ns)
            return 0;
        until = deadline_ns - now > DP_PACE_SLICE_NS ? now + DP_PACE_SLICE_NS : deadline_ns;
        ts.tv_sec = (time_t)(until / 1000000000ull);
        ts.tv_nsec = (long)(until % 1000000000ull);
        clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL);
    }
}

#endif /* DP_PACE_H */
