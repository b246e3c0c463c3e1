# C view of the CPython structures Cython's cpython/ pxds do not declare.
cdef extern from "structmember.h":   # PyMemberDef, complete (Python.h only declares it)
    pass


cdef extern from "Python.h":
    ctypedef struct PyMemberDef:
        const char *name
        int type
        Py_ssize_t offset
    ctypedef struct PyMemberDescrObject:
        PyMemberDef *d_member
