/*
 * out_file.h - an append-only output file written off the caller's thread.
 *
 * The caller appends bytes to a 1 MiB buffer; a full buffer is handed to a
 * writer thread and the caller goes on filling the next one (DP_OUT_NBUF
 * buffers in all), so a replay's pump never waits for the page cache or
 * the disk unless the writer falls DP_OUT_NBUF MiB behind (then it waits,
 * counted in wait_ns: back pressure, not loss).
 *
 * The writer thread uses O_DIRECT when the file takes it (a regular file on
 * a filesystem that supports it; tmpfs does not): DMA from the buffer, no
 * page-cache page to allocate and fill per 4 KiB. Measured on this project's
 * VM (ext4 on virtio): buffered write(2) into fresh page cache costs
 * ~2.8 ns/byte of CPU (~10 ns/byte wall: each new page is a host fault),
 * O_DIRECT ~0.1 ns/byte of CPU at ~1-1.4 GB/s. O_DIRECT needs 4 KiB-aligned
 * offsets and lengths: buffers are handed over exactly full, and a flush
 * writes the last partial block zero-padded, then cuts the file back to its
 * real size (ftruncate); the next buffer starts with that block again. The
 * bytes in the file are exactly the bytes appended, in order.
 *
 * DP_OUT_SYNC writes from the caller's thread with write(2), as before
 * (pipes, character devices, or when asked).
 */
#ifndef DP_OUT_FILE_H
#define DP_OUT_FILE_H

#include <stddef.h>
#include <stdint.h>

#define DP_OUT_BUF (1u << 20)   /* bytes per buffer: a multiple of DP_OUT_ALIGN */
#define DP_OUT_NBUF 4u
#define DP_OUT_ALIGN 4096u

enum { DP_OUT_SYNC = 0, DP_OUT_THREAD = 1 };

struct dp_out_thread;

struct dp_out {
    int fd;
    int mode;             /* DP_OUT_SYNC / DP_OUT_THREAD (what is in effect) */
    int direct;           /* O_DIRECT in effect */
    int err;              /* first write error (-errno), sticky */
    uint8_t *cur;         /* the buffer being filled */
    size_t len;           /* bytes in cur */
    uint64_t cur_off;     /* file offset of cur[0] */
    uint64_t size;        /* bytes appended so far (the file's final size) */
    uint64_t prealloc;    /* file blocks reserved up to here (fallocate KEEP_SIZE) */
    int can_prealloc;
    uint64_t wait_ns;     /* caller time spent waiting for a free buffer */
    uint64_t waits;
    /* dp_out_times' figures once the thread is gone (copied at close); in
     * DP_OUT_SYNC the caller's elapsed time in write(2), both of them */
    uint64_t cpu_ns, wall_ns;
    struct dp_out_thread *t;
};

/* Take ownership of fd. mode DP_OUT_THREAD falls back to buffered writes in
 * the thread when O_DIRECT is refused, and to DP_OUT_SYNC for files that
 * are not regular. 0 or -errno. */
int dp_out_open(struct dp_out *o, int fd, int mode);
/* Append n bytes (any size). 0 or -errno. */
int dp_out_append(struct dp_out *o, const void *p, size_t n);
/* Everything appended so far is in the file (the writer thread drained,
 * the file cut to its size). 0 or -errno. */
int dp_out_flush(struct dp_out *o);
/* Flush, stop the thread, close the fd. 0 or -errno (closed either way). */
int dp_out_close(struct dp_out *o);

/* Where writing went so far: the writer thread's CPU time and elapsed
 * time writing jobs (DP_OUT_SYNC: both the caller's elapsed time in
 * write(2)). Safe while the thread runs, and after dp_out_close. */
void dp_out_times(struct dp_out *o, uint64_t *cpu_ns, uint64_t *wall_ns);

/* Room for n contiguous bytes in the current buffer, or NULL (then use
 * dp_out_append); dp_out_commit(o, n) after writing them. */
static inline uint8_t *dp_out_reserve(struct dp_out *o, size_t n)
{
    return o->len + n <= DP_OUT_BUF ? o->cur + o->len : NULL;
}

static inline void dp_out_commit(struct dp_out *o, size_t n)
{
    o->len += n;
    o->size += n;
}

#endif /* DP_OUT_FILE_H */
