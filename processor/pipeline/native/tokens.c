#include "tokens.h"

void tokens_release(Tokens *t) {
    for (Py_ssize_t i = 0; i < t->count; i++) PyBuffer_Release(&t->views[i]);
    PyMem_Free(t->views);
    PyMem_Free(t->words);
    t->views = NULL;
    t->words = NULL;
    t->count = 0;
}

int tokens_parse(PyObject *list, Tokens *t) {
    t->count = 0;
    t->longest = -1;
    t->lengths = 0;
    memset(t->first, 0, sizeof(t->first));
    t->views = PyMem_Calloc((size_t)(PyList_GET_SIZE(list) + 1), sizeof(Py_buffer));
    t->words = PyMem_Calloc((size_t)(PyList_GET_SIZE(list) + 1), sizeof(uint64_t));
    if (!t->views || !t->words) {
        tokens_release(t);
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
        if (len <= 8 && len) memcpy(&t->words[i], t->views[i].buf, (size_t)len);
    }
    return 0;
}

