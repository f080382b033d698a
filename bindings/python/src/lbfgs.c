/*
 * LBFGS's state to and from Python (include/descent.h, section "LBFGS state"), for
 * descent.torch's state_dict in torch's format: a dict of the record's counters, flags
 * and scalars, ro and al as lists (None for al's NaN), and the vectors as bytes (copies).
 */
#include <math.h>
#include <string.h>

#include "extension.h"

PyObject *Optimizer_lbfgs_state(OptimizerObject *self, PyObject *Py_UNUSED(ignored)) {
    USABLE(self);
    descent_lbfgs_state s = {0};
    size_t count = 0;
    CALL(self->opt, descent_lbfgs_get_state(self->opt, &s, NULL, 0, &count));
    float *ro = PyMem_Calloc(s.history + 1, sizeof(float)), *al = PyMem_Calloc(s.al_count + 1, sizeof(float));
    float **vectors = PyMem_Calloc(count + 1, sizeof(float *));
    PyObject *result = NULL, *ro_list = NULL, *al_list = NULL, *vector_list = NULL;
    if (!ro || !al || !vectors) {
        PyErr_NoMemory();
        goto done;
    }
    s.ro = ro;
    s.al = al;
    descent_status status = descent_lbfgs_get_state(self->opt, &s, vectors, count, &count);
    if (status != DESCENT_OK) {
        raise_status(status, self->opt);
        goto done;
    }
    ro_list = PyList_New((Py_ssize_t)s.history);
    al_list = PyList_New((Py_ssize_t)s.al_count);
    vector_list = PyList_New((Py_ssize_t)count);
    if (!ro_list || !al_list || !vector_list) goto done;
    for (size_t i = 0; i < s.history; i++) {
        PyObject *value = PyFloat_FromDouble(ro[i]);
        if (!value) goto done;
        PyList_SET_ITEM(ro_list, (Py_ssize_t)i, value);
    }
    for (size_t i = 0; i < s.al_count; i++) {
        PyObject *value = isnan(al[i]) ? Py_NewRef(Py_None) : PyFloat_FromDouble(al[i]);
        if (!value) goto done;
        PyList_SET_ITEM(al_list, (Py_ssize_t)i, value);
    }
    for (size_t i = 0; i < count; i++) {
        PyObject *bytes = PyBytes_FromStringAndSize((const char *)vectors[i], (Py_ssize_t)(s.numel * sizeof(float)));
        if (!bytes) goto done;
        PyList_SET_ITEM(vector_list, (Py_ssize_t)i, bytes);
    }
    result = Py_BuildValue("{s:I,s:L,s:L,s:n,s:d,s:d,s:d,s:O,s:O,s:O}", "flags", s.flags, "func_evals",
                           (long long)s.func_evals, "n_iter", (long long)s.n_iter, "numel", (Py_ssize_t)s.numel,
                           "t", s.t, "h_diag", s.h_diag, "prev_loss", s.prev_loss, "ro", ro_list, "al", al_list,
                           "vectors", vector_list);
done:
    Py_XDECREF(ro_list);
    Py_XDECREF(al_list);
    Py_XDECREF(vector_list);
    PyMem_Free(ro);
    PyMem_Free(al);
    PyMem_Free(vectors);
    return result;
}

/* The floats of tuple `items` (None: NaN) into `out`; -1 with an exception. */
static int floats_from(PyObject *items, const char *what, float *out) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(items); i++) {
        PyObject *item = PyTuple_GET_ITEM(items, i);
        double value = item == Py_None ? NAN : PyFloat_AsDouble(item);
        if (value == -1 && PyErr_Occurred()) {
            PyErr_Format(DescentTypeError, "%s[%zd] must be a float or None", what, i);
            return -1;
        }
        out[i] = (float)value;
    }
    return 0;
}

/* A C-contiguous float32 buffer, read-only allowed (lbfgs_state() gives bytes). */
static int get_floats(PyObject *obj, Py_ssize_t index, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS | PyBUF_FORMAT) < 0) {
        PyErr_Clear();
        if (PyObject_GetBuffer(obj, view, PyBUF_C_CONTIGUOUS) < 0) {
            PyErr_Clear();
            PyErr_Format(DescentTypeError, "LBFGS state vector %zd must be a C-contiguous float32 buffer, got %s",
                         index, Py_TYPE(obj)->tp_name);
            return -1;
        }
    }
    const char *format = buffer_format(view);
    /* Plain bytes (format "B") are taken as float32 memory, as lbfgs_state() writes it. */
    if (!(strcmp(format, "f") == 0 && view->itemsize == 4) && !(strcmp(format, "B") == 0 && view->itemsize == 1)) {
        PyErr_Format(DescentTypeError, "LBFGS state vector %zd must have dtype float32, got buffer format '%s'", index,
                     format);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyObject *Optimizer_set_lbfgs_state(OptimizerObject *self, PyObject *state) {
    USABLE(self);
    if (!PyDict_Check(state)) return PyErr_Format(DescentTypeError, "the LBFGS state must be a dict");
    descent_lbfgs_state s = {0};
    long long func_evals = 0, n_iter = 0;
    PyObject *ro_arg, *al_arg, *vectors_arg;
    PyObject *args = PyTuple_New(0);
    static char *keys[] = {"flags", "func_evals", "n_iter", "numel", "t", "h_diag", "prev_loss", "ro", "al", "vectors",
                           NULL};
    int ok = args && PyArg_ParseTupleAndKeywords(args, state, "ILLndddOOO:set_lbfgs_state", keys, &s.flags,
                                                 &func_evals, &n_iter, &s.numel, &s.t, &s.h_diag, &s.prev_loss,
                                                 &ro_arg, &al_arg, &vectors_arg);
    Py_XDECREF(args);
    if (!ok) return NULL;
    s.func_evals = func_evals;
    s.n_iter = n_iter;
    PyObject *ro = PySequence_Tuple(ro_arg);
    PyObject *al = ro ? PySequence_Tuple(al_arg) : NULL;
    PyObject *vectors = al ? PySequence_Tuple(vectors_arg) : NULL;
    PyObject *result = NULL;
    float *ro_values = NULL, *al_values = NULL;
    const float **pointers = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t count = 0, held = 0;
    if (!vectors) goto done;
    s.history = (size_t)PyTuple_GET_SIZE(ro);
    s.al_count = (size_t)PyTuple_GET_SIZE(al);
    count = PyTuple_GET_SIZE(vectors);
    size_t expected = ((s.flags & DESCENT_LBFGS_HAS_D) ? 1 : 0) + ((s.flags & DESCENT_LBFGS_HAS_PREV_FLAT_GRAD) ? 1 : 0) +
                      2 * s.history;
    if ((size_t)count != expected) {
        PyErr_Format(DescentValueError,
                     "expected %zu LBFGS state vectors (d and prev_flat_grad as the flags say, then two per entry of "
                     "ro), got %zd",
                     expected, count);
        goto done;
    }
    ro_values = PyMem_Calloc(s.history + 1, sizeof(float));
    al_values = PyMem_Calloc(s.al_count + 1, sizeof(float));
    pointers = PyMem_Calloc((size_t)count + 1, sizeof(float *));
    views = PyMem_Calloc((size_t)count + 1, sizeof(Py_buffer));
    if (!ro_values || !al_values || !pointers || !views) {
        PyErr_NoMemory();
        goto done;
    }
    if (floats_from(ro, "ro", ro_values) < 0 || floats_from(al, "al", al_values) < 0) goto done;
    s.ro = ro_values;
    s.al = al_values;
    for (; held < count; held++) {
        if (get_floats(PyTuple_GET_ITEM(vectors, held), held, &views[held]) < 0) goto done;
        if ((size_t)views[held].len != s.numel * sizeof(float)) {
            PyErr_Format(DescentValueError, "LBFGS state vector %zd has %zd bytes, expected %zu (numel %zu)", held,
                         views[held].len, s.numel * sizeof(float), s.numel);
            held++;
            goto done;
        }
        pointers[held] = views[held].buf;
    }
    descent_status status = descent_lbfgs_set_state(self->opt, &s, pointers);
    if (status != DESCENT_OK) {
        raise_status(status, self->opt);
        goto done;
    }
    result = Py_NewRef(Py_None);
done:
    for (Py_ssize_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    Py_XDECREF(ro);
    Py_XDECREF(al);
    Py_XDECREF(vectors);
    PyMem_Free(ro_values);
    PyMem_Free(al_values);
    PyMem_Free(pointers);
    PyMem_Free(views);
    return result;
}
