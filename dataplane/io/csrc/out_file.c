/* out_file.c - see out_file.h. */
#define _GNU_SOURCE
#include "out_file.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define DP_PREALLOC_MIN (4ull << 20)
#define DP_PREALLOC_MAX (64ull << 20)

struct dp_out_job {
    uint8_t *buf;
    uint64_t off;
    size_t len;
};

struct dp_out_thread {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv_job;      /* a job was queued, or stop */
    pthread_cond_t cv_done;     /* a job finished */
    uint8_t *area;              /* the DP_OUT_NBUF buffers, one huge-page aligned block */
    uint8_t *bufs[DP_OUT_NBUF];
    uint8_t *free[DP_OUT_NBUF]; /* free buffers (a stack) */
    uint32_t nfree;
    struct dp_out_job q[DP_OUT_NBUF];
    uint32_t qhead, qlen;       /* FIFO: jobs are written in the order handed over */
    uint32_t busy;              /* jobs taken by the thread, not finished */
    int stop;
    int err;                    /* first error of the thread (-errno) */
    int buffered;               /* O_DIRECT writes were refused: written buffered since */
    uint64_t cpu_ns, wall_ns;   /* the thread's CPU and elapsed time in write_job (under mu) */
    struct dp_out *o;           /* fd, direct, prealloc state (the thread's own fields) */
};

static uint64_t clock_ns(clockid_t clk)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t now_ns(void) { return clock_ns(CLOCK_MONOTONIC); }

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t k = write(fd, p, n);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        p += k;
        n -= (size_t)k;
    }
    return 0;
}

static int pwrite_all(int fd, const uint8_t *p, size_t n, uint64_t off)
{
    while (n) {
        ssize_t k = pwrite(fd, p, n, (off_t)off);
        if (k < 0) {
            if (errno == EINTR)
                continue;
            return -errno;
        }
        if (k == 0)
            return -EIO;
        p += k;
        n -= (size_t)k;
        off += (uint64_t)k;
    }
    return 0;
}

/* Keep the file's blocks reserved ahead of [off, off + n): steps double
 * with the file (4..64 MiB) so a small output never holds much extra. Any
 * failure (no fallocate, ENOSPC) turns preallocation off: the write then
 * reports what matters. Why: on ext4, delayed allocation per page
 * dominates a write's cost, blocks reserved ahead keep it stable. */
static void prealloc(struct dp_out *o, uint64_t off, uint64_t n)
{
    uint64_t step;
    if (!o->can_prealloc || off + n <= o->prealloc)
        return;
    step = off < DP_PREALLOC_MIN ? DP_PREALLOC_MIN : off;
    if (step > DP_PREALLOC_MAX)
        step = DP_PREALLOC_MAX;
    if (step < n)
        step = n;
    if (fallocate(o->fd, FALLOC_FL_KEEP_SIZE, (off_t)o->prealloc, (off_t)(off + step - o->prealloc)) < 0) {
        o->can_prealloc = 0;
        return;
    }
    o->prealloc = off + step;
}

/* One job: the bytes [off, off + len) of the file. O_DIRECT writes whole
 * blocks, the last one zero-padded (the buffer has the room: DP_OUT_BUF is
 * a multiple of the block size); the padding is cut off by the flush that
 * wrote it. A filesystem that took the O_DIRECT flag but refuses the write
 * (EINVAL: a logical block bigger than DP_OUT_ALIGN) gets the flag taken
 * back and the job written buffered: same bytes, at the same offset. */
static int write_job(struct dp_out *o, struct dp_out_thread *t, struct dp_out_job *j)
{
    size_t n = j->len;
    if (o->direct && !t->buffered) {
        size_t padded = (n + DP_OUT_ALIGN - 1) & ~(size_t)(DP_OUT_ALIGN - 1);
        int rc;
        memset(j->buf + n, 0, padded - n);
        prealloc(o, j->off, padded);
        rc = pwrite_all(o->fd, j->buf, padded, j->off);
        if (rc != -EINVAL)
            return rc;
        int fl = fcntl(o->fd, F_GETFL);
        if (fl < 0 || fcntl(o->fd, F_SETFL, fl & ~O_DIRECT) < 0)
            return rc;
        t->buffered = 1;
    }
    prealloc(o, j->off, n);
    return pwrite_all(o->fd, j->buf, n, j->off);
}

static void *writer_main(void *arg)
{
    struct dp_out_thread *t = arg;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        while (!t->qlen && !t->stop)
            pthread_cond_wait(&t->cv_job, &t->mu);
        if (!t->qlen)
            break;
        struct dp_out_job j = t->q[t->qhead];
        t->qhead = (t->qhead + 1) % DP_OUT_NBUF;
        t->qlen--;
        t->busy++;
        pthread_mutex_unlock(&t->mu);
        /* per 1 MiB job, two clock reads each (the thread clock is a syscall) */
        uint64_t c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID), w0 = now_ns();
        int rc = t->err ? 0 : write_job(t->o, t, &j);
        uint64_t w1 = now_ns(), c1 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
        pthread_mutex_lock(&t->mu);
        t->cpu_ns += c1 - c0;
        t->wall_ns += w1 - w0;
        if (rc && !t->err)
            t->err = rc;
        t->free[t->nfree++] = j.buf;
        t->busy--;
        pthread_cond_broadcast(&t->cv_done);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

/* The buffers in one block on transparent huge pages where the system
 * offers them (THP "madvise"): an O_DIRECT write pins its buffer's pages
 * (pin_user_pages_fast), one PMD per 2 MiB instead of a page-table walk per
 * 4 KiB -- that walk was ~1/3 of the writer thread's CPU (perf, issue 16). */
#define DP_OUT_HUGE (2u << 20)

static int thread_start(struct dp_out *o)
{
    struct dp_out_thread *t = calloc(1, sizeof(*t));
    uint32_t i;
    if (!t)
        return -ENOMEM;
    if (posix_memalign((void **)&t->area, DP_OUT_HUGE, (size_t)DP_OUT_NBUF * DP_OUT_BUF)) {
        free(t);
        return -ENOMEM;
    }
    (void)madvise(t->area, (size_t)DP_OUT_NBUF * DP_OUT_BUF, MADV_HUGEPAGE);
    for (i = 0; i < DP_OUT_NBUF; i++)
        t->bufs[i] = t->area + (size_t)i * DP_OUT_BUF;
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv_job, NULL);
    pthread_cond_init(&t->cv_done, NULL);
    t->o = o;
    for (i = 1; i < DP_OUT_NBUF; i++)
        t->free[t->nfree++] = t->bufs[i];
    o->cur = t->bufs[0];
    if (pthread_create(&t->th, NULL, writer_main, t)) {
        free(t->area);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv_job);
        pthread_cond_destroy(&t->cv_done);
        free(t);
        o->cur = NULL;
        return -EAGAIN;
    }
    o->t = t;
    return 0;
}

int dp_out_open(struct dp_out *o, int fd, int mode)
{
    struct stat st;
    int regular, rc;
    memset(o, 0, sizeof(*o));
    o->fd = fd;
    regular = fstat(fd, &st) == 0 && S_ISREG(st.st_mode);
    o->can_prealloc = regular;
    o->mode = mode == DP_OUT_THREAD && regular ? DP_OUT_THREAD : DP_OUT_SYNC;
    if (o->mode == DP_OUT_THREAD) {
        int fl = fcntl(fd, F_GETFL);
        /* O_DIRECT needs the file to start on a block boundary: it is new
         * (or truncated) and written from offset 0 */
        if (fl >= 0 && lseek(fd, 0, SEEK_CUR) == 0 && fcntl(fd, F_SETFL, fl | O_DIRECT) == 0)
            o->direct = 1;
        if ((rc = thread_start(o)) < 0) {
            if (o->direct)
                fcntl(fd, F_SETFL, fl);
            o->direct = 0;
            o->mode = DP_OUT_SYNC;
        }
    }
    if (o->mode == DP_OUT_SYNC) {
        o->cur = malloc(DP_OUT_BUF);
        if (!o->cur)
            return -ENOMEM;
    }
    return 0;
}

/* Hand cur (len bytes at cur_off) over and take a free buffer. Thread mode:
 * the new buffer starts with `keep` bytes copied from the end of the old
 * one (the partial O_DIRECT block a flush wrote, to be written again with
 * what follows), at cur_off + len - keep. */
static int submit(struct dp_out *o, size_t keep)
{
    struct dp_out_thread *t = o->t;
    uint8_t *old = o->cur;
    size_t len = o->len;
    if (o->err)
        return o->err;
    if (!len)
        return 0;
    if (o->mode == DP_OUT_SYNC) {
        int rc = 0;
        uint64_t w0 = now_ns();
        prealloc(o, o->cur_off, len);
        rc = write_all(o->fd, o->cur, len);
        o->wall_ns += now_ns() - w0;
        o->cpu_ns = o->wall_ns;
        if (rc)
            return o->err = rc;
        o->cur_off += len;
        o->len = 0;
        return 0;
    }
    pthread_mutex_lock(&t->mu);
    t->q[(t->qhead + t->qlen) % DP_OUT_NBUF] = (struct dp_out_job){old, o->cur_off, len};
    t->qlen++;
    pthread_cond_signal(&t->cv_job);
    if (!t->nfree) {
        uint64_t t0 = now_ns();
        while (!t->nfree)
            pthread_cond_wait(&t->cv_done, &t->mu);
        o->wait_ns += now_ns() - t0;
        o->waits++;
    }
    o->cur = t->free[--t->nfree];
    if (t->err)
        o->err = t->err;
    pthread_mutex_unlock(&t->mu);
    /* the thread only reads `old`: copying its tail meanwhile is fine */
    if (keep)
        memcpy(o->cur, old + len - keep, keep);
    o->cur_off += len - keep;
    o->len = keep;
    return o->err;
}

int dp_out_append(struct dp_out *o, const void *p, size_t n)
{
    const uint8_t *s = p;
    while (n) {
        size_t room = DP_OUT_BUF - o->len, k;
        int rc;
        if (!room && (rc = submit(o, 0)) < 0)
            return rc;
        room = DP_OUT_BUF - o->len;
        k = n < room ? n : room;
        memcpy(o->cur + o->len, s, k);
        o->len += k;
        o->size += k;
        s += k;
        n -= k;
    }
    return o->err;
}

void dp_out_times(struct dp_out *o, uint64_t *cpu_ns, uint64_t *wall_ns)
{
    struct dp_out_thread *t = o->t;
    if (!t) {
        *cpu_ns = o->cpu_ns;
        *wall_ns = o->wall_ns;
        return;
    }
    pthread_mutex_lock(&t->mu);
    *cpu_ns = t->cpu_ns;
    *wall_ns = t->wall_ns;
    pthread_mutex_unlock(&t->mu);
}

/* Wait until the thread wrote everything queued. */
static int drain(struct dp_out *o)
{
    struct dp_out_thread *t = o->t;
    pthread_mutex_lock(&t->mu);
    while (t->qlen || t->busy)
        pthread_cond_wait(&t->cv_done, &t->mu);
    if (t->err && !o->err)
        o->err = t->err;
    pthread_mutex_unlock(&t->mu);
    return o->err;
}

int dp_out_flush(struct dp_out *o)
{
    int rc;
    if (o->err)
        return o->err;
    if (o->mode == DP_OUT_SYNC)
        return submit(o, 0);
    /* O_DIRECT: the last partial block goes out padded, and is kept to be
     * written again, whole, once more bytes follow */
    rc = submit(o, o->direct ? o->len % DP_OUT_ALIGN : 0);
    if (!rc)
        rc = drain(o);
    if (!rc && o->direct && ftruncate(o->fd, (off_t)o->size) < 0)
        rc = o->err = -errno;
    if (!rc && o->direct)
        o->prealloc = o->size;   /* ftruncate gave back the reserved blocks */
    return rc;
}

int dp_out_close(struct dp_out *o)
{
    int rc, rc2;
    if (o->fd < 0)
        return 0;
    rc = dp_out_flush(o);
    if (o->t) {
        struct dp_out_thread *t = o->t;
        pthread_mutex_lock(&t->mu);
        t->stop = 1;
        pthread_cond_signal(&t->cv_job);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->th, NULL);
        o->cpu_ns = t->cpu_ns;      /* what dp_out_times reports from now on */
        o->wall_ns = t->wall_ns;
        free(t->area);
        pthread_mutex_destroy(&t->mu);
        pthread_cond_destroy(&t->cv_job);
        pthread_cond_destroy(&t->cv_done);
        free(t);
        o->t = NULL;
    } else {
        free(o->cur);
    }
    o->cur = NULL;
    /* give back the blocks reserved past the end (see prealloc()) */
    if (!rc && o->prealloc > o->size && ftruncate(o->fd, (off_t)o->size) < 0)
        rc = -errno;
    rc2 = close(o->fd);
    if (!rc && rc2 < 0)
        rc = -errno;
    o->fd = -1;
    return rc;
}
