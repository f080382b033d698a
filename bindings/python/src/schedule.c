/*
 * descent._descent.Schedule: one type over every descent_schedule kind.
 *
 * Schedule(optimizer, kind, *args) calls the kind's creation function with positional
 * arguments in the C header's order (descent.lr_scheduler builds them from torch's
 * keywords). A schedule keeps its optimizer, its children (composites) and its
 * lr_lambda callables alive. Schedule calls hold the GIL: they are short, and an
 * lr_lambda is Python code.
 */
#include "extension.h"

typedef struct {
    PyObject_HEAD
    descent_schedule *schedule;
    OptimizerObject *optimizer;
    PyObject *children;  /* tuple of Schedule (composites), or NULL */
    PyObject *lambdas;   /* tuple of callables (LambdaLR, MultiplicativeLR), or NULL */
} ScheduleObject;

static PyTypeObject *ScheduleType;

/* A DescentValueError (INVALID_HYPERPARAMETER) for a check the engine cannot make. */
static int invalid(const char *format, ...) {
    va_list args;
    va_start(args, format);
    PyObject *message = PyUnicode_FromFormatV(format, args);
    va_end(args);
    if (message) {
        raise_message(DESCENT_ERROR_INVALID_HYPERPARAMETER, PyUnicode_AsUTF8(message));
        Py_DECREF(message);
    }
    return -1;
}

/* ------------------------------------------------------------ arguments */

/* A float or a sequence of floats (one per group) into a scalar and an optional
 * per-group array, as the C options structs take them. The array is PyMem-allocated
 * (freed by the caller) and checked against the group count, which the engine cannot
 * see. */
static int per_group(PyObject *value, const char *name, size_t groups, double *scalar, double **array) {
    *array = NULL;
    if (!PySequence_Check(value)) {
        *scalar = PyFloat_AsDouble(value);
        return PyErr_Occurred() ? -1 : 0;
    }
    Py_ssize_t n = PySequence_Size(value);
    if (n < 0) return -1;
    if ((size_t)n != groups) {
        invalid("%s must have the same length as optimizer.param_groups. %s has %zd values, param_groups has %zu.",
                name, name, n, groups);
        return -1;
    }
    *array = PyMem_Malloc(sizeof(double) * (size_t)(n ? n : 1));
    if (!*array) return PyErr_NoMemory(), -1;
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PySequence_GetItem(value, i);
        (*array)[i] = item ? PyFloat_AsDouble(item) : -1.0;
        Py_XDECREF(item);
        if (PyErr_Occurred()) {
            PyMem_Free(*array);
            *array = NULL;
            return -1;
        }
    }
    *scalar = (*array)[0];
    return 0;
}

/* A sequence of ints into a PyMem array of int64. */
static int int64_list(PyObject *value, int64_t **out, size_t *count) {
    PyObject *seq = PySequence_Fast(value, "milestones must be a sequence of ints");
    if (!seq) return -1;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    *out = PyMem_Malloc(sizeof(int64_t) * (size_t)(n ? n : 1));
    if (!*out) {
        Py_DECREF(seq);
        return PyErr_NoMemory(), -1;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        (*out)[i] = PyLong_AsLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (PyErr_Occurred()) {
            Py_DECREF(seq);
            PyMem_Free(*out);
            return -1;
        }
    }
    Py_DECREF(seq);
    *count = (size_t)n;
    return 0;
}

/* Calls the Python lr_lambda for `group` (one callable for all groups, or one each). */
static int call_lambda(void *user_data, size_t group, int64_t epoch, double *factor) {
    ScheduleObject *self = user_data;
    PyGILState_STATE gil = PyGILState_Ensure();
    Py_ssize_t n = PyTuple_GET_SIZE(self->lambdas);
    PyObject *function = PyTuple_GET_ITEM(self->lambdas, n == 1 ? 0 : (Py_ssize_t)group);
    PyObject *result = PyObject_CallFunction(function, "L", (long long)epoch);
    int failed = 1;
    if (result) {
        *factor = PyFloat_AsDouble(result);
        failed = PyErr_Occurred() != NULL;
        Py_DECREF(result);
    }
    PyGILState_Release(gil);
    return failed;
}

/* Child schedules into a C array of handles; keeps the tuple of objects. */
static descent_schedule **children_handles(ScheduleObject *self, PyObject *list, size_t *count) {
    PyObject *tuple = PySequence_Tuple(list);
    if (!tuple) return NULL;
    Py_ssize_t n = PyTuple_GET_SIZE(tuple);
    descent_schedule **handles = PyMem_Malloc(sizeof(descent_schedule *) * (size_t)(n ? n : 1));
    if (!handles) {
        Py_DECREF(tuple);
        return (descent_schedule **)PyErr_NoMemory();
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *item = PyTuple_GET_ITEM(tuple, i);
        if (!PyObject_TypeCheck(item, ScheduleType)) {
            PyErr_Format(DescentTypeError, "schedulers[%zd] is a %s, not a descent schedule", i, Py_TYPE(item)->tp_name);
            PyMem_Free(handles);
            Py_DECREF(tuple);
            return NULL;
        }
        handles[i] = ((ScheduleObject *)item)->schedule;
    }
    self->children = tuple;
    *count = (size_t)n;
    return handles;
}

/* ------------------------------------------------------------- creation */

/* Creates the schedule of `kind` from `args` (the header's order after opt). Returns
 * the engine's status, or -1 with a Python exception set. */
static int create(ScheduleObject *self, const char *kind, PyObject *args) {
    descent_optimizer *opt = self->optimizer->opt;
    descent_schedule **out = &self->schedule;
    long long a, b;
    double x, y;
    if (!strcmp(kind, "StepLR")) {
        if (!PyArg_ParseTuple(args, "Ld", &a, &x)) return -1;
        return descent_schedule_step_lr(opt, a, x, out);
    }
    if (!strcmp(kind, "ConstantLR")) {
        if (!PyArg_ParseTuple(args, "dL", &x, &a)) return -1;
        return descent_schedule_constant_lr(opt, x, a, out);
    }
    if (!strcmp(kind, "LinearLR")) {
        if (!PyArg_ParseTuple(args, "ddL", &x, &y, &a)) return -1;
        return descent_schedule_linear_lr(opt, x, y, a, out);
    }
    if (!strcmp(kind, "ExponentialLR")) {
        if (!PyArg_ParseTuple(args, "d", &x)) return -1;
        return descent_schedule_exponential_lr(opt, x, out);
    }
    if (!strcmp(kind, "PolynomialLR")) {
        if (!PyArg_ParseTuple(args, "Ld", &a, &x)) return -1;
        return descent_schedule_polynomial_lr(opt, a, x, out);
    }
    if (!strcmp(kind, "CosineAnnealingLR")) {
        if (!PyArg_ParseTuple(args, "Ld", &a, &x)) return -1;
        return descent_schedule_cosine_annealing_lr(opt, a, x, out);
    }
    if (!strcmp(kind, "CosineAnnealingWarmRestarts")) {
        if (!PyArg_ParseTuple(args, "LLd", &a, &b, &x)) return -1;
        return descent_schedule_cosine_annealing_warm_restarts(opt, a, b, x, out);
    }
    if (!strcmp(kind, "WarmupCosineLR")) {
        int start;
        if (!PyArg_ParseTuple(args, "LLdi", &a, &b, &x, &start)) return -1;
        return descent_schedule_warmup_cosine_lr_with(opt, a, b, x, (descent_warmup_start)start, out);
    }
    if (!strcmp(kind, "MultiStepLR")) {
        PyObject *list;
        if (!PyArg_ParseTuple(args, "Od", &list, &x)) return -1;
        int64_t *milestones;
        size_t count;
        if (int64_list(list, &milestones, &count) < 0) return -1;
        int status = descent_schedule_multi_step_lr(opt, milestones, count, x, out);
        PyMem_Free(milestones);
        return status;
    }
    size_t groups;
    if (descent_group_count(opt, &groups) != DESCENT_OK) return DESCENT_ERROR_INVALID_HANDLE;
    if (!strcmp(kind, "LambdaLR") || !strcmp(kind, "MultiplicativeLR")) {
        PyObject *lambdas;
        if (!PyArg_ParseTuple(args, "O!", &PyTuple_Type, &lambdas)) return -1;
        Py_ssize_t n = PyTuple_GET_SIZE(lambdas);
        if (n != 1 && (size_t)n != groups) return invalid("Expected %zu lr_lambdas, but got %zd", groups, n);
        Py_INCREF(lambdas);
        self->lambdas = lambdas;
        /* Creation calls the lambdas (torch's initial step): without the GIL, as a step. */
        descent_status status;
        WITHOUT_GIL(self->optimizer, status,
                    kind[0] == 'L' ? descent_schedule_lambda_lr(opt, call_lambda, self, out)
                                   : descent_schedule_multiplicative_lr(opt, call_lambda, self, out));
        return status;
    }
    if (!strcmp(kind, "SequentialLR") || !strcmp(kind, "ChainedScheduler")) {
        PyObject *list, *milestone_list = NULL;
        if (!PyArg_ParseTuple(args, "O|O", &list, &milestone_list)) return -1;
        size_t count = 0, milestone_count = 0;
        descent_schedule **handles = children_handles(self, list, &count);
        if (!handles) return -1;
        int status;
        if (kind[0] == 'C') {
            status = descent_schedule_chained_scheduler(opt, handles, count, out);
        } else {
            int64_t *milestones;
            if (int64_list(milestone_list ? milestone_list : Py_None, &milestones, &milestone_count) < 0) {
                PyMem_Free(handles);
                return -1;
            }
            if (count > 0 && milestone_count + 1 != count) {
                invalid("Sequential Schedulers expects number of schedulers provided to be one more than the number of milestone points, but got number of schedulers %zu and the number of milestones to be equal to %zu",
                             count, milestone_count);
                status = -1;
            } else {
                status = descent_schedule_sequential_lr(opt, handles, count, milestones, out);
            }
            PyMem_Free(milestones);
        }
        PyMem_Free(handles);
        return status;
    }
    if (!strcmp(kind, "CyclicLR")) {
        descent_cyclic_lr_options o;
        descent_cyclic_lr_defaults(&o);
        PyObject *base, *max, *base_m, *max_m;
        int mode, cycle;
        double *arrays[4] = {NULL, NULL, NULL, NULL};
        if (!PyArg_ParseTuple(args, "OOLLidpOO", &base, &max, &a, &b, &mode, &o.gamma, &cycle, &base_m, &max_m))
            return -1;
        o.step_size_up = a;
        o.step_size_down = b;
        o.mode = (descent_cyclic_mode)mode;
        o.cycle_momentum = cycle;
        int status = -1;
        if (per_group(base, "base_lr", groups, &o.base_lr, &arrays[0]) == 0 &&
            per_group(max, "max_lr", groups, &o.max_lr, &arrays[1]) == 0 &&
            per_group(base_m, "base_momentum", groups, &o.base_momentum, &arrays[2]) == 0 &&
            per_group(max_m, "max_momentum", groups, &o.max_momentum, &arrays[3]) == 0) {
            o.base_lr_per_group = arrays[0];
            o.max_lr_per_group = arrays[1];
            o.base_momentum_per_group = arrays[2];
            o.max_momentum_per_group = arrays[3];
            status = descent_schedule_cyclic_lr(opt, &o, out);
        }
        for (int i = 0; i < 4; i++) PyMem_Free(arrays[i]);
        return status;
    }
    if (!strcmp(kind, "OneCycleLR")) {
        descent_one_cycle_lr_options o;
        descent_one_cycle_lr_defaults(&o);
        PyObject *max, *base_m, *max_m;
        int strategy, cycle, three;
        double *arrays[3] = {NULL, NULL, NULL};
        if (!PyArg_ParseTuple(args, "OLdipOOddp", &max, &a, &o.pct_start, &strategy, &cycle, &base_m, &max_m,
                              &o.div_factor, &o.final_div_factor, &three))
            return -1;
        o.total_steps = a;
        o.anneal_strategy = (descent_anneal_strategy)strategy;
        o.cycle_momentum = cycle;
        o.three_phase = three;
        int status = -1;
        if (per_group(max, "max_lr", groups, &o.max_lr, &arrays[0]) == 0 &&
            per_group(base_m, "base_momentum", groups, &o.base_momentum, &arrays[1]) == 0 &&
            per_group(max_m, "max_momentum", groups, &o.max_momentum, &arrays[2]) == 0) {
            o.max_lr_per_group = arrays[0];
            o.base_momentum_per_group = arrays[1];
            o.max_momentum_per_group = arrays[2];
            status = descent_schedule_one_cycle_lr(opt, &o, out);
        }
        for (int i = 0; i < 3; i++) PyMem_Free(arrays[i]);
        return status;
    }
    if (!strcmp(kind, "ReduceLROnPlateau")) {
        descent_reduce_lr_on_plateau_options o;
        descent_reduce_lr_on_plateau_defaults(&o);
        PyObject *min_lr;
        int mode, threshold_mode;
        double *array = NULL;
        if (!PyArg_ParseTuple(args, "idLdiLOd", &mode, &o.factor, &a, &o.threshold, &threshold_mode, &b, &min_lr, &o.eps))
            return -1;
        o.mode = (descent_plateau_mode)mode;
        o.patience = a;
        o.threshold_mode = (descent_threshold_mode)threshold_mode;
        o.cooldown = b;
        if (PySequence_Check(min_lr) && PySequence_Size(min_lr) != (Py_ssize_t)groups) {
            return invalid("expected %zu min_lrs, got %zd", groups, PySequence_Size(min_lr));
        }
        if (per_group(min_lr, "min_lr", groups, &o.min_lr, &array) < 0) return -1;
        o.min_lr_per_group = array;
        int status = descent_schedule_reduce_lr_on_plateau(opt, &o, out);
        PyMem_Free(array);
        return status;
    }
    PyErr_Format(DescentValueError, "unknown schedule kind '%s'", kind);
    return -1;
}

static int Schedule_init(ScheduleObject *self, PyObject *args, PyObject *kwargs) {
    if (kwargs && PyDict_Size(kwargs)) {
        PyErr_SetString(DescentTypeError, "Schedule() takes positional arguments only");
        return -1;
    }
    if (self->schedule) {
        PyErr_SetString(DescentError, "Schedule.__init__ called twice");
        return -1;
    }
    PyObject *optimizer, *kind;
    if (PyTuple_GET_SIZE(args) < 2 || !PyObject_TypeCheck(PyTuple_GET_ITEM(args, 0), OptimizerType) ||
        !PyUnicode_Check(PyTuple_GET_ITEM(args, 1))) {
        PyErr_SetString(DescentTypeError, "Schedule(optimizer: descent._descent.Optimizer, kind: str, *args)");
        return -1;
    }
    optimizer = PyTuple_GET_ITEM(args, 0);
    kind = PyTuple_GET_ITEM(args, 1);
    if (check_usable((OptimizerObject *)optimizer) < 0) return -1;
    Py_INCREF(optimizer);
    Py_XSETREF(self->optimizer, (OptimizerObject *)optimizer);
    PyObject *rest = PyTuple_GetSlice(args, 2, PyTuple_GET_SIZE(args));
    if (!rest) return -1;
    int status = create(self, PyUnicode_AsUTF8(kind), rest);
    Py_DECREF(rest);
    if (status == DESCENT_OK) return 0;
    if (status == -1 || PyErr_Occurred()) return -1; /* a Python exception (possibly from a lambda) */
    raise_status((descent_status)status, self->optimizer->opt);
    return -1;
}

/* ------------------------------------------------------------ lifetime */

/* Frees the engine's schedule before the children it owns are let go. */
static void free_schedule(ScheduleObject *self) {
    if (self->schedule) {
        descent_schedule_free(self->schedule);
        self->schedule = NULL;
    }
}

static int Schedule_clear(ScheduleObject *self) {
    free_schedule(self);
    Py_CLEAR(self->children);
    Py_CLEAR(self->lambdas);
    Py_CLEAR(self->optimizer);
    return 0;
}

static void Schedule_dealloc(ScheduleObject *self) {
    PyTypeObject *type = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    Schedule_clear(self);
    type->tp_free((PyObject *)self);
    Py_DECREF(type);
}

static int Schedule_traverse(ScheduleObject *self, visitproc visit, void *arg) {
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->optimizer);
    Py_VISIT(self->children);
    Py_VISIT(self->lambdas);
    return 0;
}

/* ------------------------------------------------------------- methods */

static int check_schedule(ScheduleObject *self) {
    if (!self->schedule) {
        PyErr_SetString(DescentError, "the schedule was not created");
        return -1;
    }
    return check_usable(self->optimizer);
}

#define SCHEDULE_CALL(self, expr)                                           \
    do {                                                                    \
        descent_status status_;                                             \
        WITHOUT_GIL((self)->optimizer, status_, (expr)); /* lambdas may run */ \
        if (status_ != DESCENT_OK) {                                        \
            if (PyErr_Occurred()) return NULL; /* raised by an lr_lambda */ \
            return raise_status(status_, (self)->optimizer->opt);           \
        }                                                                   \
    } while (0)

static PyObject *Schedule_step(ScheduleObject *self, PyObject *args) {
    PyObject *metric = Py_None;
    if (!PyArg_ParseTuple(args, "|O:step", &metric)) return NULL;
    if (check_schedule(self) < 0) return NULL;
    if (metric == Py_None) {
        SCHEDULE_CALL(self, descent_schedule_step(self->schedule));
    } else {
        double value = PyFloat_AsDouble(metric);
        if (PyErr_Occurred()) return NULL;
        SCHEDULE_CALL(self, descent_schedule_step_metric(self->schedule, value));
    }
    Py_RETURN_NONE;
}

static PyObject *Schedule_last_lr(ScheduleObject *self, PyObject *Py_UNUSED(ignored)) {
    if (check_schedule(self) < 0) return NULL;
    size_t groups;
    SCHEDULE_CALL(self, descent_group_count(self->optimizer->opt, &groups));
    double *lrs = PyMem_Malloc(sizeof(double) * (groups ? groups : 1));
    if (!lrs) return PyErr_NoMemory();
    descent_status status = descent_schedule_last_lr(self->schedule, lrs, groups);
    PyObject *list = status == DESCENT_OK ? PyList_New((Py_ssize_t)groups) : NULL;
    for (size_t i = 0; list && i < groups; i++) {
        PyObject *value = PyFloat_FromDouble(lrs[i]);
        if (!value) Py_CLEAR(list);
        else PyList_SET_ITEM(list, (Py_ssize_t)i, value);
    }
    PyMem_Free(lrs);
    if (status != DESCENT_OK) return raise_status(status, self->optimizer->opt);
    return list;
}

static PyObject *Schedule_save_state(ScheduleObject *self, PyObject *Py_UNUSED(ignored)) {
    if (check_schedule(self) < 0) return NULL;
    size_t size, written;
    SCHEDULE_CALL(self, descent_schedule_state_size(self->schedule, &size));
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!bytes) return NULL;
    descent_status status = descent_schedule_save_state(self->schedule, PyBytes_AS_STRING(bytes), size, &written);
    if (status != DESCENT_OK) {
        Py_DECREF(bytes);
        return raise_status(status, self->optimizer->opt);
    }
    return bytes;
}

static PyObject *Schedule_load_state(ScheduleObject *self, PyObject *arg) {
    if (check_schedule(self) < 0) return NULL;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    descent_status status = descent_schedule_load_state(self->schedule, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (status != DESCENT_OK) return raise_status(status, self->optimizer->opt);
    Py_RETURN_NONE;
}

static PyObject *Schedule_get_last_epoch(ScheduleObject *self, void *Py_UNUSED(closure)) {
    if (check_schedule(self) < 0) return NULL;
    int64_t epoch;
    SCHEDULE_CALL(self, descent_schedule_last_epoch(self->schedule, &epoch));
    return PyLong_FromLongLong(epoch);
}

static PyObject *Schedule_get_kind(ScheduleObject *self, void *Py_UNUSED(closure)) {
    if (check_schedule(self) < 0) return NULL;
    descent_schedule_kind kind;
    SCHEDULE_CALL(self, descent_schedule_get_kind(self->schedule, &kind));
    return PyUnicode_FromString(descent_schedule_kind_name(kind));
}

static PyMethodDef Schedule_methods[] = {
    {"step", (PyCFunction)Schedule_step, METH_VARARGS,
     "step(metric=None) -> None\n\nAdvances the schedule; ReduceLROnPlateau (alone or in a composite) needs the metric."},
    {"last_lr", (PyCFunction)Schedule_last_lr, METH_NOARGS, "last_lr() -> list[float]\n\nEvery group's lr after the last step."},
    {"save_state", (PyCFunction)Schedule_save_state, METH_NOARGS, "save_state() -> bytes"},
    {"load_state", (PyCFunction)Schedule_load_state, METH_O,
     "load_state(state: bytes) -> None\n\nRestores a saved state and the groups' last lrs (all or nothing)."},
    {NULL, NULL, 0, NULL},
};

static PyGetSetDef Schedule_getset[] = {
    {"last_epoch", (getter)Schedule_get_last_epoch, NULL, "torch's last_epoch", NULL},
    {"kind", (getter)Schedule_get_kind, NULL, "torch's class name of the schedule", NULL},
    {NULL, NULL, NULL, NULL, NULL},
};

static PyType_Slot Schedule_slots[] = {
    {Py_tp_doc, "Schedule(optimizer, kind, *args)\n\nThe engine's learning-rate schedule over an optimizer's groups."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Schedule_init},
    {Py_tp_dealloc, Schedule_dealloc},
    {Py_tp_traverse, Schedule_traverse},
    {Py_tp_clear, Schedule_clear},
    {Py_tp_methods, Schedule_methods},
    {Py_tp_getset, Schedule_getset},
    {0, NULL},
};

static PyType_Spec Schedule_spec = {
    "descent._descent.Schedule", sizeof(ScheduleObject), 0,
    Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, Schedule_slots,
};

int add_schedule_type(PyObject *module) {
    ScheduleType = (PyTypeObject *)PyType_FromSpec(&Schedule_spec);
    if (!ScheduleType) return -1;
    return PyModule_AddObjectRef(module, "Schedule", (PyObject *)ScheduleType);
}
