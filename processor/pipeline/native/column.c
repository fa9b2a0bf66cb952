#include "column.h"

void column_release(Column *c) {
    if (c->has_validity) PyBuffer_Release(&c->validity);
    if (c->has_offsets) PyBuffer_Release(&c->offsets);
    if (c->has_data) PyBuffer_Release(&c->data);
    c->has_validity = c->has_offsets = c->has_data = 0;
}

int column_parse(PyObject *spec, Column *c) {
    PyObject *validity, *offsets, *data;
    memset(c, 0, sizeof(*c));
    if (!PyTuple_Check(spec)) {
        PyErr_SetString(PyExc_TypeError, "a column is a tuple of its buffers");
        return -1;
    }
    if (!PyArg_ParseTuple(spec, "OOOnnp", &validity, &offsets, &data, &c->offset, &c->length,
                          &c->large)) {
        return -1;
    }
    if (c->offset < 0 || c->length < 0) {
        PyErr_SetString(PyExc_ValueError, "negative offset or length");
        return -1;
    }
    if (PyObject_GetBuffer(offsets, &c->offsets, PyBUF_SIMPLE) < 0) return -1;
    c->has_offsets = 1;
    Py_ssize_t width = c->large ? 8 : 4;
    if (c->offsets.len < (c->offset + c->length + 1) * width) {
        PyErr_SetString(PyExc_ValueError, "offsets buffer too short");
        goto fail;
    }
    if (data != Py_None) {
        if (PyObject_GetBuffer(data, &c->data, PyBUF_SIMPLE) < 0) goto fail;
        c->has_data = 1;
    }
    if (validity != Py_None) {
        if (PyObject_GetBuffer(validity, &c->validity, PyBUF_SIMPLE) < 0) goto fail;
        c->has_validity = 1;
        if (c->validity.len * 8 < c->offset + c->length) {
            PyErr_SetString(PyExc_ValueError, "validity bitmap too short");
            goto fail;
        }
    }
    return 0;
fail:
    column_release(c);
    return -1;
}

int writable(PyObject *obj, Py_buffer *view, Py_ssize_t need, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE) < 0) return -1;
    if (view->len < need) {
        PyErr_Format(PyExc_ValueError, "%s buffer too short", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}


Column *columns_parse(PyObject *list) {
    Py_ssize_t count = PyList_GET_SIZE(list);
    Column *cols = PyMem_Calloc((size_t)(count ? count : 1), sizeof(Column));
    if (!cols) {
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t k = 0; k < count; k++) {
        if (column_parse(PyList_GET_ITEM(list, k), &cols[k]) < 0) {
            columns_release(cols, k);
            return NULL;
        }
    }
    return cols;
}

void columns_release(Column *cols, Py_ssize_t count) {
    if (!cols) return;
    for (Py_ssize_t k = 0; k < count; k++) column_release(&cols[k]);
    PyMem_Free(cols);
}
