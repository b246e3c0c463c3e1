/*
 * pcap_guard.c - see pcap_guard.h.
 */
#define _GNU_SOURCE
#include "pcap_guard.h"

#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <string.h>

/* Armed only for the duration of one guarded fill on this thread.
 * initial-exec: the handler must not reach __tls_get_addr (which may
 * allocate) - this module is dlopen'd, so say it explicitly. */
#define DP_TLS __thread __attribute__((tls_model("initial-exec")))
static DP_TLS sigjmp_buf *guard_jmp;
static DP_TLS const uint8_t *guard_lo, *guard_hi;

/* The handler in place before ours (read by the handler: written only while
 * ours is not yet installed, so a fault never sees it half-written). */
static struct sigaction prev_action;
static volatile sig_atomic_t chaining;

static void sigbus_handler(int sig, siginfo_t *si, void *uc)
{
    const uint8_t *a = (const uint8_t *)si->si_addr;
    if (guard_jmp && si->si_code > 0 && a >= guard_lo && a < guard_hi) {
        sigjmp_buf *j = guard_jmp;
        guard_jmp = NULL;
        siglongjmp(*j, 1);
    }
    /* Not ours.  Hand it on once; if it comes back to us (a chained handler
     * that re-raises), fall back to the default action: die with SIGBUS. */
    if (chaining || prev_action.sa_handler == SIG_DFL || prev_action.sa_handler == SIG_IGN) {
        signal(sig, SIG_DFL);
        raise(sig); /* pending while blocked: delivered as we return */
        return;
    }
    chaining = 1;
    if (prev_action.sa_flags & SA_SIGINFO)
        prev_action.sa_sigaction(sig, si, uc);
    else
        prev_action.sa_handler(sig);
}

int dp_sigbus_guard_install(void)
{
    struct sigaction cur, act;
    if (sigaction(SIGBUS, NULL, &cur) < 0)
        return -errno;
    if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == sigbus_handler)
        return 0;
    /* Ours is not installed now, so no fault can read prev_action while it
     * is being replaced. */
    prev_action = cur;
    chaining = 0;
    memset(&act, 0, sizeof act);
    act.sa_sigaction = sigbus_handler;
    act.sa_flags = SA_SIGINFO | SA_ONSTACK;
    sigemptyset(&act.sa_mask);
    if (sigaction(SIGBUS, &act, NULL) < 0)
        return -errno;
    return 0;
}

/* Run `call` with faults on [map, map + map_len) caught: evaluates to 1 if
 * a SIGBUS interrupted it, else 0.  savemask 0: no sigprocmask syscall per
 * batch; the rare fault path unblocks SIGBUS itself (the handler ran with
 * it blocked). */
#define GUARDED(map, map_len, call)                                 \
    do {                                                            \
        sigjmp_buf jb;                                              \
        if (sigsetjmp(jb, 0)) {                                     \
            sigset_t s;                                             \
            sigemptyset(&s);                                        \
            sigaddset(&s, SIGBUS);                                  \
            pthread_sigmask(SIG_UNBLOCK, &s, NULL);                 \
            return 1;                                               \
        }                                                           \
        guard_lo = (map);                                           \
        guard_hi = (map) + (map_len);                               \
        guard_jmp = &jb;                                            \
        __asm__ volatile("" ::: "memory"); /* armed before loads */ \
        call;                                                       \
        __asm__ volatile("" ::: "memory");                          \
        guard_jmp = NULL;                                           \
        return 0;                                                   \
    } while (0)

/* Past a new end of file the rest of its page reads as zeros instead of
 * faulting, so a fill can run into it unnoticed.  Touching the page after
 * the one the fill stopped in catches that: if the file now ends before
 * where the fill stopped, that page is gone and faults.  At the file's last
 * page there is no next page to touch: the caller checks the size. */
static inline void probe(const struct dp_pcap_reader *r, const uint8_t *map, int *tail)
{
    uint64_t q = (r->pos | (DP_PCAP_PAGE - 1)) + 1;
    if (q < r->size)
        (void)*(volatile const uint8_t *)(map + q);
    else
        *tail = 1;
}

int dp_pcap_fill_guarded(struct dp_pcap_reader *r, struct dp_batch *b, uint32_t start,
                         const uint8_t *map, uint64_t map_len, uint32_t *n, int *tail)
{
    *tail = 0;
    GUARDED(map, map_len, *n = dp_pcap_read_batch_from(r, b, start); probe(r, map, tail));
}

int dp_pcap_open_guarded(struct dp_pcap_reader *r, const uint8_t *map, uint64_t size, int *rc)
{
    GUARDED(map, size, *rc = dp_pcap_open(r, map, size));
}

int dp_pcap_rewind_guarded(struct dp_pcap_reader *r, const uint8_t *map, uint64_t map_len, int *rc)
{
    GUARDED(map, map_len, *rc = dp_pcap_rewind(r));
}
