# Direct access to the __slots__ of the verifier's Python classes (Reg,
# Frame, State, Hist) from Cython: a slot is a PyObject* at a fixed offset
# in the instance, given by the class's member descriptor.  Native hot paths
# read them without an attribute lookup, while the Python code keeps using
# ordinary (fast, specialised) attribute access on the same objects.
#
# The offsets are looked up by name when a module initialises (slot_offset),
# so adding a slot to a class needs no change here.  Only instances of the
# exact class (or of subclasses, which keep the offsets) may be passed.
from cpython.object cimport PyObject
from cpython.ref cimport Py_INCREF, Py_XDECREF

from dataplane.includes.python cimport PyMemberDescrObject


cdef inline Py_ssize_t slot_offset(type cls, str name) except -1:
    for klass in cls.__mro__:
        d = klass.__dict__.get(name)
        if d is not None:
            if type(d).__name__ != "member_descriptor":
                raise TypeError(f"{cls.__name__}.{name} is not a slot")
            return (<PyMemberDescrObject *>d).d_member.offset
    raise AttributeError(f"{cls.__name__} has no slot {name}")


cdef inline object getslot(object o, Py_ssize_t off):
    cdef PyObject *p = (<PyObject **>((<char *><PyObject *>o) + off))[0]
    if p == NULL:
        raise AttributeError("slot not set")
    return <object>p


cdef inline PyObject *slotptr(object o, Py_ssize_t off):
    """The borrowed slot value (NULL if unset): no reference counting."""
    return (<PyObject **>((<char *><PyObject *>o) + off))[0]


cdef inline void setslot(object o, Py_ssize_t off, object v):
    cdef PyObject **pp = <PyObject **>((<char *><PyObject *>o) + off)
    cdef PyObject *old = pp[0]
    Py_INCREF(v)
    pp[0] = <PyObject *>v
    Py_XDECREF(old)
