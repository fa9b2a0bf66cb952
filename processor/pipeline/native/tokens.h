/* Small sets of byte strings (null tokens, yes/no words), matched per value. */
#ifndef MINI_NATIVE_TOKENS_H
#define MINI_NATIVE_TOKENS_H

#include "column.h"

typedef struct {
    Py_buffer *views;
    Py_ssize_t count;
    int64_t longest;
    /* Cheap rejections before any memcmp: token lengths (up to 63) and first bytes. */
    uint64_t lengths;
    uint8_t first[256];
    /* Tokens of up to 8 bytes as little-endian words (zero-padded), compared whole. */
    uint64_t *words;
} Tokens;

/* A list of bytes-like objects -> Tokens; -1 with a Python error set on failure. */
int tokens_parse(PyObject *list, Tokens *t);
void tokens_release(Tokens *t);

static inline int is_token(const Tokens *t, const uint8_t *p, int64_t len) {
    if (len > t->longest) return 0;
    if (len < 64 && !(t->lengths >> len & 1)) return 0;
    if (len && !t->first[p[0]]) return 0;
    if (len <= 8) {
        uint64_t w = 0;
        if (len) memcpy(&w, p, (size_t)len);
        for (Py_ssize_t i = 0; i < t->count; i++) {
            if (t->views[i].len == len && t->words[i] == w) return 1;
        }
        return 0;
    }
    for (Py_ssize_t i = 0; i < t->count; i++) {
        if (t->views[i].len == len && memcmp(t->views[i].buf, p, (size_t)len) == 0) return 1;
    }
    return 0;
}

#endif
