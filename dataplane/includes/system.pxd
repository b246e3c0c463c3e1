# C view of the libc/POSIX declarations Cython's own libc/ and posix/ pxds
# leave out (uvloop's includes/system.pxd).
cdef extern from "<stdlib.h>" nogil:
    int posix_memalign(void **memptr, size_t alignment, size_t size)


cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_mutex_t:
        pass
    int pthread_mutex_init(pthread_mutex_t *m, void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *m)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_trylock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)


cdef extern from "<fcntl.h>" nogil:
    enum:
        F_SETLEASE
        F_GETLEASE
        F_SETOWN
        F_RDLCK
        F_UNLCK
    int fcntl(int fd, int cmd, ...)
