/*
 * Shared by the compiled kernels (see module.c): a string column's Arrow buffers,
 * read in place through the buffer protocol, and the checked ways to walk them.
 */
#ifndef MINI_NATIVE_COLUMN_H
#define MINI_NATIVE_COLUMN_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

/* One string column: views of its buffers, released by column_release. */
typedef struct {
    Py_buffer validity, offsets, data;
    int has_validity, has_offsets, has_data;
    Py_ssize_t offset, length;
    int large;
} Column;

void column_release(Column *c);

/* (validity | None, offsets, data | None, offset, length, large) -> Column; -1 with
 * a Python error set when a buffer is missing or too short for the slice. */
int column_parse(PyObject *spec, Column *c);

/* Every spec of a list parsed into a new array (NULL with a Python error set if one
 * fails, nothing then held); free it with columns_release. */
Column *columns_parse(PyObject *list);
void columns_release(Column *cols, Py_ssize_t count);

/* A writable buffer of at least need bytes; -1 with a Python error set otherwise. */
int writable(PyObject *obj, Py_buffer *view, Py_ssize_t need, const char *what);

static inline int column_valid(const Column *c, Py_ssize_t i) {
    if (!c->has_validity) return 1;
    Py_ssize_t bit = c->offset + i;
    return (((const uint8_t *)c->validity.buf)[bit >> 3] >> (bit & 7)) & 1;
}

/* Bytes of value i, or -1 when its offsets are out of order or out of bounds. */
static inline int64_t column_value(const Column *c, Py_ssize_t i, const uint8_t **start) {
    int64_t lo, hi;
    Py_ssize_t at = c->offset + i;
    if (c->large) {
        const int64_t *o = (const int64_t *)c->offsets.buf;
        lo = o[at];
        hi = o[at + 1];
    } else {
        const int32_t *o = (const int32_t *)c->offsets.buf;
        lo = o[at];
        hi = o[at + 1];
    }
    int64_t size = c->has_data ? (int64_t)c->data.len : 0;
    if (lo < 0 || hi < lo || hi > size) return -1;
    *start = c->has_data ? (const uint8_t *)c->data.buf + lo : NULL;
    return hi - lo;
}

/* Called for each non-null value of a column, in order; nonzero stops the walk. */
typedef int (*Visit)(void *state, Py_ssize_t i, const uint8_t *p, int64_t len);

/* Walks c's non-null values without the GIL, then releases c. Returns -1 with a
 * ValueError set when an offset is out of order or out of bounds, else 0. */
static inline int column_visit(Column *c, Visit visit, void *state) {
    int malformed = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < c->length; i++) {
        if (!column_valid(c, i)) continue;
        const uint8_t *p = NULL;
        int64_t len = column_value(c, i, &p);
        if (len < 0) {
            malformed = 1;
            break;
        }
        if (visit(state, i, p, len)) break;
    }
    Py_END_ALLOW_THREADS
    column_release(c);
    if (malformed) {
        PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
        return -1;
    }
    return 0;
}

/* column_visit with a writable buffer obj of item bytes per value, zeroed, whose
 * address goes to *out before the walk; releases both. -1 with a Python error set. */
static inline int column_visit_out(Column *c, PyObject *obj, Py_ssize_t item, const char *what,
                                   void **out, Visit visit, void *state) {
    Py_buffer view;
    if (writable(obj, &view, c->length * item, what) < 0) {
        column_release(c);
        return -1;
    }
    memset(view.buf, 0, (size_t)(c->length * item));
    *out = view.buf;
    int status = column_visit(c, visit, state);
    PyBuffer_Release(&view);
    return status;
}

#endif
