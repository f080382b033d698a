/*
 * What descent.torch's step needs in C: Optimizer.step_tensors, which reads every
 * parameter's `.grad` itself, and Optimizer.step_counts_into, which copies all step
 * counts into the buffer behind the drop-ins' `state["step"]` tensors.
 *
 * Doing both per tensor in Python cost ~10 µs per parameter per step (`.grad`,
 * `.detach().numpy()`, the checks, a `fill_` per step tensor): a 51 ms step of which the
 * engine took 11, for 16M parameters in 4,096 tensors. Here it is under 1 µs per tensor,
 * most of it torch's own attribute calls (40-70 ns each). torch tensors are used through
 * their Python attributes (dtype, layout, is_cpu, is_contiguous(), is_neg(), numel(),
 * data_ptr()), so the extension does not link libtorch. A `.grad` that is the view
 * descent.torch put there (grad_arena=True) costs two of those calls instead of seven:
 * it is known by identity and address (hold_grad_view).
 */
#include "extension.h"

/* torch's objects, looked up once (torch is imported: tensors were passed in). */
static PyObject *torch_float32, *torch_bfloat16, *torch_float16, *torch_int16, *torch_strided, *torch_sparse_coo;
/* Attribute names, interned once. */
static PyObject *name_grad, *name_dtype, *name_layout, *name_is_cpu, *name_is_contiguous, *name_is_neg,
    *name_numel, *name_data_ptr;

static int intern(PyObject **slot, const char *text) {
    if (!*slot) *slot = PyUnicode_InternFromString(text);
    return *slot ? 0 : -1;
}

static int load_torch(void) {
    if (torch_strided) return 0;
    if (intern(&name_grad, "grad") < 0 || intern(&name_dtype, "dtype") < 0 || intern(&name_layout, "layout") < 0 ||
        intern(&name_is_cpu, "is_cpu") < 0 || intern(&name_is_contiguous, "is_contiguous") < 0 ||
        intern(&name_is_neg, "is_neg") < 0 || intern(&name_numel, "numel") < 0 ||
        intern(&name_data_ptr, "data_ptr") < 0)
        return -1;
    PyObject *torch = PyImport_ImportModule("torch");
    if (!torch) return -1;
    torch_float32 = PyObject_GetAttrString(torch, "float32");
    torch_bfloat16 = torch_float32 ? PyObject_GetAttrString(torch, "bfloat16") : NULL;
    torch_float16 = torch_bfloat16 ? PyObject_GetAttrString(torch, "float16") : NULL;
    torch_int16 = torch_float16 ? PyObject_GetAttrString(torch, "int16") : NULL;
    torch_sparse_coo = torch_int16 ? PyObject_GetAttrString(torch, "sparse_coo") : NULL;
    PyObject *strided = torch_sparse_coo ? PyObject_GetAttrString(torch, "strided") : NULL;
    Py_DECREF(torch);
    if (!strided) {
        Py_CLEAR(torch_float32);
        Py_CLEAR(torch_bfloat16);
        Py_CLEAR(torch_float16);
        Py_CLEAR(torch_int16);
        Py_CLEAR(torch_sparse_coo);
        return -1;
    }
    torch_strided = strided;
    return 0;
}

/* 1 when attribute `name` of `obj` is `expected` (identity), 0 when not, -1 on error. */
static int attribute_is(PyObject *obj, PyObject *name, PyObject *expected) {
    PyObject *value = PyObject_GetAttr(obj, name);
    if (!value) return -1;
    int same = value == expected;
    Py_DECREF(value);
    return same;
}

/* The truth of method `name` of `obj` called without arguments; -1 on error. */
static int call_is_true(PyObject *obj, PyObject *name) {
    PyObject *value = PyObject_CallMethodNoArgs(obj, name);
    if (!value) return -1;
    int truth = PyObject_IsTrue(value);
    Py_DECREF(value);
    return truth;
}

/* The integer method `name` of `obj` returns; -1 with an exception on error. */
static Py_ssize_t call_size(PyObject *obj, PyObject *name) {
    PyObject *value = PyObject_CallMethodNoArgs(obj, name);
    if (!value) return -1;
    Py_ssize_t size = PyLong_AsSsize_t(value);
    Py_DECREF(value);
    return size;
}

/* The address `tensor.data_ptr()` gives; NULL with an exception on error. */
static void *data_pointer(PyObject *tensor) {
    PyObject *value = PyObject_CallMethodNoArgs(tensor, name_data_ptr);
    if (!value) return NULL;
    void *pointer = PyLong_AsVoidPtr(value);
    Py_DECREF(value);
    if (!pointer && !PyErr_Occurred()) PyErr_SetString(DescentValueError, "a tensor has no memory");
    return pointer;
}

/* torch's dtype of a parameter format. */
static PyObject *torch_dtype(descent_param_format format) {
    return format == DESCENT_PARAM_BFLOAT16 ? torch_bfloat16 : format == DESCENT_PARAM_FLOAT16 ? torch_float16
                                                                                                 : torch_float32;
}

/* engine_tensor() for a tensor already known to be strided. */
static int strided_engine_tensor(PyObject *t, descent_param_format format) {
    int ok = attribute_is(t, name_dtype, torch_dtype(format));
    if (ok == 1) ok = attribute_is(t, name_is_cpu, Py_True);
    if (ok == 1) ok = call_is_true(t, name_is_contiguous);
    if (ok == 1) {
        int negated = call_is_true(t, name_is_neg); /* a lazily negated view: its memory is -t */
        ok = negated < 0 ? -1 : !negated;
    }
    return ok;
}

/* 1 when `t` is a tensor the engine steps in place (contiguous CPU, of `format`'s dtype,
 * not a lazily negated view), 0 when not, -1 on error. */
static int engine_tensor(PyObject *t, descent_param_format format) {
    int ok = attribute_is(t, name_layout, torch_strided);
    return ok == 1 ? strided_engine_tensor(t, format) : ok;
}

/* The memory of the gradient of parameter `index` of `self`, a tensor of layout `layout`
 * (read already): a contiguous CPU tensor of the parameter's dtype and element count. A
 * tensor of another kind is DescentTypeError (descent.torch then says which kind), a size
 * mismatch DescentValueError. */
static int gradient_memory(OptimizerObject *self, PyObject *grad, PyObject *layout, Py_ssize_t index, float **out) {
    descent_param_format format = param_format(self, index);
    int ok = layout == torch_strided ? strided_engine_tensor(grad, format) : 0;
    if (ok < 0) return -1;
    if (!ok) {
        PyErr_Format(DescentTypeError, "the gradient of parameter %zd is not a contiguous CPU %s tensor", index,
                     param_format_name(format));
        return -1;
    }
    Py_ssize_t size = call_size(grad, name_numel), numel = param_numel(self, index);
    if (size < 0) return -1;
    if (size != numel) {
        PyErr_Format(DescentValueError, "the gradient of parameter %zd has %zd elements, its parameter has %zd",
                     index, size, numel);
        return -1;
    }
    *out = data_pointer(grad); /* parameters have elements: the engine refuses empty ones */
    return *out ? 0 : -1;
}

/* Follows a parameter whose memory is no longer the buffer registered for it: a framework
 * re-pointed it after the optimizer was made (ZeroRedundancyOptimizer's bucket views,
 * FSDP2's swaps). Memory of the same size and kind is taken (descent_param_move: the
 * state carries over) and held in place of the old; anything else (module.half(), a
 * resize) is refused, naming the parameter. */
static int follow_param_memory(OptimizerObject *self, PyObject *param, Py_ssize_t index) {
    void *now = data_pointer(param);
    if (!now) return -1;
    Py_buffer *registered = &self->params[index];
    if (now == registered->buf) return 0;
    descent_param_format format = param_format(self, index);
    int ok = engine_tensor(param, format);
    if (ok < 0) return -1;
    if (!ok) {
        PyErr_Format(DescentTypeError,
                     "parameter %zd now lives in a tensor that is not a contiguous CPU %s one (was the "
                     "model converted after the optimizer was made?)", index, param_format_name(format));
        return -1;
    }
    Py_ssize_t size = call_size(param, name_numel);
    if (size < 0) return -1;
    if (size != param_numel(self, index)) {
        PyErr_Format(DescentValueError, "parameter %zd now has %zd elements, it was registered with %zd", index, size,
                     param_numel(self, index));
        return -1;
    }
    /* numpy has no bfloat16: its bit patterns are seen as int16, as registered. */
    PyObject *detached = PyObject_CallMethod(param, "detach", NULL);
    PyObject *viewed = detached && format == DESCENT_PARAM_BFLOAT16
                           ? PyObject_CallMethod(detached, "view", "O", torch_int16) : Py_XNewRef(detached);
    PyObject *array = viewed ? PyObject_CallMethod(viewed, "numpy", NULL) : NULL;
    Py_XDECREF(detached);
    Py_XDECREF(viewed);
    if (!array) return -1;
    int moved = move_param(self, index, array);
    Py_DECREF(array);
    return moved;
}

PyObject *Optimizer_step_tensors(OptimizerObject *self, PyObject *args, PyObject *kwargs) {
    PyObject *params, *given_grads = Py_None;
    const char *sparse_set = NULL; /* a byte per parameter: 1 where the engine holds its sparse .grad */
    Py_ssize_t sparse_len = 0;
    descent_step_options options;
    if (!PyArg_ParseTuple(args, "O|z#O:step_tensors", &params, &sparse_set, &sparse_len, &given_grads) ||
        parse_step_options(kwargs, &options) < 0)
        return NULL;
    USABLE(self);
    if (load_torch() < 0) return NULL;
    PyObject *seq = PySequence_Fast(params, "params must be a sequence of tensors");
    if (!seq) return NULL;
    /* The gradients when given apart (FSDP2's local shards have no .grad of their own). */
    PyObject *grad_seq =
        given_grads == Py_None ? NULL : PySequence_Fast(given_grads, "grads must be a sequence");
    if (given_grads != Py_None && !grad_seq) {
        Py_DECREF(seq);
        return NULL;
    }
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    if (n != self->count || (grad_seq && PySequence_Fast_GET_SIZE(grad_seq) != n)) {
        Py_DECREF(seq);
        Py_XDECREF(grad_seq);
        return PyErr_Format(DescentValueError, "expected %zd parameters and gradients (as registered), got %zd",
                            self->count, grad_seq && n == self->count ? PySequence_Fast_GET_SIZE(grad_seq) : n);
    }
    /* The gradients stay referenced until the step returns: another thread may drop
     * them while the step runs without the GIL. */
    PyObject **grads = PyMem_Calloc((size_t)(n ? n : 1), sizeof(PyObject *));
    float **pointers = PyMem_Calloc((size_t)(n ? n : 1), sizeof(float *));
    PyObject *result = NULL;
    if (!grads || !pointers) {
        PyErr_NoMemory();
        goto done;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *param = PySequence_Fast_GET_ITEM(seq, i);
        if (param == Py_None) continue; /* not stepped this time (its group is not in param_groups now) */
        if (follow_param_memory(self, param, i) < 0) goto done;
        PyObject *grad =
            grad_seq ? Py_NewRef(PySequence_Fast_GET_ITEM(grad_seq, i)) : PyObject_GetAttr(param, name_grad);
        if (!grad) goto done;
        if (grad == Py_None) {
            Py_DECREF(grad);
            continue;
        }
        grads[i] = grad;
        if (grad == self->grad_views[i]) {
            float *memory = data_pointer(grad);
            if (!memory) goto done;
            if (memory == self->grad_view_memory[i]) {
                pointers[i] = memory;
                continue;
            }
        }
        PyObject *layout = PyObject_GetAttr(grad, name_layout);
        if (!layout) goto done;
        Py_DECREF(layout); /* torch's layouts are singletons: only their identity is used */
        if (layout == torch_sparse_coo) {
            /* NULL: the engine uses the parameter's sparse gradient, set by descent.torch. */
            if (i < sparse_len && sparse_set[i]) continue;
            PyErr_Format(SparseGradientFound, "parameter %zd has a sparse gradient", i);
            goto done;
        }
        if (gradient_memory(self, grad, layout, i, &pointers[i]) < 0) goto done;
    }
    descent_status status;
    descent_step_report report;
    WITHOUT_GIL(self, status, descent_step_phase(self->opt, &options, pointers, (size_t)n, &report));
    if (status != DESCENT_OK) raise_status(status, self->opt);
    else result = step_report_to_dict(&report);
done:
    for (Py_ssize_t i = 0; grads && i < n; i++) Py_XDECREF(grads[i]);
    PyMem_Free(grads);
    PyMem_Free(pointers);
    Py_DECREF(seq);
    Py_XDECREF(grad_seq);
    return result;
}

PyObject *Optimizer_hold_grad_view(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index;
    PyObject *view;
    if (!PyArg_ParseTuple(args, "nO:hold_grad_view", &index, &view)) return NULL;
    USABLE(self);
    if (check_index(self, index) < 0 || load_torch() < 0) return NULL;
    float *memory = NULL;
    if (view != Py_None) {
        PyObject *layout = PyObject_GetAttr(view, name_layout);
        if (!layout) return NULL;
        Py_DECREF(layout); /* torch's layouts are singletons: only their identity is used */
        if (gradient_memory(self, view, layout, index, &memory) < 0) return NULL;
        Py_INCREF(view);
    }
    Py_XSETREF(self->grad_views[index], view == Py_None ? NULL : view);
    self->grad_view_memory[index] = memory;
    Py_RETURN_NONE;
}

PyObject *Optimizer_step_counts_into(OptimizerObject *self, PyObject *out) {
    USABLE(self);
    Py_buffer view;
    if (get_float_buffer(out, "out", &view) < 0) return NULL;
    if (view.len / 4 != self->count) {
        PyErr_Format(DescentValueError, "out has %zd elements, the optimizer has %zd parameters", view.len / 4,
                     self->count);
        PyBuffer_Release(&view);
        return NULL;
    }
    int64_t *steps = PyMem_Malloc((size_t)(self->count ? self->count : 1) * sizeof *steps);
    if (!steps) {
        PyBuffer_Release(&view);
        return PyErr_NoMemory();
    }
    descent_status status = descent_param_step_counts(self->opt, 0, (size_t)self->count, steps);
    float *counts = view.buf;
    for (Py_ssize_t i = 0; status == DESCENT_OK && i < self->count; i++)
        counts[i] = (float)steps[i]; /* torch keeps step counts as float32 tensors */
    PyMem_Free(steps);
    PyBuffer_Release(&view);
    if (status != DESCENT_OK) return raise_status(status, self->opt);
    Py_RETURN_NONE;
}
