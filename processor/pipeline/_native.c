/*
 * Compiled kernels for the processor's per-value hot loops over Arrow string arrays.
 *
 * Why C: numpy can only run these as a series of whole-array passes (the string hash
 * took ~12 of them per batch, the row keys a scatter per byte), and pyarrow exposes no
 * hash kernel. One loop per value, without the GIL, costs a fraction of that.
 *
 * Arrays arrive as their raw Arrow buffers (validity bitmap or None, offsets, data)
 * plus the slice offset and length, through the buffer protocol: nothing is copied.
 * Every offset is bounds-checked before it is used, so a malformed array raises
 * ValueError instead of reading out of bounds.
 *
 * The value hash must stay as documented in rowhash.py: 8 little-endian bytes per
 * step (the last step zero-padded), seeded with the length, finished with
 * MurmurHash3's fmix64. tests/processor/test_native.py checks it against a
 * pure-Python rendering of the same definition.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the value hash reads little-endian words"
#endif

#define M1 0x9E3779B97F4A7C15ULL
#define M2 0xC2B2AE3D27D4EB4FULL
#define F1 0xFF51AFD7ED558CCDULL
#define F2 0xC4CEB9FE1A85EC53ULL
#define NULL_HASH 0xA4093822299F31D0ULL
#define HLL_P 12
#define HLL_REGISTERS (1 << HLL_P)

static inline uint64_t fmix(uint64_t h) {
    h ^= h >> 33;
    h *= F1;
    h ^= h >> 33;
    h *= F2;
    h ^= h >> 33;
    return h;
}

/* The bytes [p, p + len) of a buffer ending at end: whole words are loaded directly,
 * and so is a short tail when 8 bytes can be read without leaving the buffer (then
 * masked), which saves a variable-length copy for most values. */
static inline uint64_t hash_bytes(const uint8_t *p, int64_t len, const uint8_t *end) {
    uint64_t h = (uint64_t)len * M2;
    while (len > 0) {
        uint64_t w = 0;
        if (len >= 8) {
            memcpy(&w, p, 8);
        } else if (end - p >= 8) {
            memcpy(&w, p, 8);
            w &= (1ULL << (8 * len)) - 1;
        } else {
            memcpy(&w, p, (size_t)len);
        }
        w ^= h;
        w *= M1;
        w ^= w >> 29;
        h = w;
        p += 8;
        len -= 8;
    }
    return fmix(h);
}

static inline void hll_update(uint8_t *registers, uint64_t h) {
    uint64_t rest = (h << HLL_P) | (1ULL << (HLL_P - 1));
    uint8_t rank = (uint8_t)(__builtin_clzll(rest) + 1);
    uint8_t *slot = registers + (h >> (64 - HLL_P));
    if (rank > *slot) *slot = rank;
}

/* One string column: views of its buffers, released by column_release. */
typedef struct {
    Py_buffer validity, offsets, data;
    int has_validity, has_offsets, has_data;
    Py_ssize_t offset, length;
    int large;
} Column;

static void column_release(Column *c) {
    if (c->has_validity) PyBuffer_Release(&c->validity);
    if (c->has_offsets) PyBuffer_Release(&c->offsets);
    if (c->has_data) PyBuffer_Release(&c->data);
    c->has_validity = c->has_offsets = c->has_data = 0;
}

/* (validity | None, offsets, data | None, offset, length, large) -> Column. */
static int column_parse(PyObject *spec, Column *c) {
    PyObject *validity, *offsets, *data;
    memset(c, 0, sizeof(*c));
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

/* Hashes of column c into out (NULL_HASH for nulls), folding valid ones into
 * registers (if given); combine: 0 = store, 1 = row = row * M2 ^ h.
 * Returns 0, or -1 for a malformed array. Runs without the GIL. */
static int hash_column(const Column *c, uint64_t *out, uint8_t *registers, int combine) {
    const uint8_t *end = c->has_data ? (const uint8_t *)c->data.buf + c->data.len : NULL;
    for (Py_ssize_t i = 0; i < c->length; i++) {
        uint64_t h;
        if (column_valid(c, i)) {
            const uint8_t *p;
            int64_t len = column_value(c, i, &p);
            if (len < 0) return -1;
            h = hash_bytes(p, len, end);
            if (registers) hll_update(registers, h);
        } else {
            h = NULL_HASH;
        }
        out[i] = combine ? (out[i] * M2) ^ h : h;
    }
    return 0;
}

static int writable(PyObject *obj, Py_buffer *view, Py_ssize_t need, const char *what) {
    if (PyObject_GetBuffer(obj, view, PyBUF_WRITABLE) < 0) return -1;
    if (view->len < need) {
        PyErr_Format(PyExc_ValueError, "%s buffer too short", what);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyDoc_STRVAR(hash_values_doc,
             "hash_values(column, out) -> None\n\n"
             "One 64-bit hash per value of a string column into the uint64 buffer out.");

static PyObject *hash_values(PyObject *self, PyObject *args) {
    PyObject *spec, *out_obj;
    Column c;
    Py_buffer out;
    int status;
    if (!PyArg_ParseTuple(args, "O!O", &PyTuple_Type, &spec, &out_obj)) return NULL;
    if (column_parse(spec, &c) < 0) return NULL;
    if (writable(out_obj, &out, c.length * 8, "out") < 0) {
        column_release(&c);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    status = hash_column(&c, (uint64_t *)out.buf, NULL, 0);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    column_release(&c);
    if (status < 0) {
        PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
        return NULL;
    }
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hash_rows_doc,
             "hash_rows(columns, registers, out) -> None\n\n"
             "Row hashes of equal-length string columns into the uint64 buffer out\n"
             "(as rowhash.combine_rows of their value hashes), folding each column's\n"
             "non-null value hashes into its HyperLogLog registers.");

static PyObject *hash_rows(PyObject *self, PyObject *args) {
    PyObject *specs, *regs, *out_obj;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyList_Type, &specs, &PyList_Type, &regs, &out_obj)) {
        return NULL;
    }
    Py_ssize_t ncols = PyList_GET_SIZE(specs);
    if (ncols == 0 || PyList_GET_SIZE(regs) != ncols) {
        PyErr_SetString(PyExc_ValueError, "need one register buffer per column, and a column");
        return NULL;
    }
    Column *cols = PyMem_Calloc((size_t)ncols, sizeof(Column));
    Py_buffer *reg = PyMem_Calloc((size_t)ncols, sizeof(Py_buffer));
    Py_buffer out;
    int have_out = 0, status = 0;
    Py_ssize_t parsed = 0, regs_held = 0, n = -1;
    if (!cols || !reg) {
        PyErr_NoMemory();
        goto done;
    }
    for (; parsed < ncols; parsed++) {
        if (!PyTuple_Check(PyList_GET_ITEM(specs, parsed))) {
            PyErr_SetString(PyExc_TypeError, "a column is a tuple of its buffers");
            goto done;
        }
        if (column_parse(PyList_GET_ITEM(specs, parsed), &cols[parsed]) < 0) goto done;
        if (n >= 0 && cols[parsed].length != n) {
            parsed++;
            PyErr_SetString(PyExc_ValueError, "columns differ in length");
            goto done;
        }
        n = cols[parsed].length;
    }
    for (; regs_held < ncols; regs_held++) {
        if (writable(PyList_GET_ITEM(regs, regs_held), &reg[regs_held], HLL_REGISTERS,
                     "registers") < 0) {
            goto done;
        }
    }
    if (writable(out_obj, &out, n * 8, "out") < 0) goto done;
    have_out = 1;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t k = 0; k < ncols && status == 0; k++) {
        status = hash_column(&cols[k], (uint64_t *)out.buf, (uint8_t *)reg[k].buf, k > 0);
    }
    for (Py_ssize_t i = 0; i < n && status == 0; i++) {
        ((uint64_t *)out.buf)[i] = fmix(((uint64_t *)out.buf)[i]);
    }
    Py_END_ALLOW_THREADS
    if (status < 0) PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
done:
    if (have_out) PyBuffer_Release(&out);
    for (Py_ssize_t k = 0; k < regs_held; k++) PyBuffer_Release(&reg[k]);
    for (Py_ssize_t k = 0; k < parsed; k++) column_release(&cols[k]);
    PyMem_Free(cols);
    PyMem_Free(reg);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(hll_add_doc,
             "hll_add(registers, hashes, valid) -> None\n\n"
             "Fold uint64 hashes (where the bool buffer valid is true, all if None)\n"
             "into 4096 HyperLogLog registers.");

static PyObject *hll_add(PyObject *self, PyObject *args) {
    PyObject *reg_obj, *hash_obj, *valid_obj;
    Py_buffer reg, hashes, valid;
    int have_valid = 0;
    if (!PyArg_ParseTuple(args, "OOO", &reg_obj, &hash_obj, &valid_obj)) return NULL;
    if (writable(reg_obj, &reg, HLL_REGISTERS, "registers") < 0) return NULL;
    if (PyObject_GetBuffer(hash_obj, &hashes, PyBUF_SIMPLE) < 0) {
        PyBuffer_Release(&reg);
        return NULL;
    }
    Py_ssize_t n = hashes.len / 8;
    if (valid_obj != Py_None) {
        if (PyObject_GetBuffer(valid_obj, &valid, PyBUF_SIMPLE) < 0) goto fail;
        have_valid = 1;
        if (valid.len < n) {
            PyErr_SetString(PyExc_ValueError, "valid mask too short");
            goto fail;
        }
    }
    Py_BEGIN_ALLOW_THREADS
    const uint64_t *h = (const uint64_t *)hashes.buf;
    const uint8_t *ok = have_valid ? (const uint8_t *)valid.buf : NULL;
    for (Py_ssize_t i = 0; i < n; i++) {
        if (!ok || ok[i]) hll_update((uint8_t *)reg.buf, h[i]);
    }
    Py_END_ALLOW_THREADS
fail:
    if (have_valid) PyBuffer_Release(&valid);
    PyBuffer_Release(&hashes);
    PyBuffer_Release(&reg);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR(row_keys_doc,
             "row_keys(columns, rows) -> list[bytes]\n\n"
             "For each row index in the int64 buffer rows: the row's values as one bytes\n"
             "object, per column b'\\x00' for null, else b'\\x01' + 4-byte little-endian\n"
             "length + the value's bytes (dedup.row_key for text).");

static PyObject *row_keys(PyObject *self, PyObject *args) {
    PyObject *specs, *rows_obj, *result = NULL;
    Py_buffer rows;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &specs, &rows_obj)) return NULL;
    if (PyObject_GetBuffer(rows_obj, &rows, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t ncols = PyList_GET_SIZE(specs), nrows = rows.len / 8, parsed = 0;
    const int64_t *row = (const int64_t *)rows.buf;
    Column *cols = PyMem_Calloc((size_t)(ncols ? ncols : 1), sizeof(Column));
    if (!cols) {
        PyErr_NoMemory();
        goto done;
    }
    for (; parsed < ncols; parsed++) {
        if (!PyTuple_Check(PyList_GET_ITEM(specs, parsed))) {
            PyErr_SetString(PyExc_TypeError, "a column is a tuple of its buffers");
            goto done;
        }
        if (column_parse(PyList_GET_ITEM(specs, parsed), &cols[parsed]) < 0) goto done;
    }
    result = PyList_New(nrows);
    if (!result) goto done;
    for (Py_ssize_t r = 0; r < nrows; r++) {
        Py_ssize_t at = (Py_ssize_t)row[r], size = 0;
        const uint8_t *p = NULL;
        for (Py_ssize_t k = 0; k < ncols; k++) {
            if (at < 0 || at >= cols[k].length) {
                PyErr_SetString(PyExc_IndexError, "row index out of range");
                goto fail;
            }
            if (!column_valid(&cols[k], at)) {
                size += 1;
                continue;
            }
            int64_t len = column_value(&cols[k], at, &p);
            if (len < 0 || len > UINT32_MAX) {
                PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
                goto fail;
            }
            size += 5 + (Py_ssize_t)len;
        }
        PyObject *key = PyBytes_FromStringAndSize(NULL, size);
        if (!key) goto fail;
        uint8_t *w = (uint8_t *)PyBytes_AS_STRING(key);
        for (Py_ssize_t k = 0; k < ncols; k++) {
            if (!column_valid(&cols[k], at)) {
                *w++ = 0;
                continue;
            }
            uint32_t len = (uint32_t)column_value(&cols[k], at, &p);
            *w++ = 1;
            for (int b = 0; b < 4; b++) *w++ = (uint8_t)(len >> (8 * b));
            if (len) memcpy(w, p, len);
            w += len;
        }
        PyList_SET_ITEM(result, r, key);
    }
    goto done;
fail:
    Py_CLEAR(result);
done:
    for (Py_ssize_t k = 0; k < parsed; k++) column_release(&cols[k]);
    PyMem_Free(cols);
    PyBuffer_Release(&rows);
    return result;
}

PyDoc_STRVAR(count_line_breaks_doc,
             "count_line_breaks(data) -> int\n\n"
             "Line breaks in the bytes: LF, CR, and CRLF counted once.");

static PyObject *count_line_breaks(PyObject *self, PyObject *arg) {
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

PyDoc_STRVAR(utf8_check_doc,
             "utf8_check(data) -> (valid, incomplete)\n\n"
             "Length of the longest prefix of complete, strictly valid UTF-8 sequences,\n"
             "and whether the rest is only a sequence cut short by the end.");

static PyObject *utf8_check(PyObject *self, PyObject *arg) {
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

static const double POW10[] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};

/* "-1.234,56" (group '.', mark ',') or "12,5%" (percent: a value / 100) as the nearest
 * double, or 0 when the text is not such a number or the fast path cannot be exact.
 * Exact: the digits form an integer m < 2^53 and 10^s (s the fraction digits, plus 2
 * for a percent) is at most 10^22, so both are doubles and one IEEE division rounds
 * m / 10^s correctly, as a correctly rounded decimal parser would. */
static int parse_marked(const uint8_t *p, int64_t len, int mark, int group, int percent,
                        double *out) {
    const uint8_t *end = p + len;
    int negative = 0, digits = 0, scale = 0, in_fraction = 0;
    uint64_t m = 0;
    if (percent) {
        if (end == p || end[-1] != '%') return 0;
        end--;
        if (end > p && end[-1] == ' ') end--;
    }
    if (p < end && *p == '-') {
        negative = 1;
        p++;
    }
    for (; p < end; p++) {
        uint8_t c = *p;
        if (c >= '0' && c <= '9') {
            if (m >= (1ULL << 53) / 10) return 0;
            m = m * 10 + (uint64_t)(c - '0');
            digits++;
            scale += in_fraction;
        } else if (c == mark && !in_fraction && digits) {
            in_fraction = 1;
        } else if (c == group && !in_fraction && digits) {
            continue;
        } else {
            return 0;
        }
    }
    if (!digits || (in_fraction && !scale)) return 0;
    scale += percent ? 2 : 0;
    if (scale > 22) return 0;
    double v = (double)m / POW10[scale];
    /* Percentages went through an exact decimal before, which has no -0. */
    *out = negative && !(percent && m == 0) ? -v : v;
    return 1;
}

PyDoc_STRVAR(parse_numbers_doc,
             "parse_numbers(column, mark, group, percent, out) -> bool\n\n"
             "Numbers written with a decimal mark and group separators (group -1: none),\n"
             "or percentages, into the float64 buffer out (0.0 for nulls). False if a\n"
             "value is not such a number or cannot be converted exactly this way.");

static PyObject *parse_numbers(PyObject *self, PyObject *args) {
    PyObject *spec, *out_obj;
    int mark, group, percent, ok = 1, malformed = 0;
    Column c;
    Py_buffer out;
    if (!PyArg_ParseTuple(args, "O!iipO", &PyTuple_Type, &spec, &mark, &group, &percent,
                          &out_obj)) {
        return NULL;
    }
    if (column_parse(spec, &c) < 0) return NULL;
    if (writable(out_obj, &out, c.length * 8, "out") < 0) {
        column_release(&c);
        return NULL;
    }
    Py_BEGIN_ALLOW_THREADS
    double *o = (double *)out.buf;
    for (Py_ssize_t i = 0; i < c.length && ok; i++) {
        o[i] = 0.0;
        if (!column_valid(&c, i)) continue;
        const uint8_t *p;
        int64_t len = column_value(&c, i, &p);
        if (len < 0) {
            malformed = 1;
            break;
        }
        ok = parse_marked(p, len, mark, group, percent, &o[i]);
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&out);
    column_release(&c);
    if (malformed) {
        PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
        return NULL;
    }
    return PyBool_FromLong(ok);
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

typedef struct {
    Py_buffer *views;
    Py_ssize_t count;
    int64_t longest;
    /* Cheap rejections before any memcmp: token lengths (up to 63) and first bytes. */
    uint64_t lengths;
    uint8_t first[256];
} Tokens;

static void tokens_release(Tokens *t) {
    for (Py_ssize_t i = 0; i < t->count; i++) PyBuffer_Release(&t->views[i]);
    PyMem_Free(t->views);
    t->views = NULL;
    t->count = 0;
}

static int tokens_parse(PyObject *list, Tokens *t) {
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

static inline int is_token(const Tokens *t, const uint8_t *p, int64_t len) {
    if (len > t->longest) return 0;
    if (len < 64 && !(t->lengths >> len & 1)) return 0;
    if (len && !t->first[p[0]]) return 0;
    for (Py_ssize_t i = 0; i < t->count; i++) {
        if (t->views[i].len == len && (len == 0 || memcmp(t->views[i].buf, p, (size_t)len) == 0)) {
            return 1;
        }
    }
    return 0;
}

PyDoc_STRVAR(clean_scan_doc,
             "clean_scan(column, tokens, nulls, trim) -> (trimmed, nulled)\n\n"
             "How many non-null values have whitespace to trim, and which equal one of\n"
             "the byte strings tokens (once trimmed, if trim): 1 in the uint8 buffer nulls.");

static PyObject *clean_scan(PyObject *self, PyObject *args) {
    PyObject *spec, *token_list, *nulls_obj;
    Column c;
    Tokens t;
    Py_buffer nulls;
    Py_ssize_t trimmed = 0, nulled = 0;
    int malformed = 0, trim = 1;
    if (!PyArg_ParseTuple(args, "O!O!Op", &PyTuple_Type, &spec, &PyList_Type, &token_list,
                          &nulls_obj, &trim)) {
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
    Py_BEGIN_ALLOW_THREADS
    uint8_t *hit = (uint8_t *)nulls.buf;
    for (Py_ssize_t i = 0; i < c.length; i++) {
        hit[i] = 0;
        if (!column_valid(&c, i)) continue;
        const uint8_t *p;
        int64_t len = column_value(&c, i, &p), lo = 0, hi = len;
        if (len < 0) {
            malformed = 1;
            break;
        }
        if (len) trim_bounds(p, len, &lo, &hi);
        trimmed += (hi - lo) != len;
        if (!trim) {
            lo = 0;
            hi = len;
        }
        if (is_token(&t, p + lo, hi - lo)) {
            hit[i] = 1;
            nulled++;
        }
    }
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&nulls);
    tokens_release(&t);
    column_release(&c);
    if (malformed) {
        PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
        return NULL;
    }
    return Py_BuildValue("(nn)", trimmed, nulled);
}

PyDoc_STRVAR(trim_copy_doc,
             "trim_copy(column, offsets, data) -> int\n\n"
             "The column's values without leading and trailing whitespace (nulls empty):\n"
             "offsets (as wide as the column's) and bytes written to the two buffers;\n"
             "returns the number of bytes written.");

static PyObject *trim_copy(PyObject *self, PyObject *args) {
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

/* Whether p[0:len] is "-?(0|[1-9][0-9]*|[1-9][0-9]{0,2}(G[0-9]{3})+)(M[0-9]+)?" with G the
 * group mark and M the decimal mark (-1: not allowed); with need_group, only the
 * grouped form, and no fraction. This is infer.py's INT_RE, GROUPED_INT_RE, GROUPED_RE
 * and DECIMAL_COMMA_RE, written out. */
static int number_shape(const uint8_t *p, int64_t len, int group, int mark, int need_group) {
    int64_t i = 0;
    if (i < len && p[i] == '-') i++;
    if (i >= len) return 0;
    if (p[i] == '0') {
        if (need_group) return 0;
        i++;
    } else if (p[i] >= '1' && p[i] <= '9') {
        int64_t start = i;
        while (i < len && p[i] >= '0' && p[i] <= '9') i++;
        if (group >= 0 && i < len && p[i] == group) {
            if (i - start > 3) return 0;
            while (i < len && p[i] == group) {
                for (int k = 1; k <= 3; k++) {
                    if (i + k >= len || p[i + k] < '0' || p[i + k] > '9') return 0;
                }
                i += 4;
            }
        } else if (need_group) {
            return 0;
        }
    } else {
        return 0;
    }
    if (i < len && mark >= 0 && p[i] == mark && !need_group) {
        i++;
        int64_t start = i;
        while (i < len && p[i] >= '0' && p[i] <= '9') i++;
        if (i == start) return 0;
    }
    return i == len;
}

PyDoc_STRVAR(number_shapes_doc,
             "number_shapes(column, group, mark, need_group) -> bool\n\n"
             "Whether every non-null value has the number shape (see number_shape).");

static PyObject *number_shapes(PyObject *self, PyObject *args) {
    PyObject *spec;
    int group, mark, need_group, ok = 1, malformed = 0;
    Column c;
    if (!PyArg_ParseTuple(args, "O!iip", &PyTuple_Type, &spec, &group, &mark, &need_group)) {
        return NULL;
    }
    if (column_parse(spec, &c) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < c.length && ok; i++) {
        if (!column_valid(&c, i)) continue;
        const uint8_t *p;
        int64_t len = column_value(&c, i, &p);
        if (len < 0) {
            malformed = 1;
            break;
        }
        ok = number_shape(p, len, group, mark, need_group);
    }
    Py_END_ALLOW_THREADS
    column_release(&c);
    if (malformed) {
        PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
        return NULL;
    }
    return PyBool_FromLong(ok);
}

PyDoc_STRVAR(fraction_digits_doc,
             "fraction_digits(column, mark) -> int\n\n"
             "The most bytes after the first mark in a non-null value (0 if none has one).");

static PyObject *fraction_digits(PyObject *self, PyObject *args) {
    PyObject *spec;
    int mark, malformed = 0;
    int64_t most = 0;
    Column c;
    if (!PyArg_ParseTuple(args, "O!i", &PyTuple_Type, &spec, &mark)) return NULL;
    if (column_parse(spec, &c) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < c.length; i++) {
        if (!column_valid(&c, i)) continue;
        const uint8_t *p;
        int64_t len = column_value(&c, i, &p);
        if (len < 0) {
            malformed = 1;
            break;
        }
        const uint8_t *at = len ? memchr(p, mark, (size_t)len) : NULL;
        if (at && len - (at - p) - 1 > most) most = len - (at - p) - 1;
    }
    Py_END_ALLOW_THREADS
    column_release(&c);
    if (malformed) {
        PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
        return NULL;
    }
    return PyLong_FromLongLong(most);
}

PyDoc_STRVAR(percent_facts_doc,
             "percent_facts(column, mark) -> (ok, scale, digits, integer_digits) | None\n\n"
             "For infer.py's percent candidates: None unless every non-null value ends in\n"
             "'%' and its body (without the trailing '%' and ' ') is a number with the\n"
             "decimal mark, no leading zero, only digits, the mark and '-'. ok: every body\n"
             "also reads as a float (with '.' for the mark); then the most fraction digits,\n"
             "digits (the sign counts, as in infer.py) and integer digits.");

static PyObject *percent_facts(PyObject *self, PyObject *args) {
    PyObject *spec;
    int mark, shape = 1, parses = 1, malformed = 0;
    int64_t scale = 0, digits = 0, integer = 0;
    Column c;
    if (!PyArg_ParseTuple(args, "O!i", &PyTuple_Type, &spec, &mark)) return NULL;
    if (column_parse(spec, &c) < 0) return NULL;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < c.length && shape; i++) {
        if (!column_valid(&c, i)) continue;
        const uint8_t *p;
        int64_t len = column_value(&c, i, &p);
        if (len < 0) {
            malformed = 1;
            break;
        }
        if (!len || p[len - 1] != '%') {
            shape = 0;
            break;
        }
        int64_t n = len;
        while (n > 0 && (p[n - 1] == '%' || p[n - 1] == ' ')) n--;
        if (n == 0) {
            shape = 0;
            break;
        }
        /* "0N" or "-0N" (N a digit) is an identifier, never a number. */
        if ((n > 1 && p[0] == '0' && p[1] >= '0' && p[1] <= '9') ||
            (n > 2 && p[0] == '-' && p[1] == '0' && p[2] >= '0' && p[2] <= '9')) {
            shape = 0;
            break;
        }
        int64_t marks = 0, at = -1, dig = 0;
        for (int64_t k = 0; k < n; k++) {
            uint8_t b = p[k];
            if (b >= '0' && b <= '9') {
                dig++;
            } else if (b == mark) {
                if (at < 0) at = k;
                marks++;
            } else if (b != '-') {
                shape = 0;
                break;
            }
        }
        if (!shape) break;
        /* A float: "-"? digits* ("." digits*)? with a digit somewhere. */
        int64_t k = p[0] == '-' ? 1 : 0;
        int sign_elsewhere = 0;
        for (int64_t j = k; j < n; j++) sign_elsewhere |= p[j] == '-';
        if (sign_elsewhere || marks > 1 || dig == 0) parses = 0;
        int64_t sc = at >= 0 ? n - at - 1 : 0, dg = n - (at >= 0 ? 1 : 0);
        if (sc > scale) scale = sc;
        if (dg > digits) digits = dg;
        if (dg - sc > integer) integer = dg - sc;
    }
    Py_END_ALLOW_THREADS
    column_release(&c);
    if (malformed) {
        PyErr_SetString(PyExc_ValueError, "string offsets out of bounds");
        return NULL;
    }
    if (!shape) Py_RETURN_NONE;
    return Py_BuildValue("(OLLL)", parses ? Py_True : Py_False, (long long)scale,
                         (long long)digits, (long long)integer);
}

static PyMethodDef methods[] = {
    {"number_shapes", number_shapes, METH_VARARGS, number_shapes_doc},
    {"fraction_digits", fraction_digits, METH_VARARGS, fraction_digits_doc},
    {"percent_facts", percent_facts, METH_VARARGS, percent_facts_doc},
    {"clean_scan", clean_scan, METH_VARARGS, clean_scan_doc},
    {"trim_copy", trim_copy, METH_VARARGS, trim_copy_doc},
    {"parse_numbers", parse_numbers, METH_VARARGS, parse_numbers_doc},
    {"utf8_check", utf8_check, METH_O, utf8_check_doc},
    {"count_line_breaks", count_line_breaks, METH_O, count_line_breaks_doc},
    {"hash_values", hash_values, METH_VARARGS, hash_values_doc},
    {"hash_rows", hash_rows, METH_VARARGS, hash_rows_doc},
    {"hll_add", hll_add, METH_VARARGS, hll_add_doc},
    {"row_keys", row_keys, METH_VARARGS, row_keys_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT,
    .m_name = "_native",
    .m_doc = "Compiled kernels of the processor (see _native.c).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
