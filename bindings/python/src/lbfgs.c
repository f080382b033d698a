/*
 * LBFGS's state to and from Python (include/descent.h, section "LBFGS state"), for
 * descent.torch's state_dict in torch's format: a dict of the record's counters, flags
 * and scalars, ro and al as lists (None for al's NaN), and the vectors as bytes (copies).
 */
#include <math.h>

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

/* `list[i]` of a list of floats (None: NaN) into `out`; -1 with an exception. */
static int floats_from(PyObject *list, const char *what, float *out, Py_ssize_t n) {
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_Fast_GET_ITEM(list, i);
        double value = item == Py_None ? NAN : PyFloat_AsDouble(item);
        if (value == -1 && PyErr_Occurred()) {
            PyErr_Format(DescentTypeError, "%s[%zd] must be a float", what, i);
            return -1;
        }
        out[i] = (float)value;
    }
    return 0;
}

PyObject *Optimizer_set_lbfgs_state(OptimizerObject *self, PyObject *state) {
    USABLE(self);
    if (!PyDict_Check(state)) return PyErr_Format(DescentTypeError, "the LBFGS state must be a dict");
    descent_lbfgs_state s = {0};
    PyObject *ro = NULL, *al = NULL, *vectors = NULL, *result = NULL;
    float *ro_values = NULL, *al_values = NULL;
    const float **pointers = NULL;
    Py_buffer *views = NULL;
    Py_ssize_t count = 0, held = 0;
    long long func_evals = 0, n_iter = 0;
    PyObject *args = PyTuple_New(0);
    static char *keys[] = {"flags", "func_evals", "n_iter", "numel", "t", "h_diag", "prev_loss", "ro", "al", "vectors",
                           NULL};
    int ok = args && PyArg_ParseTupleAndKeywords(args, state, "ILLndddOOO:set_lbfgs_state", keys, &s.flags,
                                                 &func_evals, &n_iter, &s.numel, &s.t, &s.h_diag, &s.prev_loss, &ro,
                                                 &al, &vectors);
    Py_XDECREF(args);
    if (!ok) return NULL;
    s.func_evals = func_evals;
    s.n_iter = n_iter;
    ro = PySequence_Fast(ro, "ro must be a sequence");
    al = PySequence_Fast(al, "al must be a sequence");
    vectors = PySequence_Fast(vectors, "vectors must be a sequence");
    if (!ro || !al || !vectors) goto done;
    s.history = (size_t)PySequence_Fast_GET_SIZE(ro);
    s.al_count = (size_t)PySequence_Fast_GET_SIZE(al);
    count = PySequence_Fast_GET_SIZE(vectors);
    ro_values = PyMem_Calloc(s.history + 1, sizeof(float));
    al_values = PyMem_Calloc(s.al_count + 1, sizeof(float));
    pointers = PyMem_Calloc((size_t)count + 1, sizeof(float *));
    views = PyMem_Calloc((size_t)count + 1, sizeof(Py_buffer));
    if (!ro_values || !al_values || !pointers || !views) {
        PyErr_NoMemory();
        goto done;
    }
    if (floats_from(ro, "ro", ro_values, (Py_ssize_t)s.history) < 0) goto done;
    if (floats_from(al, "al", al_values, (Py_ssize_t)s.al_count) < 0) goto done;
    s.ro = ro_values;
    s.al = al_values;
    for (; held < count; held++) {
        if (get_float_buffer(PySequence_Fast_GET_ITEM(vectors, held), "an LBFGS state vector", &views[held]) < 0)
            goto done;
        if ((size_t)views[held].len != s.numel * sizeof(float)) {
            PyErr_Format(DescentValueError, "LBFGS state vector %zd has %zd elements, expected %zu", held,
                         views[held].len / 4, s.numel);
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
