/*
 * Value and row hashes, HyperLogLog registers and duplicate keys (rowhash.py,
 * dedup.py).
 *
 * The value hash must stay as documented in rowhash.py: 8 little-endian bytes per
 * step (the last step zero-padded), seeded with the length, finished with
 * MurmurHash3's fmix64. tests/processor/test_native.py checks it against a
 * pure-Python rendering of the same definition.
 */
#include "column.h"
#include "kernels.h"

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

PyDoc_STRVAR_shared(hash_values_doc,
             "hash_values(column, out) -> None\n\n"
             "One 64-bit hash per value of a string column into the uint64 buffer out.");

PyObject *hash_values(PyObject *self, PyObject *args) {
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

PyDoc_STRVAR_shared(hash_rows_doc,
             "hash_rows(columns, registers, out) -> None\n\n"
             "Row hashes of equal-length string columns into the uint64 buffer out\n"
             "(the row hash rowhash.py documents), folding each column's\n"
             "non-null value hashes into its HyperLogLog registers.");

PyObject *hash_rows(PyObject *self, PyObject *args) {
    PyObject *specs, *regs, *out_obj;
    if (!PyArg_ParseTuple(args, "O!O!O", &PyList_Type, &specs, &PyList_Type, &regs, &out_obj)) {
        return NULL;
    }
    Py_ssize_t ncols = PyList_GET_SIZE(specs);
    if (ncols == 0 || PyList_GET_SIZE(regs) != ncols) {
        PyErr_SetString(PyExc_ValueError, "need one register buffer per column, and a column");
        return NULL;
    }
    Py_buffer *reg = PyMem_Calloc((size_t)ncols, sizeof(Py_buffer));
    Py_buffer out;
    int have_out = 0, status = 0;
    Py_ssize_t regs_held = 0, n;
    Column *cols = columns_parse(specs);
    if (!cols || !reg) {
        if (!PyErr_Occurred()) PyErr_NoMemory();
        goto done;
    }
    n = cols[0].length;
    for (Py_ssize_t k = 1; k < ncols; k++) {
        if (cols[k].length != n) {
            PyErr_SetString(PyExc_ValueError, "columns differ in length");
            goto done;
        }
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
    columns_release(cols, ncols);
    PyMem_Free(reg);
    if (PyErr_Occurred()) return NULL;
    Py_RETURN_NONE;
}

PyDoc_STRVAR_shared(hll_add_doc,
             "hll_add(registers, hashes, valid) -> None\n\n"
             "Fold uint64 hashes (where the bool buffer valid is true, all if None)\n"
             "into 4096 HyperLogLog registers.");

PyObject *hll_add(PyObject *self, PyObject *args) {
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

PyDoc_STRVAR_shared(row_keys_doc,
             "row_keys(columns, rows) -> list[bytes]\n\n"
             "For each row index in the int64 buffer rows: the row's values as one bytes\n"
             "object, per column b'\\x00' for null, else b'\\x01' + 4-byte little-endian\n"
             "length + the value's bytes (dedup.row_key for text).");

PyObject *row_keys(PyObject *self, PyObject *args) {
    PyObject *specs, *rows_obj, *result = NULL;
    Py_buffer rows;
    if (!PyArg_ParseTuple(args, "O!O", &PyList_Type, &specs, &rows_obj)) return NULL;
    if (PyObject_GetBuffer(rows_obj, &rows, PyBUF_SIMPLE) < 0) return NULL;
    Py_ssize_t ncols = PyList_GET_SIZE(specs), nrows = rows.len / 8;
    const int64_t *row = (const int64_t *)rows.buf;
    Column *cols = columns_parse(specs);
    if (!cols) goto done;
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
    columns_release(cols, ncols);
    PyBuffer_Release(&rows);
    return result;
}

