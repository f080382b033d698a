/*
 * descent._descent: the CPython extension over include/descent.h.
 *
 * One type, Optimizer, wraps a descent_optimizer. It takes float32 buffers through the
 * buffer protocol and keeps every buffer whose pointer the engine holds (a Py_buffer
 * per parameter and per registered gradient), so none can be freed or resized under
 * it. The GIL is released around the step and zero_grad; a "busy" flag turns a second
 * thread's call on the same optimizer into an exception instead of a race on buffers.
 * Every status becomes an exception of the DescentError family, with the engine's
 * message.
 */

#include <limits.h>
#include <string.h>

#include "extension.h"

/* ------------------------------------------------------------------ errors */

PyObject *DescentError, *DescentValueError, *DescentTypeError, *DescentIndexError,
    *DescentMemoryError, *DescentNonfiniteError, *DescentCheckpointError, *DescentOSError,
    *DescentUnsupportedError, *SparseGradientFound;

/* Raises the exception for `status` with `message`; it carries the status. */
PyObject *raise_message(descent_status status, const char *message) {
    PyObject *type;
    switch (status) {
    case DESCENT_ERROR_INVALID_ARGUMENT:
    case DESCENT_ERROR_INVALID_HYPERPARAMETER:
    case DESCENT_ERROR_UNKNOWN_ALGORITHM:
    case DESCENT_ERROR_UNKNOWN_OPTION:
    case DESCENT_ERROR_DUPLICATE_PARAMETER:
    case DESCENT_ERROR_OVERLAP:
    case DESCENT_ERROR_INVALID_STATE: type = DescentValueError; break;
    case DESCENT_ERROR_NULL_POINTER: type = DescentTypeError; break;
    case DESCENT_ERROR_OUT_OF_RANGE: type = DescentIndexError; break;
    case DESCENT_ERROR_OUT_OF_MEMORY: type = DescentMemoryError; break;
    case DESCENT_ERROR_NONFINITE: type = DescentNonfiniteError; break;
    case DESCENT_ERROR_CORRUPT_CHECKPOINT:
    case DESCENT_ERROR_MISMATCH: type = DescentCheckpointError; break;
    case DESCENT_ERROR_IO: type = DescentOSError; break;
    case DESCENT_ERROR_UNSUPPORTED: type = DescentUnsupportedError; break;
    default: type = DescentError; break;
    }
    PyObject *args = Py_BuildValue("(s)", message);
    if (!args) return NULL;
    PyObject *error = PyObject_Call(type, args, NULL);
    Py_DECREF(args);
    if (!error) return NULL;
    PyObject *code = PyLong_FromLong((long)status);
    if (code) {
        PyObject_SetAttrString(error, "status", code);
        Py_DECREF(code);
    }
    PyErr_SetObject(type, error);
    Py_DECREF(error);
    return NULL;
}

PyObject *raise_status(descent_status status, const descent_optimizer *opt) {
    return raise_message(status, descent_last_error(opt));
}


/* ----------------------------------------------------------------- buffers */

const char *buffer_format(const Py_buffer *view) {
    const char *format = view->format ? view->format : "B";
    return (format[0] == '<' || format[0] == '=' || format[0] == '@') && format[1] ? format + 1 : format;
}

const char *param_format_name(descent_param_format format) {
    switch (format) {
    case DESCENT_PARAM_BFLOAT16: return "bfloat16";
    case DESCENT_PARAM_FLOAT16: return "float16";
    default: return "float32";
    }
}

/* The parameter format a buffer's elements hold, by their struct code: 'f' float32, 'e'
 * float16, 'h' or 'H' (16-bit integers) bfloat16 bit patterns; 0 for any other. */
static descent_param_format element_format(const Py_buffer *view) {
    const char *code = buffer_format(view);
    if (strcmp(code, "f") == 0 && view->itemsize == 4) return DESCENT_PARAM_FLOAT32;
    if (strcmp(code, "e") == 0 && view->itemsize == 2) return DESCENT_PARAM_FLOAT16;
    if ((strcmp(code, "h") == 0 || strcmp(code, "H") == 0) && view->itemsize == 2) return DESCENT_PARAM_BFLOAT16;
    return 0;
}

descent_param_format param_format(const OptimizerObject *self, Py_ssize_t index) {
    return element_format(&self->params[index]);
}

Py_ssize_t param_numel(const OptimizerObject *self, Py_ssize_t index) {
    return self->params[index].len / self->params[index].itemsize;
}

int get_float_buffer(PyObject *obj, const char *what, Py_buffer *view) {
    return get_element_buffer(obj, what, DESCENT_PARAM_FLOAT32, view);
}

/* Gets a writable, C-contiguous buffer of elements in `format` from `obj`, or raises an
 * exception that names the argument (`what`) and says what was expected. */
int get_element_buffer(PyObject *obj, const char *what, descent_param_format format, Py_buffer *view) {
    const char *expected = format == DESCENT_PARAM_BFLOAT16 ? "bfloat16 (as int16 or uint16)" : param_format_name(format);
    if (PyObject_GetBuffer(obj, view, PyBUF_FULL_RO) < 0) {
        PyErr_Clear();
        PyErr_Format(DescentTypeError,
                     "%s must be a writable C-contiguous %s buffer (e.g. a numpy array), got %s",
                     what, expected, Py_TYPE(obj)->tp_name);
        return -1;
    }
    if (element_format(view) != format) {
        PyErr_Format(DescentTypeError, "%s must have dtype %s, got buffer format '%s'", what, expected,
                     view->format ? view->format : "B");
        goto fail;
    }
    if (view->readonly) {
        PyErr_Format(DescentTypeError, "%s is read-only; Descent updates it in place", what);
        goto fail;
    }
    if (!PyBuffer_IsContiguous(view, 'C')) {
        PyErr_Format(DescentValueError, "%s must be C-contiguous (use numpy.ascontiguousarray)", what);
        goto fail;
    }
    return 0;
fail:
    PyBuffer_Release(view);
    return -1;
}

/* ------------------------------------------------------------- the type */

int check_usable(OptimizerObject *self) {
    if (!self->opt) {
        PyErr_SetString(DescentError, "the optimizer is closed");
        return -1;
    }
    if (self->busy && self->busy_thread != PyThread_get_thread_ident()) {
        PyErr_SetString(DescentError, "the optimizer is running a step in another thread");
        return -1;
    }
    return 0;
}


static void release_buffers(OptimizerObject *self) {
    for (Py_ssize_t i = 0; i < self->count; i++) {
        PyBuffer_Release(&self->params[i]);
        if (self->grads[i].obj) PyBuffer_Release(&self->grads[i]);
        Py_XDECREF(self->grad_views[i]);
    }
    PyMem_Free(self->params);
    PyMem_Free(self->grads);
    PyMem_Free(self->grad_views);
    PyMem_Free(self->grad_view_memory);
    self->params = self->grads = NULL;
    self->grad_views = NULL;
    self->grad_view_memory = NULL;
    self->count = self->capacity = 0;
}

static void close_optimizer(OptimizerObject *self) {
    if (self->opt) {
        descent_free(self->opt);
        self->opt = NULL;
    }
    release_buffers(self);
}

static int Optimizer_init(OptimizerObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"algorithm", "defaults", NULL};
    PyObject *name, *defaults = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "U|O!:Optimizer", keywords, &name, &PyDict_Type, &defaults))
        return -1;
    if (self->opt) {
        PyErr_SetString(DescentError, "Optimizer.__init__ called twice");
        return -1;
    }
    if (algorithm_from_name(name, &self->algorithm) < 0) return -1;
    descent_option ids[MAX_OPTIONS];
    double values[MAX_OPTIONS];
    size_t count = 0;
    if (defaults && options_from_dict(self->algorithm, defaults, ids, values, &count) < 0) return -1;
    descent_status status = descent_create_with(self->algorithm, ids, values, count, &self->opt);
    if (status != DESCENT_OK) {
        raise_status(status, NULL);
        return -1;
    }
    return 0;
}

static void Optimizer_dealloc(OptimizerObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    close_optimizer(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static int Optimizer_traverse(OptimizerObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    for (Py_ssize_t i = 0; i < self->count; i++) {
        Py_VISIT(self->params[i].obj);
        Py_VISIT(self->grads[i].obj);
        Py_VISIT(self->grad_views[i]);
    }
    return 0;
}

static PyObject *Optimizer_close(OptimizerObject *self, PyObject *Py_UNUSED(ignored)) {
    if (self->busy) {
        PyErr_SetString(DescentError, "the optimizer is running a step in another thread");
        return NULL;
    }
    if (self->exports > 0) {
        PyErr_SetString(PyExc_BufferError, "state buffers of this optimizer are still in use");
        return NULL;
    }
    close_optimizer(self);
    Py_RETURN_NONE;
}

static PyObject *Optimizer_add_group(OptimizerObject *self, PyObject *hyperparameters) {
    USABLE(self);
    descent_option ids[MAX_OPTIONS];
    double values[MAX_OPTIONS];
    size_t count = 0, index = 0;
    if (options_from_dict(self->algorithm, hyperparameters, ids, values, &count) < 0) return NULL;
    CALL(self->opt, descent_add_group_with(self->opt, ids, values, count, &index));
    return PyLong_FromSize_t(index);
}

static int grow(OptimizerObject *self) {
    if (self->count < self->capacity) return 0;
    Py_ssize_t capacity = self->capacity ? 2 * self->capacity : 16;
    Py_buffer *params = PyMem_Realloc(self->params, (size_t)capacity * sizeof(Py_buffer));
    if (!params) return PyErr_NoMemory(), -1;
    self->params = params;
    Py_buffer *grads = PyMem_Realloc(self->grads, (size_t)capacity * sizeof(Py_buffer));
    if (!grads) return PyErr_NoMemory(), -1;
    self->grads = grads;
    PyObject **views = PyMem_Realloc(self->grad_views, (size_t)capacity * sizeof(PyObject *));
    if (!views) return PyErr_NoMemory(), -1;
    self->grad_views = views;
    float **memory = PyMem_Realloc(self->grad_view_memory, (size_t)capacity * sizeof(float *));
    if (!memory) return PyErr_NoMemory(), -1;
    self->grad_view_memory = memory;
    self->capacity = capacity;
    return 0;
}

/* Gets `grad` (None allowed: an empty view) for a parameter of `numel` elements in
 * `format`. */
static int get_grad_buffer(PyObject *grad, const char *what, descent_param_format format, Py_ssize_t numel,
                           Py_buffer *view) {
    memset(view, 0, sizeof *view);
    if (grad == Py_None) return 0;
    if (get_element_buffer(grad, what, format, view) < 0) return -1;
    if (view->len / view->itemsize != numel) {
        PyErr_Format(DescentValueError, "%s has %zd elements, its parameter has %zd", what,
                     view->len / view->itemsize, numel);
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

/* The parameter format `name` names (NULL: the one a float32 or float16 buffer holds);
 * 0 with an exception for an unknown name or a buffer that needs one. */
static descent_param_format format_argument(const char *name, PyObject *param) {
    static const descent_param_format formats[] = {DESCENT_PARAM_FLOAT32, DESCENT_PARAM_BFLOAT16,
                                                   DESCENT_PARAM_FLOAT16};
    for (size_t i = 0; name && i < sizeof formats / sizeof *formats; i++)
        if (strcmp(name, param_format_name(formats[i])) == 0) return formats[i];
    if (name) {
        PyErr_Format(DescentValueError, "format must be \"float32\", \"bfloat16\" or \"float16\", got \"%s\"", name);
        return 0;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(param, &view, PyBUF_FULL_RO) < 0) return PyErr_Clear(), DESCENT_PARAM_FLOAT32;
    descent_param_format format = element_format(&view);
    PyBuffer_Release(&view);
    if (format == DESCENT_PARAM_BFLOAT16) {
        PyErr_SetString(DescentTypeError, "param holds 16-bit integers: pass format=\"bfloat16\" for bfloat16 bit patterns");
        return 0;
    }
    return format ? format : DESCENT_PARAM_FLOAT32; /* get_element_buffer names what is wrong */
}

static PyObject *Optimizer_add_param(OptimizerObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"group", "param", "grad", "format", NULL};
    Py_ssize_t group;
    PyObject *param, *grad = Py_None;
    const char *format_name = NULL;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "nO|Oz:add_param", keywords, &group, &param, &grad, &format_name))
        return NULL;
    USABLE(self);
    if (group < 0) {
        PyErr_Format(DescentIndexError, "group index %zd is negative", group);
        return NULL;
    }
    descent_param_format format = format_argument(format_name, param);
    if (!format) return NULL;
    if (grow(self) < 0) return NULL;
    Py_buffer *pview = &self->params[self->count], *gview = &self->grads[self->count];
    if (get_element_buffer(param, "param", format, pview) < 0) return NULL;
    Py_ssize_t numel = pview->len / pview->itemsize;
    if (get_grad_buffer(grad, "grad", format, numel, gview) < 0) {
        PyBuffer_Release(pview);
        return NULL;
    }
    /* The buffer's shape is the parameter's (C-contiguous: row-major, as the engine reads
     * it), when it has one the engine takes; otherwise the parameter stays {numel}. */
    size_t dims[DESCENT_MAX_DIMS], product = 1;
    int shaped = pview->ndim <= DESCENT_MAX_DIMS && (pview->ndim == 0 || pview->shape);
    for (int axis = 0; shaped && axis < pview->ndim; axis++) {
        dims[axis] = (size_t)pview->shape[axis];
        product *= dims[axis];
    }
    shaped = shaped && product == (size_t)numel;
    size_t index;
    descent_status status = descent_add_param_format(self->opt, (size_t)group, pview->buf, gview->buf, (size_t)numel,
                                                     format, &index);
    /* Cannot fail: the index is new and the shape's product is its numel. */
    if (status == DESCENT_OK && shaped) descent_param_set_shape(self->opt, index, dims, (size_t)pview->ndim);
    if (status != DESCENT_OK) {
        PyBuffer_Release(pview);
        if (gview->obj) PyBuffer_Release(gview);
        return raise_status(status, self->opt);
    }
    self->grad_views[self->count] = NULL;
    self->grad_view_memory[self->count] = NULL;
    self->count++;
    return PyLong_FromSize_t(index);
}

int check_index(OptimizerObject *self, Py_ssize_t index) {
    if (index < 0 || index >= self->count) {
        PyErr_Format(DescentIndexError, "parameter index %zd is out of range (the optimizer has %zd parameters)",
                     index, self->count);
        return -1;
    }
    return 0;
}

int move_param(OptimizerObject *self, Py_ssize_t index, PyObject *param) {
    Py_buffer view;
    if (get_element_buffer(param, "param", param_format(self, index), &view) < 0) return -1;
    if (view.len != self->params[index].len) {
        PyErr_Format(DescentValueError, "parameter %zd now has %zd elements, it was registered with %zd", index,
                     view.len / view.itemsize, param_numel(self, index));
        PyBuffer_Release(&view);
        return -1;
    }
    descent_status status = descent_param_move(self->opt, (size_t)index, view.buf);
    if (status != DESCENT_OK) {
        PyBuffer_Release(&view);
        raise_status(status, self->opt);
        return -1;
    }
    PyBuffer_Release(&self->params[index]);
    self->params[index] = view;
    return 0;
}

static PyObject *Optimizer_move_param(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    PyObject *param;
    if (!PyArg_ParseTuple(args, "nO:move_param", &index, &param)) return NULL;
    USABLE(self);
    if (check_index(self, index) < 0) return NULL;
    if (move_param(self, index, param) < 0) return NULL;
    Py_RETURN_NONE;
}

static PyObject *Optimizer_set_grad(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    PyObject *grad;
    if (!PyArg_ParseTuple(args, "nO:set_grad", &index, &grad)) return NULL;
    USABLE(self);
    if (check_index(self, index) < 0) return NULL;
    Py_buffer view;
    if (get_grad_buffer(grad, "grad", param_format(self, index), param_numel(self, index), &view) < 0) return NULL;
    descent_status status = descent_set_grad(self->opt, (size_t)index, view.buf);
    if (status != DESCENT_OK) {
        if (view.obj) PyBuffer_Release(&view);
        return raise_status(status, self->opt);
    }
    if (self->grads[index].obj) PyBuffer_Release(&self->grads[index]);
    self->grads[index] = view;
    Py_RETURN_NONE;
}

static PyObject *Optimizer_step(OptimizerObject *self, PyObject *args, PyObject *kwargs) {
    PyObject *grads = Py_None;
    descent_step_options options;
    if (!PyArg_ParseTuple(args, "|O:step", &grads) || parse_step_options(kwargs, &options) < 0) return NULL;
    USABLE(self);
    descent_status status;
    descent_step_report report;
    if (grads == Py_None) {
        WITHOUT_GIL(self, status, descent_step_phase(self->opt, &options, NULL, 0, &report));
        if (status != DESCENT_OK) return raise_status(status, self->opt);
        return step_report_to_dict(&report);
    }
    PyObject *seq = PySequence_Fast(grads, "grads must be a sequence of buffers or None");
    if (!seq) return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != self->count) {
        Py_DECREF(seq);
        PyErr_Format(DescentValueError, "expected %zd gradients (one per parameter), got %zd", self->count, n);
        return NULL;
    }
    Py_buffer *views = PyMem_Calloc((size_t)(n ? n : 1), sizeof(Py_buffer));
    float **pointers = PyMem_Calloc((size_t)(n ? n : 1), sizeof(float *));
    Py_ssize_t got = 0;
    PyObject *result = NULL;
    if (!views || !pointers) {
        PyErr_NoMemory();
        goto done;
    }
    for (; got < n; got++) {
        char what[48];
        snprintf(what, sizeof what, "grads[%zd]", got);
        if (get_grad_buffer(PySequence_Fast_GET_ITEM(seq, got), what, param_format(self, got), param_numel(self, got),
                            &views[got]) < 0)
            goto done;
        pointers[got] = views[got].buf;
    }
    WITHOUT_GIL(self, status, descent_step_phase(self->opt, &options, pointers, (size_t)n, &report));
    if (status != DESCENT_OK) raise_status(status, self->opt);
    else result = step_report_to_dict(&report);
done:
    for (Py_ssize_t i = 0; i < got; i++)
        if (views[i].obj) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(pointers);
    Py_DECREF(seq);
    return result;
}

/* One step_closure call: the Python closure, what its first call returned, the thread
 * state saved while the engine runs (the closure takes the GIL back to run). */
typedef struct {
    PyObject *closure;
    PyObject *first;
    PyThreadState *saved;
} ClosureCall;

/* descent_closure over a Python callable: its result as a float (a 0-d tensor's
 * __float__ too); an exception stays set for step_closure to raise. */
static int call_closure(void *user_data, double *loss) {
    ClosureCall *call = user_data;
    PyEval_RestoreThread(call->saved);
    PyObject *result = PyObject_CallNoArgs(call->closure);
    int failed = 1;
    if (result) {
        double value = PyFloat_AsDouble(result);
        if (!PyErr_Occurred()) {
            *loss = value;
            failed = 0;
            if (!call->first) call->first = Py_NewRef(result);
        }
        Py_DECREF(result);
    }
    call->saved = PyEval_SaveThread();
    return failed;
}

static PyObject *Optimizer_step_closure(OptimizerObject *self, PyObject *closure) {
    USABLE(self);
    if (!PyCallable_Check(closure))
        return PyErr_Format(DescentTypeError, "closure must be callable, got %s", Py_TYPE(closure)->tp_name);
    ClosureCall call = {closure, NULL, NULL};
    double loss = 0;
    if (self->busy++ == 0) self->busy_thread = PyThread_get_thread_ident();
    call.saved = PyEval_SaveThread();
    descent_status status = descent_step_closure(self->opt, call_closure, &call, &loss);
    PyEval_RestoreThread(call.saved);
    self->busy--;
    if (PyErr_Occurred() || status != DESCENT_OK) {
        Py_XDECREF(call.first);
        /* The closure's own exception when it raised one, else the engine's. */
        return PyErr_Occurred() ? NULL : raise_status(status, self->opt);
    }
    return call.first;
}

static PyObject *Optimizer_zero_grad(OptimizerObject *self, PyObject *Py_UNUSED(ignored)) {
    USABLE(self);
    descent_status status;
    WITHOUT_GIL(self, status, descent_zero_grad(self->opt));
    if (status != DESCENT_OK) return raise_status(status, self->opt);
    Py_RETURN_NONE;
}

static PyObject *Optimizer_get_group(OptimizerObject *self, PyObject *arg) {
    USABLE(self);
    Py_ssize_t group = PyLong_AsSsize_t(arg);
    if (group == -1 && PyErr_Occurred()) return NULL;
    return group_to_dict(self->opt, self->algorithm, (size_t)group);
}

static PyObject *Optimizer_set_group(OptimizerObject *self, PyObject *args) {
    Py_ssize_t group;
    PyObject *changes;
    if (!PyArg_ParseTuple(args, "nO:set_group", &group, &changes)) return NULL;
    USABLE(self);
    descent_option ids[MAX_OPTIONS];
    double values[MAX_OPTIONS];
    size_t count = 0;
    if (options_from_dict(self->algorithm, changes, ids, values, &count) < 0) return NULL;
    CALL(self->opt, descent_group_set_with(self->opt, (size_t)group, ids, values, count));
    Py_RETURN_NONE;
}

/* A shape as a tuple of ints. */
static PyObject *shape_tuple(const size_t *dims, size_t ndim) {
    PyObject *shape = PyTuple_New((Py_ssize_t)ndim);
    for (size_t axis = 0; shape && axis < ndim; axis++) {
        PyObject *size = PyLong_FromSize_t(dims[axis]);
        if (!size) return Py_DECREF(shape), NULL;
        PyTuple_SET_ITEM(shape, (Py_ssize_t)axis, size);
    }
    return shape;
}

static PyObject *Optimizer_param_shape(OptimizerObject *self, PyObject *arg) {
    USABLE(self);
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred()) return NULL;
    size_t dims[DESCENT_MAX_DIMS], ndim;
    CALL(self->opt, descent_param_shape(self->opt, (size_t)index, dims, DESCENT_MAX_DIMS, &ndim));
    return shape_tuple(dims, ndim);
}

static PyObject *Optimizer_state_shape(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    const char *name;
    if (!PyArg_ParseTuple(args, "ns:state_shape", &index, &name)) return NULL;
    USABLE(self);
    if (check_index(self, index) < 0) return NULL;
    size_t dims[DESCENT_MAX_DIMS], ndim;
    CALL(self->opt, descent_param_state_shape(self->opt, (size_t)index, name, dims, DESCENT_MAX_DIMS, &ndim));
    return shape_tuple(dims, ndim);
}

static PyObject *Optimizer_step_count(OptimizerObject *self, PyObject *arg) {
    USABLE(self);
    Py_ssize_t index = PyLong_AsSsize_t(arg);
    if (index == -1 && PyErr_Occurred()) return NULL;
    int64_t steps;
    CALL(self->opt, descent_param_step_count(self->opt, (size_t)index, &steps));
    return PyLong_FromLongLong(steps);
}

static PyObject *Optimizer_set_step_count(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    long long steps;
    if (!PyArg_ParseTuple(args, "nL:set_step_count", &index, &steps)) return NULL;
    USABLE(self);
    CALL(self->opt, descent_param_set_step_count(self->opt, (size_t)index, (int64_t)steps));
    Py_RETURN_NONE;
}

/* ------------------------------------------------------- state buffers */

/* A view of one state buffer in engine memory, in its stored format: float32 values
 * ("f"), bfloat16 bit patterns ("H"), 8-bit codes ("B"), or an 8-bit state's absmax
 * values ("f"). It holds its optimizer, which refuses close() while any view is
 * exported, so the memory outlives every numpy array on it. */
typedef struct {
    PyObject_HEAD
    OptimizerObject *owner;
    void *data;
    Py_ssize_t count;
    Py_ssize_t itemsize;
    char format[2];
} StateObject;

static PyTypeObject *StateType;
PyTypeObject *OptimizerType;

static int State_getbuffer(StateObject *self, Py_buffer *view, int flags) {
    if (PyBuffer_FillInfo(view, (PyObject *)self, self->data, self->count * self->itemsize, 0, flags) < 0) return -1;
    view->itemsize = self->itemsize;
    view->format = (flags & PyBUF_FORMAT) ? self->format : NULL;
    if (flags & PyBUF_ND) {
        view->ndim = 1;
        view->shape = &self->count;
    }
    self->owner->exports++;
    return 0;
}

static void State_releasebuffer(StateObject *self, Py_buffer *Py_UNUSED(view)) {
    self->owner->exports--;
}

static void State_dealloc(StateObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    Py_XDECREF(self->owner);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static PyObject *new_state_view(OptimizerObject *owner, void *data, size_t count, Py_ssize_t itemsize, char format) {
    StateObject *state = PyObject_New(StateObject, StateType);
    if (!state) return NULL;
    state->owner = (OptimizerObject *)Py_NewRef(owner);
    state->data = data;
    state->count = (Py_ssize_t)count;
    state->itemsize = itemsize;
    state->format[0] = format;
    state->format[1] = 0;
    return (PyObject *)state;
}

/* The element count of state `name` of parameter `index`, or -1 with an exception. */
static Py_ssize_t state_count(OptimizerObject *self, Py_ssize_t index, const char *name) {
    size_t dims[DESCENT_MAX_DIMS], ndim, numel = 1;
    descent_status status = descent_param_state_shape(self->opt, (size_t)index, name, dims, DESCENT_MAX_DIMS, &ndim);
    if (status != DESCENT_OK) return raise_status(status, self->opt), -1;
    for (size_t axis = 0; axis < ndim; axis++) numel *= dims[axis];
    return (Py_ssize_t)numel;
}

static const char *const format_names[] = {NULL, "float32", "bfloat16", "int8"};

static PyObject *Optimizer_state(OptimizerObject *self, PyObject *args, PyObject *kwargs) {
    static char *keywords[] = {"index", "name", "create", NULL};
    Py_ssize_t index;
    const char *name;
    int create = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "ns|p:state", keywords, &index, &name, &create)) return NULL;
    USABLE(self);
    if (check_index(self, index) < 0) return NULL;
    descent_state_format format;
    CALL(self->opt, descent_param_state_format(self->opt, (size_t)index, name, &format));
    void *data = NULL;
    CALL(self->opt, descent_param_state_data(self->opt, (size_t)index, name, create, &data, NULL));
    if (!data) Py_RETURN_NONE;
    Py_ssize_t count = state_count(self, index, name);
    if (count < 0) return NULL;
    if (format == DESCENT_STATE_BFLOAT16) return new_state_view(self, data, (size_t)count, 2, 'H');
    if (format == DESCENT_STATE_INT8) return new_state_view(self, data, (size_t)count, 1, 'B');
    return new_state_view(self, data, (size_t)count, 4, 'f');
}

/* Parses a state method's (index, name) and checks the optimizer and the index. */
static int state_args(OptimizerObject *self, PyObject *args, const char *format, Py_ssize_t *index,
                      const char **name) {
    if (!PyArg_ParseTuple(args, format, index, name)) return -1;
    return check_usable(self) < 0 || check_index(self, *index) < 0 ? -1 : 0;
}

static PyObject *Optimizer_state_absmax(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    const char *name;
    if (state_args(self, args, "ns:state_absmax", &index, &name) < 0) return NULL;
    void *data = NULL;
    float *absmax = NULL;
    CALL(self->opt, descent_param_state_data(self->opt, (size_t)index, name, 0, &data, &absmax));
    if (!absmax) Py_RETURN_NONE;
    Py_ssize_t count = state_count(self, index, name);
    if (count < 0) return NULL;
    return new_state_view(self, absmax, ((size_t)count + DESCENT_INT8_BLOCK_SIZE - 1) / DESCENT_INT8_BLOCK_SIZE, 4,
                          'f');
}

static PyObject *Optimizer_state_format(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    const char *name;
    if (state_args(self, args, "ns:state_format", &index, &name) < 0) return NULL;
    descent_state_format format;
    CALL(self->opt, descent_param_state_format(self->opt, (size_t)index, name, &format));
    return PyUnicode_FromString(format_names[format]);
}

static PyObject *Optimizer_state_code_map(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    const char *name;
    if (state_args(self, args, "ns:state_code_map", &index, &name) < 0) return NULL;
    const float *map = NULL;
    CALL(self->opt, descent_param_state_code_map(self->opt, (size_t)index, name, &map));
    PyObject *values = PyTuple_New(256);
    for (Py_ssize_t code = 0; values && code < 256; code++) {
        PyObject *value = PyFloat_FromDouble(map[code]);
        if (!value) Py_CLEAR(values);
        else PyTuple_SET_ITEM(values, code, value);
    }
    return values;
}

static PyObject *Optimizer_write_state(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    const char *name;
    Py_buffer values;
    if (!PyArg_ParseTuple(args, "nsy*:write_state", &index, &name, &values)) return NULL;
    PyObject *result = NULL;
    if (check_usable(self) < 0 || check_index(self, index) < 0) goto done;
    if (values.len % (Py_ssize_t)sizeof(float) != 0) {
        PyErr_SetString(PyExc_ValueError, "write_state takes float32 values");
        goto done;
    }
    descent_status status = descent_param_write_state(self->opt, (size_t)index, name, values.buf,
                                                      (size_t)values.len / sizeof(float));
    if (status != DESCENT_OK) raise_status(status, self->opt);
    else result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&values);
    return result;
}

static PyObject *Optimizer_get_param_count(OptimizerObject *self, void *Py_UNUSED(closure)) {
    return PyLong_FromSsize_t(self->count);
}

static PyObject *Optimizer_get_group_count(OptimizerObject *self, void *Py_UNUSED(closure)) {
    USABLE(self);
    size_t n;
    CALL(self->opt, descent_group_count(self->opt, &n));
    return PyLong_FromSize_t(n);
}

static PyObject *Optimizer_get_algorithm(OptimizerObject *self, void *Py_UNUSED(closure)) {
    return PyUnicode_FromString(descent_algorithm_name(self->algorithm));
}

static PyObject *Optimizer_get_closed(OptimizerObject *self, void *Py_UNUSED(closure)) {
    return PyBool_FromLong(self->opt == NULL);
}

static PyMethodDef Optimizer_methods[] = {
    {"add_group", (PyCFunction)Optimizer_add_group, METH_O,
     "add_group(hyperparameters: dict) -> int\n\nAdds a group; missing hyperparameters take the algorithm's defaults."},
    {"add_param", (PyCFunction)(void (*)(void))Optimizer_add_param, METH_VARARGS | METH_KEYWORDS,
     "add_param(group, param, grad=None, format=None) -> int\n\nRegisters a buffer (and its gradient, in the same "
     "format) into a group: float32 or float16 elements, or with format=\"bfloat16\" bfloat16 bit patterns "
     "(int16 or uint16)."},
    {"set_grad", (PyCFunction)Optimizer_set_grad, METH_VARARGS,
     "set_grad(index, grad) -> None\n\nRe-points (or with None removes) the gradient of a parameter."},
    {"move_param", (PyCFunction)Optimizer_move_param, METH_VARARGS,
     "move_param(index, param) -> None\n\nFollows a parameter to new memory of the same size (a writable float32 "
     "buffer); its state carries over."},
    {"set_sparse_grad", (PyCFunction)Optimizer_set_sparse_grad, METH_VARARGS,
     "set_sparse_grad(index, indices, values, row_size) -> None\n\nGives a parameter a row-sparse gradient "
     "(int64 row indices, float32 values row after row; copied), used where a step has no dense one."},
    {"step", (PyCFunction)(void (*)(void))Optimizer_step, METH_VARARGS | METH_KEYWORDS,
     "step(grads=None, *, grad_scale=1.0, found_inf=False, nonfinite='propagate', max_norm=None,\n"
     "     norm_type=2.0, error_if_nonfinite=False, clip_value=None, zero_grad=False) -> dict\n\n"
     "One step (the whole phase: unscale, inf/NaN check, clip, step, zero); grads, if given, has\n"
     "one buffer or None per parameter. Returns the step report as a dict."},
    {"step_tensors", (PyCFunction)(void (*)(void))Optimizer_step_tensors, METH_VARARGS | METH_KEYWORDS,
     "step_tensors(params, sparse=None, grads=None, **options) -> dict\n\n"
     "step() with each parameter's gradient read from `params[i].grad`, or `grads[i]` when given (torch tensors in registration\n"
     "order; a None .grad, or None in place of the parameter, is not stepped): descent.torch's step. Same options and report as step(). `sparse`\n"
     "(bytes, one per parameter) marks the sparse .grads already given with set_sparse_grad; another\n"
     "sparse .grad raises _SparseGradientFound before anything changes."},
    {"zero_grad", (PyCFunction)Optimizer_zero_grad, METH_NOARGS, "zero_grad() -> None\n\nFills registered gradients with zeros."},
    {"step_closure", (PyCFunction)Optimizer_step_closure, METH_O,
     "step_closure(closure) -> object\n\ntorch's step(closure): closure() recomputes the loss, fills the registered "
     "gradients (it may call zero_grad and set_grad) and returns the loss; LBFGS calls it as often as it needs, the "
     "others once before stepping. Returns what the first call returned; an exception from the closure is raised "
     "as it is, with the step rolled back (see descent_step_closure). The GIL is released while the engine runs."},
    {"get_group", (PyCFunction)Optimizer_get_group, METH_O, "get_group(group) -> dict\n\nAll hyperparameters of a group."},
    {"set_group", (PyCFunction)Optimizer_set_group, METH_VARARGS,
     "set_group(group, changes: dict) -> None\n\nChanges hyperparameters of a group atomically (validated first)."},
    {"step_count", (PyCFunction)Optimizer_step_count, METH_O, "step_count(index) -> int"},
    {"param_shape", (PyCFunction)Optimizer_param_shape, METH_O,
     "param_shape(index) -> tuple\n\nThe shape parameter `index` was registered with (its buffer's)."},
    {"set_step_count", (PyCFunction)Optimizer_set_step_count, METH_VARARGS, "set_step_count(index, steps) -> None"},
    {"hold_grad_view", (PyCFunction)Optimizer_hold_grad_view, METH_VARARGS,
     "hold_grad_view(index, tensor) -> None\n\n"
     "Holds `tensor` (a contiguous CPU float32 tensor of the parameter's size, or None to let go) as the\n"
     "gradient view of parameter `index`: step_tensors then takes a .grad that is this tensor, at the\n"
     "address it has now, without checking it again."},
    {"step_counts_into", (PyCFunction)Optimizer_step_counts_into, METH_O,
     "step_counts_into(out) -> None\n\nWrites every parameter's step count into a float32 buffer of param_count elements."},
    {"state_shape", (PyCFunction)Optimizer_state_shape, METH_VARARGS,
     "state_shape(index, name) -> tuple\n\ntorch's shape of a state buffer (row_var: the parameter's, last dimension 1)."},
    {"state", (PyCFunction)(void (*)(void))Optimizer_state, METH_VARARGS | METH_KEYWORDS,
     "state(index, name, create=False) -> buffer or None\n\nA writable view of a state buffer (torch's key) in its "
     "format (state_format): float32 values, bfloat16 bit patterns (uint16), or 8-bit codes (uint8)."},
    {"state_absmax", (PyCFunction)Optimizer_state_absmax, METH_VARARGS,
     "state_absmax(index, name) -> buffer or None\n\nA writable float32 view of an 8-bit state's absmax values "
     "(one per 256 elements); None for state in another format or not made yet."},
    {"state_format", (PyCFunction)Optimizer_state_format, METH_VARARGS,
     "state_format(index, name) -> str\n\nThe format a state buffer is kept in (or will be): \"float32\", "
     "\"bfloat16\" or \"int8\"."},
    {"state_code_map", (PyCFunction)Optimizer_state_code_map, METH_VARARGS,
     "state_code_map(index, name) -> tuple\n\nThe 256 values an 8-bit state's codes stand for (times its block's "
     "absmax): bitsandbytes' signed or unsigned dynamic map."},
    {"write_state", (PyCFunction)Optimizer_write_state, METH_VARARGS,
     "write_state(index, name, values) -> None\n\nSets a state buffer from float32 values (a buffer), encoded in "
     "its format (made first if need be)."},
    {"checkpoint", (PyCFunction)Optimizer_checkpoint, METH_NOARGS,
     "checkpoint() -> bytes\n\nThe optimizer's complete state (groups, state, step counts, schedules) as a checkpoint."},
    {"load_checkpoint", (PyCFunction)Optimizer_load_checkpoint, METH_O,
     "load_checkpoint(data) -> None\n\nRestores a checkpoint (any bytes-like object); all-or-nothing."},
    {"save_checkpoint_file", (PyCFunction)Optimizer_save_checkpoint_file, METH_O,
     "save_checkpoint_file(path) -> None\n\nWrites a checkpoint file atomically (temporary file, fsync, rename)."},
    {"lbfgs_state", (PyCFunction)Optimizer_lbfgs_state, METH_NOARGS,
     "lbfgs_state() -> dict\n\nLBFGS's state: flags (LBFGS_HAS_*), func_evals, n_iter, numel, t, h_diag, prev_loss, "
     "ro, al (None for torch's None) and vectors (bytes of float32: d and prev_flat_grad where present, then "
     "old_dirs[i], old_stps[i], oldest first)."},
    {"set_lbfgs_state", (PyCFunction)Optimizer_set_lbfgs_state, METH_O,
     "set_lbfgs_state(state: dict) -> None\n\nReplaces LBFGS's state with one shaped as lbfgs_state() gives it "
     "(vectors as float32 buffers); all or nothing."},
    {"load_checkpoint_file", (PyCFunction)Optimizer_load_checkpoint_file, METH_O,
     "load_checkpoint_file(path) -> None\n\nRestores a checkpoint file; all-or-nothing."},
    {"close", (PyCFunction)Optimizer_close, METH_NOARGS, "close() -> None\n\nFrees the engine's state and releases all buffers."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Optimizer_getset[] = {
    {"param_count", (getter)Optimizer_get_param_count, NULL, "number of registered parameters", NULL},
    {"group_count", (getter)Optimizer_get_group_count, NULL, "number of groups", NULL},
    {"algorithm", (getter)Optimizer_get_algorithm, NULL, "torch's name of the algorithm", NULL},
    {"closed", (getter)Optimizer_get_closed, NULL, "whether close() was called", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Optimizer_slots[] = {
    {Py_tp_doc, "Optimizer(algorithm, defaults=None)\n\nThe engine's optimizer over float32 buffers."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Optimizer_init},
    {Py_tp_dealloc, Optimizer_dealloc},
    {Py_tp_traverse, Optimizer_traverse},
    {Py_tp_methods, Optimizer_methods},
    {Py_tp_getset, Optimizer_getset},
    {0, NULL},
};

static PyType_Spec Optimizer_spec = {
    "descent._descent.Optimizer", sizeof(OptimizerObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC, Optimizer_slots,
};

static PyType_Slot State_slots[] = {
    {Py_tp_doc, "A view of one optimizer state buffer in its stored format (buffer protocol)."},
    {Py_tp_dealloc, State_dealloc},
    {Py_bf_getbuffer, State_getbuffer},
    {Py_bf_releasebuffer, State_releasebuffer},
    {0, NULL},
};

static PyType_Spec State_spec = {
    "descent._descent.State", sizeof(StateObject), 0, Py_TPFLAGS_DEFAULT, State_slots,
};

/* ------------------------------------------------------------------ module */

static PyObject *module_version(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored)) {
    return PyUnicode_FromString(descent_version_string());
}

/* Execution settings (header section "execution"): process-wide, like torch's. */

static PyObject *module_set_num_threads(PyObject *Py_UNUSED(m), PyObject *arg) {
    int overflow = 0;
    long count = PyLong_AsLongAndOverflow(arg, &overflow);
    if (count == -1 && PyErr_Occurred()) return NULL;
    if (overflow || count < INT_MIN || count > INT_MAX) {
        /* Too large for the C call: the engine's message, with the number given. */
        return PyErr_Format(DescentValueError, "thread count must be in 0...1024 (0 = the default), got %S", arg);
    }
    descent_status status = descent_set_num_threads((int)count);
    if (status != DESCENT_OK) return raise_status(status, NULL);
    Py_RETURN_NONE;
}

static PyObject *module_get_num_threads(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored)) {
    return PyLong_FromLong(descent_get_num_threads());
}

static int isa_from_name(PyObject *name, descent_isa *out) {
    const char *text = PyUnicode_AsUTF8(name);
    if (!text) return -1;
    for (int id = DESCENT_ISA_PORTABLE; id <= DESCENT_ISA_AVX512; id++) {
        if (!strcmp(descent_isa_name((descent_isa)id), text)) {
            *out = (descent_isa)id;
            return 0;
        }
    }
    PyErr_Format(DescentValueError, "unknown instruction set '%s' (known: portable, avx2, avx512)", text);
    return -1;
}

static PyObject *module_set_isa(PyObject *Py_UNUSED(m), PyObject *arg) {
    descent_isa isa;
    if (isa_from_name(arg, &isa) < 0) return NULL;
    descent_status status = descent_set_isa(isa);
    if (status != DESCENT_OK) return raise_status(status, NULL);
    Py_RETURN_NONE;
}

static PyObject *module_get_isa(PyObject *Py_UNUSED(m), PyObject *Py_UNUSED(ignored)) {
    return PyUnicode_FromString(descent_isa_name(descent_get_isa()));
}

static PyObject *module_isa_supported(PyObject *Py_UNUSED(m), PyObject *arg) {
    descent_isa isa;
    if (isa_from_name(arg, &isa) < 0) return NULL;
    return PyBool_FromLong(descent_isa_supported(isa));
}

static PyMethodDef module_methods[] = {
    {"version", module_version, METH_NOARGS, "version() -> str\n\nThe loaded libdescent's version."},
    {"set_num_threads", module_set_num_threads, METH_O,
     "set_num_threads(n) -> None\n\nThreads a step may use, process-wide; 0 restores the default."},
    {"get_num_threads", module_get_num_threads, METH_NOARGS, "get_num_threads() -> int"},
    {"set_isa", module_set_isa, METH_O,
     "set_isa(name) -> None\n\nRuns later steps with 'portable', 'avx2' or 'avx512' kernels."},
    {"get_isa", module_get_isa, METH_NOARGS, "get_isa() -> str\n\nThe instruction set whose kernels run."},
    {"isa_supported", module_isa_supported, METH_O, "isa_supported(name) -> bool"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module_def = {
    PyModuleDef_HEAD_INIT, "descent._descent",
    "The CPython extension over libdescent's C ABI (include/descent.h).", -1, module_methods,
    NULL, NULL, NULL, NULL,
};

static PyObject *new_error(PyObject *module, const char *name, PyObject *bases, const char *doc) {
    char qualified[64];
    snprintf(qualified, sizeof qualified, "descent.%s", name);
    PyObject *type = PyErr_NewExceptionWithDoc(qualified, doc, bases, NULL);
    if (type && PyModule_AddObjectRef(module, name, type) < 0) Py_CLEAR(type);
    return type;
}

PyMODINIT_FUNC PyInit__descent(void) {
    if (descent_version_number() != DESCENT_VERSION_NUMBER) {
        return PyErr_Format(PyExc_ImportError,
                            "descent: the extension was built for libdescent %d but loaded %u (%s)",
                            DESCENT_VERSION_NUMBER, descent_version_number(), descent_version_string());
    }
    PyObject *m = PyModule_Create(&module_def);
    if (!m) return NULL;
    DescentError = new_error(m, "DescentError", NULL, "Base class of every error Descent raises.");
    if (!DescentError) goto fail;
    PyObject *bases;
    bases = PyTuple_Pack(2, DescentError, PyExc_ValueError);
    DescentValueError = bases ? new_error(m, "DescentValueError", bases, "An invalid value.") : NULL;
    Py_XDECREF(bases);
    bases = PyTuple_Pack(2, DescentError, PyExc_TypeError);
    DescentTypeError = bases ? new_error(m, "DescentTypeError", bases, "An argument of the wrong type.") : NULL;
    Py_XDECREF(bases);
    bases = PyTuple_Pack(2, DescentError, PyExc_IndexError);
    DescentIndexError = bases ? new_error(m, "DescentIndexError", bases, "A group or parameter index out of range.") : NULL;
    Py_XDECREF(bases);
    bases = PyTuple_Pack(2, DescentError, PyExc_MemoryError);
    DescentMemoryError = bases ? new_error(m, "DescentMemoryError", bases, "Optimizer state could not be allocated.") : NULL;
    Py_XDECREF(bases);
    bases = PyTuple_Pack(2, DescentError, PyExc_RuntimeError);
    DescentNonfiniteError = bases ? new_error(m, "DescentNonfiniteError", bases,
                                              "A gradient or gradient norm is inf or NaN where an error was asked for.") : NULL;
    Py_XDECREF(bases);
    bases = PyTuple_Pack(2, DescentError, PyExc_ValueError);
    DescentCheckpointError = bases ? new_error(m, "DescentCheckpointError", bases,
                                               "A corrupt checkpoint, or one of a different optimizer (status says which).") : NULL;
    Py_XDECREF(bases);
    bases = PyTuple_Pack(2, DescentError, PyExc_OSError);
    DescentOSError = bases ? new_error(m, "DescentOSError", bases, "A checkpoint file could not be written or read.") : NULL;
    Py_XDECREF(bases);
    bases = PyTuple_Pack(2, DescentError, PyExc_NotImplementedError);
    DescentUnsupportedError = bases ? new_error(m, "DescentUnsupportedError", bases,
                                                "What the algorithm does not take (torch raises RuntimeError: "
                                                "a sparse gradient, for one).") : NULL;
    Py_XDECREF(bases);
    /* Private: step_tensors met a sparse .grad it was not told about (descent.torch sets
     * the engine's sparse gradients, then steps again). */
    SparseGradientFound = new_error(m, "_SparseGradientFound", NULL, "A sparse gradient to set first.");
    if (!DescentValueError || !DescentTypeError || !DescentIndexError || !DescentMemoryError || !DescentNonfiniteError ||
        !DescentCheckpointError || !DescentOSError || !DescentUnsupportedError || !SparseGradientFound)
        goto fail;
    PyObject *type = PyType_FromSpec(&Optimizer_spec);
    if (!type || PyModule_AddObject(m, "Optimizer", type) < 0) {
        Py_XDECREF(type);
        goto fail;
    }
    StateType = (PyTypeObject *)PyType_FromSpec(&State_spec);
    if (!StateType || PyModule_AddObjectRef(m, "State", (PyObject *)StateType) < 0) goto fail;
    OptimizerType = (PyTypeObject *)type;
    if (add_schedule_type(m) < 0) goto fail;
    if (PyModule_AddFunctions(m, gradient_functions) < 0) goto fail;
    if (add_algorithm_constants(m) < 0) goto fail;
    if (PyModule_AddIntConstant(m, "HEADER_VERSION", DESCENT_VERSION_NUMBER) < 0 ||
        PyModule_AddIntConstant(m, "INT8_BLOCK_SIZE", DESCENT_INT8_BLOCK_SIZE) < 0)
        goto fail;
    if (PyModule_AddIntConstant(m, "LBFGS_HAS_D", DESCENT_LBFGS_HAS_D) < 0 ||
        PyModule_AddIntConstant(m, "LBFGS_HAS_PREV_FLAT_GRAD", DESCENT_LBFGS_HAS_PREV_FLAT_GRAD) < 0 ||
        PyModule_AddIntConstant(m, "LBFGS_HAS_T", DESCENT_LBFGS_HAS_T) < 0 ||
        PyModule_AddIntConstant(m, "LBFGS_T_IS_TENSOR", DESCENT_LBFGS_T_IS_TENSOR) < 0 ||
        PyModule_AddIntConstant(m, "LBFGS_HAS_H_DIAG", DESCENT_LBFGS_HAS_H_DIAG) < 0 ||
        PyModule_AddIntConstant(m, "LBFGS_H_DIAG_IS_TENSOR", DESCENT_LBFGS_H_DIAG_IS_TENSOR) < 0 ||
        PyModule_AddIntConstant(m, "LBFGS_HAS_PREV_LOSS", DESCENT_LBFGS_HAS_PREV_LOSS) < 0 ||
        PyModule_AddIntConstant(m, "LBFGS_HAS_AL", DESCENT_LBFGS_HAS_AL) < 0)
        goto fail;
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
