/*
 * Compiled kernels for the processor's per-value hot loops over Arrow string arrays,
 * as one extension module, processor.pipeline._native:
 *   column.{h,c}  a column's buffers and the checked ways to walk them
 *   hashing.c     value and row hashes, distinct-count registers, duplicate keys
 *   text.c        UTF-8 validation, line breaks, trimming and null tokens
 *   numbers.c     number shapes for type inference, the exact number parser
 *   dates_bools.c fixed-width day/month/year dates and yes/no words
 *   tokens.{h,c}  small sets of byte strings matched per value
 *
 * Why C: numpy can only run these as a series of whole-array passes (the string hash
 * took ~12 of them per batch, the row keys a scatter per byte), and pyarrow exposes no
 * kernel for them. One loop per value, without the GIL, costs a fraction of that.
 *
 * Arrays arrive as their raw Arrow buffers (validity bitmap or None, offsets, data)
 * plus the slice offset and length, through the buffer protocol: nothing is copied.
 * Every offset is bounds-checked before it is used, so a malformed array raises
 * ValueError instead of reading out of bounds.
 */
#include "column.h"
#include "kernels.h"

static PyMethodDef methods[] = {
    {"number_shapes", number_shapes, METH_VARARGS, number_shapes_doc},
    {"int64_shapes", int64_shapes, METH_O, int64_shapes_doc},
    {"float_facts", float_facts, METH_O, float_facts_doc},
    {"string_extremes", string_extremes, METH_O, string_extremes_doc},
    {"dm_facts", dm_facts, METH_VARARGS, dm_facts_doc},
    {"dm_days", dm_days, METH_VARARGS, dm_days_doc},
    {"bool_words", bool_words, METH_VARARGS, bool_words_doc},
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
    .m_doc = "Compiled kernels of the processor (see processor/pipeline/native/).",
    .m_size = -1,
    .m_methods = methods,
};

PyMODINIT_FUNC PyInit__native(void) { return PyModule_Create(&module); }
