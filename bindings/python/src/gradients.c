/*
 * The gradient utilities and the fused phase (header section "gradient utilities, the
 * phase"): Optimizer.step's keyword options and report, and the module functions
 * clip_grad_norm, clip_grad_value and grad_norm over any float32 buffers.
 */
#include <math.h>
#include <string.h>

#include "extension.h"

static int policy_from_name(PyObject *name, descent_nonfinite_policy *out) {
    static const char *names[] = {"propagate", "skip", "error"};
    const char *text = PyUnicode_Check(name) ? PyUnicode_AsUTF8(name) : NULL;
    if (!text && PyErr_Occurred()) return -1;
    for (int i = 0; text && i < 3; i++) {
        if (!strcmp(names[i], text)) {
            *out = (descent_nonfinite_policy)i;
            return 0;
        }
    }
    PyErr_Format(DescentValueError, "nonfinite must be 'propagate', 'skip' or 'error', got %R", name);
    return -1;
}

int parse_step_options(PyObject *kwargs, descent_step_options *out) {
    static char *keywords[] = {"grad_scale", "found_inf", "nonfinite", "max_norm", "norm_type",
                               "error_if_nonfinite", "clip_value", "zero_grad", NULL};
    descent_step_options_default(out);
    if (!kwargs) return 0;
    PyObject *empty = PyTuple_New(0), *policy = NULL, *max_norm = Py_None, *clip_value = Py_None;
    if (!empty) return -1;
    int found_inf = 0, error_if_nonfinite = 0, zero_grad = 0;
    int ok = PyArg_ParseTupleAndKeywords(empty, kwargs, "|$dpOOdpOp:step", keywords, &out->grad_scale,
                                         &found_inf, &policy, &max_norm, &out->norm_type,
                                         &error_if_nonfinite, &clip_value, &zero_grad);
    Py_DECREF(empty);
    if (!ok) return -1;
    out->found_inf = found_inf;
    out->error_if_nonfinite = error_if_nonfinite;
    out->zero_grad = zero_grad;
    if (policy && policy_from_name(policy, &out->nonfinite) < 0) return -1;
    if (max_norm != Py_None && clip_value != Py_None) {
        PyErr_SetString(DescentValueError, "give max_norm (clip by norm) or clip_value (clip by value), not both");
        return -1;
    }
    if (max_norm != Py_None) {
        out->clip = DESCENT_CLIP_NORM;
        out->max_norm = PyFloat_AsDouble(max_norm);
        if (out->max_norm == -1.0 && PyErr_Occurred()) return -1;
    }
    if (clip_value != Py_None) {
        out->clip = DESCENT_CLIP_VALUE;
        out->clip_value = PyFloat_AsDouble(clip_value);
        if (out->clip_value == -1.0 && PyErr_Occurred()) return -1;
    }
    return 0;
}

PyObject *step_report_to_dict(const descent_step_report *r) {
    static const char *reasons[] = {NULL, "found_inf", "nonfinite"};
    const char *skipped = (unsigned)r->skipped < 3 ? reasons[r->skipped] : "unknown";
    return Py_BuildValue("{s:d,s:d,s:O,s:z,s:n,s:n}", "total_norm", r->total_norm, "clip_coef", r->clip_coef,
                         "found_inf", r->found_inf ? Py_True : Py_False, "skipped", skipped,
                         "params_updated", (Py_ssize_t)r->params_updated,
                         "elements_updated", (Py_ssize_t)r->elements_updated);
}

/* The buffers of a sequence, held while the engine runs. */
typedef struct {
    PyObject *seq;
    Py_ssize_t count, held;
    Py_buffer *views;
    float **pointers;
    size_t *numels;
} Buffers;

static void buffers_release(Buffers *b) {
    for (Py_ssize_t i = 0; i < b->held; i++) PyBuffer_Release(&b->views[i]);
    PyMem_Free(b->views);
    PyMem_Free(b->pointers);
    PyMem_Free(b->numels);
    Py_XDECREF(b->seq);
}

static int buffers_get(PyObject *grads, Buffers *b) {
    memset(b, 0, sizeof *b);
    b->seq = PySequence_Fast(grads, "grads must be a sequence of float32 buffers");
    if (!b->seq) return -1;
    b->count = PySequence_Fast_GET_SIZE(b->seq);
    size_t slots = (size_t)(b->count ? b->count : 1);
    b->views = PyMem_Calloc(slots, sizeof(Py_buffer));
    b->pointers = PyMem_Calloc(slots, sizeof(float *));
    b->numels = PyMem_Calloc(slots, sizeof(size_t));
    if (!b->views || !b->pointers || !b->numels) {
        PyErr_NoMemory();
        goto fail;
    }
    for (; b->held < b->count; b->held++) {
        char what[48];
        snprintf(what, sizeof what, "grads[%zd]", b->held);
        if (get_float_buffer(PySequence_Fast_GET_ITEM(b->seq, b->held), what, &b->views[b->held]) < 0) goto fail;
        b->pointers[b->held] = b->views[b->held].buf;
        b->numels[b->held] = (size_t)(b->views[b->held].len / 4);
    }
    return 0;
fail:
    buffers_release(b);
    return -1;
}

static PyObject *module_clip_grad_norm(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"grads", "max_norm", "norm_type", "error_if_nonfinite", NULL};
    PyObject *grads;
    double max_norm, norm_type = 2.0;
    int error_if_nonfinite = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Od|dp:clip_grad_norm", keywords, &grads, &max_norm,
                                     &norm_type, &error_if_nonfinite))
        return NULL;
    Buffers b;
    if (buffers_get(grads, &b) < 0) return NULL;
    float total = NAN;
    descent_status status;
    Py_BEGIN_ALLOW_THREADS
    status = descent_clip_grad_norm(b.pointers, b.numels, (size_t)b.count, max_norm, norm_type,
                                    error_if_nonfinite, &total);
    Py_END_ALLOW_THREADS
    buffers_release(&b);
    if (status != DESCENT_OK) return raise_status(status, NULL);
    return PyFloat_FromDouble(total);
}

static PyObject *module_grad_norm(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"grads", "norm_type", "error_if_nonfinite", NULL};
    PyObject *grads;
    double norm_type = 2.0;
    int error_if_nonfinite = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|dp:grad_norm", keywords, &grads, &norm_type,
                                     &error_if_nonfinite))
        return NULL;
    Buffers b;
    if (buffers_get(grads, &b) < 0) return NULL;
    float total = NAN;
    descent_status status;
    Py_BEGIN_ALLOW_THREADS
    status = descent_grad_norm(b.pointers, b.numels, (size_t)b.count, norm_type, error_if_nonfinite, &total);
    Py_END_ALLOW_THREADS
    buffers_release(&b);
    if (status != DESCENT_OK) return raise_status(status, NULL);
    return PyFloat_FromDouble(total);
}

static PyObject *module_clip_grad_value(PyObject *Py_UNUSED(m), PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"grads", "clip_value", NULL};
    PyObject *grads;
    double clip_value;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "Od:clip_grad_value", keywords, &grads, &clip_value)) return NULL;
    Buffers b;
    if (buffers_get(grads, &b) < 0) return NULL;
    descent_status status;
    Py_BEGIN_ALLOW_THREADS
    status = descent_clip_grad_value(b.pointers, b.numels, (size_t)b.count, clip_value);
    Py_END_ALLOW_THREADS
    buffers_release(&b);
    if (status != DESCENT_OK) return raise_status(status, NULL);
    Py_RETURN_NONE;
}

PyMethodDef gradient_functions[] = {
    {"clip_grad_norm", (PyCFunction)(void (*)(void))module_clip_grad_norm, METH_VARARGS | METH_KEYWORDS,
     "clip_grad_norm(grads, max_norm, norm_type=2.0, error_if_nonfinite=False) -> float\n\n"
     "torch's clip_grad_norm_ over float32 buffers; returns the total norm before clipping."},
    {"clip_grad_value", (PyCFunction)(void (*)(void))module_clip_grad_value, METH_VARARGS | METH_KEYWORDS,
     "clip_grad_value(grads, clip_value) -> None\n\ntorch's clip_grad_value_ over float32 buffers."},
    {"grad_norm", (PyCFunction)(void (*)(void))module_grad_norm, METH_VARARGS | METH_KEYWORDS,
     "grad_norm(grads, norm_type=2.0, error_if_nonfinite=False) -> float\n\n"
     "torch's get_total_norm over float32 buffers."},
    {NULL, NULL, 0, NULL},
};
