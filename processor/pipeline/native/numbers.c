/* Numbers: the shapes type inference checks, and the exact parser for grouped,
 * decimal-comma and percent floats (infer.py, convert.py). */
#include "column.h"
#include "kernels.h"

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

PyDoc_STRVAR_shared(parse_numbers_doc,
             "parse_numbers(column, mark, group, percent, out) -> bool\n\n"
             "Numbers written with a decimal mark and group separators (group -1: none),\n"
             "or percentages, into the float64 buffer out (0.0 for nulls). False if a\n"
             "value is not such a number or cannot be converted exactly this way.");

typedef struct {
    int mark, group, percent, ok;
    void *out; /* float64 values */
} ParseState;

static int parse_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    ParseState *st = state;
    st->ok = parse_marked(p, len, st->mark, st->group, st->percent, &((double *)st->out)[i]);
    return !st->ok;
}

PyObject *parse_numbers(PyObject *self, PyObject *args) {
    PyObject *spec, *out_obj;
    ParseState st = {.ok = 1};
    Column c;
    if (!PyArg_ParseTuple(args, "O!iipO", &PyTuple_Type, &spec, &st.mark, &st.group,
                          &st.percent, &out_obj)) {
        return NULL;
    }
    if (column_parse(spec, &c) < 0) return NULL;
    if (column_visit_out(&c, out_obj, 8, "out", &st.out, parse_visit, &st) < 0) {
        return NULL;
    }
    return PyBool_FromLong(st.ok);
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

PyDoc_STRVAR_shared(number_shapes_doc,
             "number_shapes(column, group, mark, need_group) -> bool\n\n"
             "Whether every non-null value has the number shape (see number_shape).");

typedef struct {
    int group, mark, need_group, ok;
} ShapeState;

static int shape_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    ShapeState *st = state;
    st->ok = number_shape(p, len, st->group, st->mark, st->need_group);
    return !st->ok;
}

/* "-?(0|[1-9][0-9]*)" within int64: infer.py's INT_RE, as pyarrow's int64 parser
 * bounds it (-9223372036854775808 .. 9223372036854775807). */
static int int64_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    int *ok = state;
    int negative = len > 0 && p[0] == '-';
    int64_t digits = len - negative;
    *ok = number_shape(p, len, -1, -1, 0) &&
          (digits < 19 ||
           (digits == 19 &&
            memcmp(p + negative, negative ? "9223372036854775808" : "9223372036854775807", 19) <= 0));
    return !*ok;
}

PyDoc_STRVAR_shared(int64_shapes_doc,
             "int64_shapes(column) -> bool\n\n"
             "Whether every non-null value is a plain integer (no sign but '-', no\n"
             "leading zero) that fits int64.");

PyObject *int64_shapes(PyObject *self, PyObject *arg) {
    int ok = 1;
    Column c;
    if (column_parse(arg, &c) < 0 || column_visit(&c, int64_visit, &ok) < 0) return NULL;
    return PyBool_FromLong(ok);
}

/* pyarrow's float grammar on "0-9 + - . e E": -?(digits)(.digits)? with a digit in the
 * mantissa, then ([eE][+-]?digits)?; but no '+' first and no leading zero ("0N",
 * "-0N"): infer.py's float candidate. */
typedef struct {
    int ok, exponent, long_value, bare_dot;
} FloatState;

static int float_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    FloatState *st = state;
    int64_t k = 0, digits = 0;
    if (k < len && p[k] == '-') k++;
    if (k + 1 < len && p[k] == '0' && p[k + 1] >= '0' && p[k + 1] <= '9') return !(st->ok = 0);
    int64_t start = k;
    while (k < len && p[k] >= '0' && p[k] <= '9') k++;
    digits += k - start;
    if (k < len && p[k] == '.') {
        if (k == start || k == len - 1) st->bare_dot = 1;
        k++;
        int64_t frac = k;
        while (k < len && p[k] >= '0' && p[k] <= '9') k++;
        digits += k - frac;
    }
    if (!digits) return !(st->ok = 0);
    if (k < len && (p[k] == 'e' || p[k] == 'E')) {
        st->exponent = 1;
        k++;
        if (k < len && (p[k] == '+' || p[k] == '-')) k++;
        int64_t exp = k;
        while (k < len && p[k] >= '0' && p[k] <= '9') k++;
        if (k == exp) return !(st->ok = 0);
    }
    if (k != len) return !(st->ok = 0);
    /* Past ~300 digits a float64 overflows; the caller checks those with pyarrow. */
    if (len > 300) st->long_value = 1;
    return 0;
}

PyDoc_STRVAR_shared(float_facts_doc,
             "float_facts(column) -> (may_overflow, grouped) | None\n\n"
             "None unless every non-null value has the plain float shape (pyarrow's\n"
             "grammar, no '+' first, no leading zero). may_overflow: some value has an\n"
             "exponent or over 300 bytes (check finiteness with a parser); grouped: no\n"
             "exponent and no bare dot ('.5', '5.'), so they also fit GROUPED_RE.");

PyObject *float_facts(PyObject *self, PyObject *arg) {
    FloatState st = {.ok = 1};
    Column c;
    if (column_parse(arg, &c) < 0 || column_visit(&c, float_visit, &st) < 0) return NULL;
    if (!st.ok) Py_RETURN_NONE;
    return Py_BuildValue("(OO)", st.exponent || st.long_value ? Py_True : Py_False,
                         !st.exponent && !st.bare_dot ? Py_True : Py_False);
}

PyObject *number_shapes(PyObject *self, PyObject *args) {
    PyObject *spec;
    ShapeState st = {.ok = 1};
    Column c;
    if (!PyArg_ParseTuple(args, "O!iip", &PyTuple_Type, &spec, &st.group, &st.mark,
                          &st.need_group)) {
        return NULL;
    }
    if (column_parse(spec, &c) < 0 || column_visit(&c, shape_visit, &st) < 0) return NULL;
    return PyBool_FromLong(st.ok);
}

PyDoc_STRVAR_shared(fraction_digits_doc,
             "fraction_digits(column, mark) -> int\n\n"
             "The most bytes after the first mark in a non-null value (0 if none has one).");

typedef struct {
    int mark;
    int64_t most;
} FractionState;

static int fraction_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    FractionState *st = state;
    const uint8_t *at = len ? memchr(p, st->mark, (size_t)len) : NULL;
    if (at && len - (at - p) - 1 > st->most) st->most = len - (at - p) - 1;
    return 0;
}

PyObject *fraction_digits(PyObject *self, PyObject *args) {
    PyObject *spec;
    FractionState st = {0};
    Column c;
    if (!PyArg_ParseTuple(args, "O!i", &PyTuple_Type, &spec, &st.mark)) return NULL;
    if (column_parse(spec, &c) < 0 || column_visit(&c, fraction_visit, &st) < 0) return NULL;
    return PyLong_FromLongLong(st.most);
}

PyDoc_STRVAR_shared(percent_facts_doc,
             "percent_facts(column, mark) -> (ok, scale, digits, integer_digits) | None\n\n"
             "For infer.py's percent candidates: None unless every non-null value ends in\n"
             "'%' and its body (without the trailing '%' and ' ') is a number with the\n"
             "decimal mark, no leading zero, only digits, the mark and '-'. ok: every body\n"
             "also reads as a float (with '.' for the mark); then the most fraction digits,\n"
             "digits (the sign counts, as in infer.py) and integer digits.");

typedef struct {
    int mark, shape, parses;
    int64_t scale, digits, integer;
} PercentState;

static int percent_visit(void *state, Py_ssize_t i, const uint8_t *p, int64_t len) {
    PercentState *st = state;
    if (!len || p[len - 1] != '%') return !(st->shape = 0);
    int64_t n = len;
    while (n > 0 && (p[n - 1] == '%' || p[n - 1] == ' ')) n--;
    if (n == 0) return !(st->shape = 0);
    /* "0N" or "-0N" (N a digit) is an identifier, never a number. */
    if ((n > 1 && p[0] == '0' && p[1] >= '0' && p[1] <= '9') ||
        (n > 2 && p[0] == '-' && p[1] == '0' && p[2] >= '0' && p[2] <= '9')) {
        return !(st->shape = 0);
    }
    int64_t marks = 0, at = -1, dig = 0;
    for (int64_t k = 0; k < n; k++) {
        uint8_t b = p[k];
        if (b >= '0' && b <= '9') {
            dig++;
        } else if (b == st->mark) {
            if (at < 0) at = k;
            marks++;
        } else if (b != '-' || k > 0) {
            /* Another byte fails the shape; a '-' past the start only the float parse. */
            if (b != '-') return !(st->shape = 0);
            st->parses = 0;
        }
    }
    /* A float: "-"? digits* (mark digits*)? with a digit somewhere. */
    if (marks > 1 || dig == 0) st->parses = 0;
    int64_t scale = at >= 0 ? n - at - 1 : 0, digits = n - (at >= 0 ? 1 : 0);
    if (scale > st->scale) st->scale = scale;
    if (digits > st->digits) st->digits = digits;
    if (digits - scale > st->integer) st->integer = digits - scale;
    return 0;
}

PyObject *percent_facts(PyObject *self, PyObject *args) {
    PyObject *spec;
    PercentState st = {.shape = 1, .parses = 1};
    Column c;
    if (!PyArg_ParseTuple(args, "O!i", &PyTuple_Type, &spec, &st.mark)) return NULL;
    if (column_parse(spec, &c) < 0 || column_visit(&c, percent_visit, &st) < 0) return NULL;
    if (!st.shape) Py_RETURN_NONE;
    return Py_BuildValue("(OLLL)", st.parses ? Py_True : Py_False, (long long)st.scale,
                         (long long)st.digits, (long long)st.integer);
}
