/* Day/month/year dates written with a fixed width ("05/03/2023") and yes/no words:
 * type inference's checks and the conversions (infer.py, dates.py, convert.py). */
#include "column.h"
#include "kernels.h"
#include "tokens.h"

static const int DAYS_IN_MONTH[13] = {0, 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

/* "NN<sep>NN<sep>NNNN", all digits: its fields a, b and the year. */
static inline int fixed_dmy(const uint8_t *p, int64_t len, int sep, int *a, int *b, int *y) {
    static const int digits[8] = {0, 1, 3, 4, 6, 7, 8, 9};
    if (len != 10 || p[2] != sep || p[5] != sep) return 0;
    for (int k = 0; k < 8; k++) {
        if (p[digits[k]] < '0' || p[digits[k]] > '9') return 0;
    }
    *a = (p[0] - '0') * 10 + (p[1] - '0');
    *b = (p[3] - '0') * 10 + (p[4] - '0');
    *y = (p[6] - '0') * 1000 + (p[7] - '0') * 100 + (p[8] - '0') * 10 + (p[9] - '0');
    return 1;
}

/* A calendar date (proleptic Gregorian, leap years included). */
static inline int real_date(int day, int month, int year) {
    if (month < 1 || month > 12 || day < 1 || year < 1) return 0;
    int leap = (year % 4 == 0) && (year % 100 != 0 || year % 400 == 0);
    return day <= DAYS_IN_MONTH[month] - (month == 2 && !leap);
}

/* Days since 1970-01-01 (H. Hinnant's days_from_civil). */
static inline int32_t days_from_civil(int y, int m, int d) {
    y -= m <= 2;
    int era = (y >= 0 ? y : y - 399) / 400;
    int yoe = y - era * 400;
    int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return (int32_t)(era * 146097 + doe - 719468);
}

typedef struct {
    int sep, fixed, first_max, second_max, day_first, month_first;
    Py_ssize_t seen;
} DmState;

static int dm_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    DmState *st = state;
    int a, b, y;
    if (!fixed_dmy(p, len, st->sep, &a, &b, &y)) return !(st->fixed = 0);
    st->seen++;
    if (a > st->first_max) st->first_max = a;
    if (b > st->second_max) st->second_max = b;
    st->day_first &= real_date(a, b, y);
    st->month_first &= real_date(b, a, y);
    return 0;
}

PyDoc_STRVAR_shared(dm_facts_doc,
             "dm_facts(column, sep) -> (first_max, second_max, day_first, month_first) | None\n\n"
             "None unless there is a non-null value and every one is 'NN<sep>NN<sep>NNNN';\n"
             "then the largest first and second fields, and whether every value is a real\n"
             "date read day first, and read month first.");

PyObject *dm_facts(PyObject *self, PyObject *args) {
    PyObject *spec;
    DmState st = {.fixed = 1, .day_first = 1, .month_first = 1};
    Column c;
    if (!PyArg_ParseTuple(args, "O!i", &PyTuple_Type, &spec, &st.sep)) return NULL;
    if (column_parse(spec, &c) < 0 || column_visit(&c, dm_visit, &st) < 0) return NULL;
    if (!st.fixed || !st.seen) Py_RETURN_NONE;
    return Py_BuildValue("(iiOO)", st.first_max, st.second_max,
                         st.day_first ? Py_True : Py_False, st.month_first ? Py_True : Py_False);
}

typedef struct {
    int sep, day_first, ok;
    void *out; /* int32 days */
} DaysState;

static int days_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    DaysState *st = state;
    int a, b, y;
    st->ok = fixed_dmy(p, len, st->sep, &a, &b, &y);
    int day = st->day_first ? a : b, month = st->day_first ? b : a;
    st->ok = st->ok && real_date(day, month, y);
    if (st->ok) ((int32_t *)st->out)[i] = days_from_civil(y, month, day);
    return !st->ok;
}

PyDoc_STRVAR_shared(dm_days_doc,
             "dm_days(column, sep, day_first, out) -> bool\n\n"
             "Days since 1970-01-01 of fixed-width day/month/year values into the int32\n"
             "buffer out (0 for nulls); False if a value is not such a real date.");

PyObject *dm_days(PyObject *self, PyObject *args) {
    PyObject *spec, *out_obj;
    DaysState st = {.ok = 1};
    Column c;
    if (!PyArg_ParseTuple(args, "O!ipO", &PyTuple_Type, &spec, &st.sep, &st.day_first,
                          &out_obj)) {
        return NULL;
    }
    if (column_parse(spec, &c) < 0) return NULL;
    if (column_visit_out(&c, out_obj, 4, "out", &st.out, days_visit, &st) < 0) {
        return NULL;
    }
    return PyBool_FromLong(st.ok);
}

/* A value lowercased the way it matters for yes/no words: ASCII letters, 'Ã' to 'ã',
 * and 'İ' to 'i' (its simple lowercase mapping); into out, at most cap bytes.
 * Returns the length, or -1 if it does not fit. */
static inline int64_t fold_case(const uint8_t *p, int64_t len, uint8_t *out, int64_t cap) {
    int64_t n = 0;
    for (int64_t k = 0; k < len; k++) {
        if (n >= cap) return -1;
        uint8_t c = p[k];
        if (c >= 'A' && c <= 'Z') {
            out[n++] = (uint8_t)(c + 32);
        } else if (c == 0xC3 && k + 1 < len && p[k + 1] == 0x83) {
            out[n++] = 0xC3;
            if (n >= cap) return -1;
            out[n++] = 0xA3;
            k++;
        } else if (c == 0xC4 && k + 1 < len && p[k + 1] == 0xB0) {
            out[n++] = 'i';
            k++;
        } else {
            out[n++] = c;
        }
    }
    return n;
}

typedef struct {
    const Tokens *yes, *no;
    int all, words;
    uint8_t *truth;
} BoolState;

static int bool_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    BoolState *st = state;
    uint8_t folded[8];
    int64_t n = len > 5 ? -1 : fold_case(p, len, folded, sizeof(folded));
    int yes = n >= 0 && is_token(st->yes, folded, n);
    if (!yes && !(n >= 0 && is_token(st->no, folded, n))) return !(st->all = 0);
    if (st->truth) st->truth[i] = (uint8_t)yes;
    if (!(len == 1 && (p[0] == '0' || p[0] == '1'))) st->words = 1;
    return 0;
}

PyDoc_STRVAR_shared(bool_words_doc,
             "bool_words(column, yes, no, truth) -> (all, words)\n\n"
             "Whether every non-null value of at most 5 bytes, lowercased, is one of the\n"
             "byte strings yes or no, and whether any is not '0' or '1'. truth (a uint8\n"
             "buffer, or None) gets 1 for the yes values, 0 elsewhere.");

PyObject *bool_words(PyObject *self, PyObject *args) {
    PyObject *spec, *yes_list, *no_list, *truth_obj;
    Column c;
    Tokens yes, no;
    Py_buffer truth;
    int have_truth = 0;
    BoolState st = {.yes = &yes, .no = &no, .all = 1};
    if (!PyArg_ParseTuple(args, "O!O!O!O", &PyTuple_Type, &spec, &PyList_Type, &yes_list,
                          &PyList_Type, &no_list, &truth_obj)) {
        return NULL;
    }
    if (column_parse(spec, &c) < 0) return NULL;
    if (tokens_parse(yes_list, &yes) < 0) {
        column_release(&c);
        return NULL;
    }
    if (tokens_parse(no_list, &no) < 0) {
        tokens_release(&yes);
        column_release(&c);
        return NULL;
    }
    if (truth_obj != Py_None) {
        if (writable(truth_obj, &truth, c.length, "truth") < 0) {
            tokens_release(&no);
            tokens_release(&yes);
            column_release(&c);
            return NULL;
        }
        have_truth = 1;
        st.truth = truth.buf;
        memset(truth.buf, 0, (size_t)c.length);
    }
    int status = column_visit(&c, bool_visit, &st);
    if (have_truth) PyBuffer_Release(&truth);
    tokens_release(&no);
    tokens_release(&yes);
    if (status < 0) return NULL;
    return Py_BuildValue("(OO)", st.all ? Py_True : Py_False, st.words ? Py_True : Py_False);
}
