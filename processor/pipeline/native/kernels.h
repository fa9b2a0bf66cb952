/* The kernels module.c registers; each file documents its own. */
#ifndef MINI_NATIVE_KERNELS_H
#define MINI_NATIVE_KERNELS_H

#include <Python.h>

PyObject *hash_values(PyObject *self, PyObject *args);
PyObject *hash_rows(PyObject *self, PyObject *args);
PyObject *hll_add(PyObject *self, PyObject *args);
PyObject *row_keys(PyObject *self, PyObject *args);
PyObject *count_line_breaks(PyObject *self, PyObject *args);
PyObject *utf8_check(PyObject *self, PyObject *args);
PyObject *clean_scan(PyObject *self, PyObject *args);
PyObject *trim_copy(PyObject *self, PyObject *args);
PyObject *parse_numbers(PyObject *self, PyObject *args);
PyObject *number_shapes(PyObject *self, PyObject *args);
PyObject *int64_shapes(PyObject *self, PyObject *arg);
PyObject *float_facts(PyObject *self, PyObject *arg);
PyObject *string_extremes(PyObject *self, PyObject *arg);
PyObject *dm_facts(PyObject *self, PyObject *args);
PyObject *dm_days(PyObject *self, PyObject *args);
PyObject *bool_words(PyObject *self, PyObject *args);
PyObject *fraction_digits(PyObject *self, PyObject *args);
PyObject *percent_facts(PyObject *self, PyObject *args);

/* Docstrings live beside their kernels and are shared with module.c's table. */
#define PyDoc_STRVAR_shared(name, str) const char name[] = PyDoc_STR(str)
extern const char hash_values_doc[];
extern const char hash_rows_doc[];
extern const char hll_add_doc[];
extern const char row_keys_doc[];
extern const char count_line_breaks_doc[];
extern const char utf8_check_doc[];
extern const char clean_scan_doc[];
extern const char trim_copy_doc[];
extern const char parse_numbers_doc[];
extern const char number_shapes_doc[];
extern const char int64_shapes_doc[];
extern const char float_facts_doc[];
extern const char string_extremes_doc[];
extern const char dm_facts_doc[];
extern const char dm_days_doc[];
extern const char bool_words_doc[];
extern const char fraction_digits_doc[];
extern const char percent_facts_doc[];

#endif
