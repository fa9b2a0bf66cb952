#include "tokens.h"

void tokens_release(Tokens *t) {
    for (Py_ssize_t i = 0; i < t->count; i++) PyBuffer_Release(&t->views[i]);
    PyMem_Free(t->views);
    t->views = NULL;
    t->count = 0;
}

int tokens_parse(PyObject *list, Tokens *t) {
    t->count = 0;
    t->longest = -1;
    t->lengths = 0;
    memset(t->first, 0, sizeof(t->first));
    t->views = PyMem_Calloc((size_t)(PyList_GET_SIZE(list) + 1), sizeof(Py_buffer));
    if (!t->views) {
        PyErr_NoMemory();
        return -1;
    }
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(list); i++) {
        if (PyObject_GetBuffer(PyList_GET_ITEM(list, i), &t->views[i], PyBUF_SIMPLE) < 0) {
            tokens_release(t);
            return -1;
        }
        t->count = i + 1;
        Py_ssize_t len = t->views[i].len;
        if (len > t->longest) t->longest = len;
        t->lengths |= len < 64 ? 1ULL << len : 0;
        if (len) t->first[((const uint8_t *)t->views[i].buf)[0]] = 1;
    }
    return 0;
}

