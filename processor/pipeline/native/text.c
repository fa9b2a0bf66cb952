/* Text: UTF-8 validation, line breaks, trimming and null tokens (encoding.py,
 * reader.py, cleaning.py). */
#include "column.h"
#include "kernels.h"
#include "tokens.h"

PyDoc_STRVAR_shared(count_line_breaks_doc,
             "count_line_breaks(data) -> int\n\n"
             "Line breaks in the bytes: LF, CR, and CRLF counted once.");

PyObject *count_line_breaks(PyObject *self, PyObject *arg) {
    Py_buffer view;
    Py_ssize_t count = 0;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    const uint8_t *p = (const uint8_t *)view.buf, *end = p + view.len, *lf = NULL;
    while (p < end) {
        /* memchr is the fast path (most values hold no break); the next LF is
         * remembered so that CR-only text stays one linear scan. */
        if (!lf || lf < p) {
            lf = memchr(p, '\n', (size_t)(end - p));
            if (!lf) lf = end;
        }
        const uint8_t *cr = memchr(p, '\r', (size_t)(lf - p));
        if (cr) {
            count++;
            p = cr + 1;
            if (p < end && *p == '\n') p++;
            continue;
        }
        if (lf == end) break;
        count++;
        p = lf + 1;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return PyLong_FromSsize_t(count);
}

/* Length of the longest prefix made of complete, valid UTF-8 sequences (strict, as
 * Python's decoder: no overlongs, surrogates or code points past U+10FFFF), and
 * whether what follows is only a sequence cut short by the end of the bytes. */
static Py_ssize_t utf8_prefix(const uint8_t *s, Py_ssize_t n, int *incomplete) {
    Py_ssize_t i = 0;
    *incomplete = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        int need;
        uint8_t lo = 0x80, hi = 0xBF;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
        } else if (c == 0xE0) {
            need = 2;
            lo = 0xA0;
        } else if ((c >= 0xE1 && c <= 0xEC) || c == 0xEE || c == 0xEF) {
            need = 2;
        } else if (c == 0xED) {
            need = 2;
            hi = 0x9F;
        } else if (c == 0xF0) {
            need = 3;
            lo = 0x90;
        } else if (c >= 0xF1 && c <= 0xF3) {
            need = 3;
        } else if (c == 0xF4) {
            need = 3;
            hi = 0x8F;
        } else {
            return i;
        }
        for (int k = 1; k <= need; k++) {
            if (i + k >= n) {
                *incomplete = 1;
                return i;
            }
            uint8_t b = s[i + k];
            if (b < (k == 1 ? lo : 0x80) || b > (k == 1 ? hi : 0xBF)) return i;
        }
        i += need + 1;
    }
    return n;
}

PyDoc_STRVAR_shared(utf8_check_doc,
             "utf8_check(data) -> (valid, incomplete)\n\n"
             "Length of the longest prefix of complete, strictly valid UTF-8 sequences,\n"
             "and whether the rest is only a sequence cut short by the end.");

PyObject *utf8_check(PyObject *self, PyObject *arg) {
    Py_buffer view;
    int incomplete = 0;
    Py_ssize_t valid;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    valid = utf8_prefix((const uint8_t *)view.buf, view.len, &incomplete);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    return Py_BuildValue("(nO)", valid, incomplete ? Py_True : Py_False);
}

/* Whitespace as pyarrow's utf8_trim_whitespace sees it (general category Zs, or bidi
 * class WS, B or S): U+0009-000D, U+001C-0020, U+0085, U+00A0, U+1680, U+2000-200A,
 * U+2028, U+2029, U+202F, U+205F, U+3000. tests/processor/test_native.py checks every
 * code point against pyarrow. Input is valid UTF-8 (checked before cleaning). */
static inline int ascii_space(uint8_t c) { return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20); }

static inline int three_byte_space(const uint8_t *q) {
    if (q[0] == 0xE1) return q[1] == 0x9A && q[2] == 0x80;
    if (q[0] == 0xE2) {
        if (q[1] == 0x80) return q[2] <= 0x8A || q[2] == 0xA8 || q[2] == 0xA9 || q[2] == 0xAF;
        return q[1] == 0x81 && q[2] == 0x9F;
    }
    return q[0] == 0xE3 && q[1] == 0x80 && q[2] == 0x80;
}

/* Byte length of the whitespace character starting at p (0: none). */
static inline int space_first(const uint8_t *p, int64_t len) {
    if (p[0] < 0x80) return ascii_space(p[0]);
    if (p[0] == 0xC2 && len >= 2) return (p[1] == 0x85 || p[1] == 0xA0) ? 2 : 0;
    if (len >= 3 && three_byte_space(p)) return 3;
    return 0;
}

/* Byte length of the whitespace character ending at p + len (0: none). */
static inline int space_last(const uint8_t *p, int64_t len) {
    uint8_t c = p[len - 1];
    if (c < 0x80) return ascii_space(c);
    if (len >= 2 && p[len - 2] == 0xC2) return (c == 0x85 || c == 0xA0) ? 2 : 0;
    if (len >= 3 && three_byte_space(p + len - 3)) return 3;
    return 0;
}

/* [*lo, *hi) of value p[0:len] without its leading and trailing whitespace. */
static inline void trim_bounds(const uint8_t *p, int64_t len, int64_t *lo, int64_t *hi) {
    int64_t a = 0, b = len;
    int k;
    while (a < b && (k = space_first(p + a, b - a)) > 0) a += k;
    while (b > a && (k = space_last(p + a, b - a)) > 0) b -= k;
    *lo = a;
    *hi = b;
}

PyDoc_STRVAR_shared(clean_scan_doc,
             "clean_scan(column, tokens, nulls, trim) -> (trimmed, nulled)\n\n"
             "How many non-null values have whitespace to trim, and which equal one of\n"
             "the byte strings tokens (once trimmed, if trim): 1 in the uint8 buffer nulls.");

typedef struct {
    const Tokens *tokens;
    int trim;
    uint8_t *hits;
    Py_ssize_t trimmed, nulled;
} CleanState;

static int clean_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    CleanState *st = state;
    int64_t lo = 0, hi = len;
    /* Most values start and end with a printable ASCII byte: nothing to trim. */
    if (len && !(p[0] > 0x20 && p[0] < 0x80 && p[len - 1] > 0x20 && p[len - 1] < 0x80)) {
        trim_bounds(p, len, &lo, &hi);
    }
    st->trimmed += (hi - lo) != len;
    if (!st->trim) {
        lo = 0;
        hi = len;
    }
    if (is_token(st->tokens, p + lo, hi - lo)) {
        st->hits[i] = 1;
        st->nulled++;
    }
    return 0;
}

PyObject *clean_scan(PyObject *self, PyObject *args) {
    PyObject *spec, *token_list, *nulls_obj;
    Column c;
    Tokens t;
    Py_buffer nulls;
    CleanState st = {.tokens = &t, .trim = 1};
    if (!PyArg_ParseTuple(args, "O!O!Op", &PyTuple_Type, &spec, &PyList_Type, &token_list,
                          &nulls_obj, &st.trim)) {
        return NULL;
    }
    if (column_parse(spec, &c) < 0) return NULL;
    if (tokens_parse(token_list, &t) < 0) {
        column_release(&c);
        return NULL;
    }
    if (writable(nulls_obj, &nulls, c.length, "nulls") < 0) {
        tokens_release(&t);
        column_release(&c);
        return NULL;
    }
    st.hits = nulls.buf;
    memset(nulls.buf, 0, (size_t)c.length);
    int status = column_visit(&c, clean_visit, &st);
    PyBuffer_Release(&nulls);
    tokens_release(&t);
    if (status < 0) return NULL;
    return Py_BuildValue("(nn)", st.trimmed, st.nulled);
}

PyDoc_STRVAR_shared(trim_copy_doc,
             "trim_copy(column, offsets, data) -> int\n\n"
             "The column's values without leading and trailing whitespace (nulls empty):\n"
             "offsets (as wide as the column's) and bytes written to the two buffers;\n"
             "returns the number of bytes written.");

PyObject *trim_copy(PyObject *self, PyObject *args) {
    PyObject *spec, *off_obj, *data_obj;
    Column c;
    Py_buffer off, data;
    int64_t at = 0;
    int malformed = 0;
    if (!PyArg_ParseTuple(args, "O!OO", &PyTuple_Type, &spec, &off_obj, &data_obj)) return NULL;
    if (column_parse(spec, &c) < 0) return NULL;
    Py_ssize_t width = c.large ? 8 : 4;
    if (writable(off_obj, &off, (c.length + 1) * width, "offsets") < 0) {
        column_release(&c);
        return NULL;
    }
    if (PyObject_GetBuffer(data_obj, &data, PyBUF_WRITABLE) < 0) {
        PyBuffer_Release(&off);
        column_release(&c);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    uint8_t *w = (uint8_t *)data.buf;
    for (Py_ssize_t i = 0; i <= c.length; i++) {
        if (c.large) {
            ((int64_t *)off.buf)[i] = at;
        } else {
            ((int32_t *)off.buf)[i] = (int32_t)at;
        }
        if (i == c.length || !column_valid(&c, i)) continue;
        const uint8_t *p;
        int64_t len = column_value(&c, i, &p), lo = 0, hi = len;
        if (len < 0) {
            malformed = 1;
            break;
        }
        if (len) trim_bounds(p, len, &lo, &hi);
        if (at + (hi - lo) > data.len) {
            malformed = 1;
            break;
        }
        memcpy(w + at, p + lo, (size_t)(hi - lo));
        at += hi - lo;
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&data);
    PyBuffer_Release(&off);
    column_release(&c);
    if (malformed) {
        PyErr_SetString(PyExc_ValueError, "string offsets out of bounds, or data buffer too short");
        return NULL;
    }
    return PyLong_FromLongLong(at);
}


typedef struct {
    Py_ssize_t lo, hi;
    const uint8_t *lo_p, *hi_p;
    int64_t lo_len, hi_len;
} ExtremesState;

/* Byte-wise comparison, shorter first on a tie: what pyarrow's min_max and Parquet's
 * statistics use for UTF-8. */
static inline int compare_bytes(const uint8_t *a, int64_t alen, const uint8_t *b, int64_t blen) {
    int64_t n = alen < blen ? alen : blen;
    int c = n ? memcmp(a, b, (size_t)n) : 0;
    if (c) return c;
    return (alen > blen) - (alen < blen);
}

static int extremes_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    ExtremesState *st = state;
    if (st->lo < 0) {
        st->lo = st->hi = i;
        st->lo_p = st->hi_p = p;
        st->lo_len = st->hi_len = len;
        return 0;
    }
    if (compare_bytes(p, len, st->lo_p, st->lo_len) < 0) {
        st->lo = i;
        st->lo_p = p;
        st->lo_len = len;
    } else if (compare_bytes(p, len, st->hi_p, st->hi_len) > 0) {
        st->hi = i;
        st->hi_p = p;
        st->hi_len = len;
    }
    return 0;
}

PyDoc_STRVAR_shared(string_extremes_doc,
             "string_extremes(column) -> (min_index, max_index) | None\n\n"
             "Where the smallest and the largest non-null values are (byte-wise order, the\n"
             "first of equals); None if every value is null.");

PyObject *string_extremes(PyObject *self, PyObject *arg) {
    ExtremesState st = {.lo = -1, .hi = -1};
    Column c;
    if (column_parse(arg, &c) < 0 || column_visit(&c, extremes_visit, &st) < 0) return NULL;
    if (st.lo < 0) Py_RETURN_NONE;
    return Py_BuildValue("(nn)", st.lo, st.hi);
}
