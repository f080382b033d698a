/*
 * What the extension's two files share: the optimizer object, the exception family,
 * and the helpers that turn statuses into exceptions.
 */
#ifndef DESCENT_EXTENSION_H
#define DESCENT_EXTENSION_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "descent.h"

typedef struct {
    PyObject_HEAD
    descent_optimizer *opt;
    descent_algorithm algorithm;
    Py_ssize_t count, capacity;
    Py_buffer *params; /* one per parameter */
    Py_buffer *grads;  /* registered gradient per parameter; .obj NULL when none */
    /* Per parameter, the `.grad` tensor descent.torch gave it as a view into its gradient
     * arena (NULL when none), held, and the memory it had when checked: step_tensors
     * takes a `.grad` that is this object at this address without checking it again. */
    PyObject **grad_views;
    float **grad_view_memory;
    int busy;          /* calls running with the GIL released (nested: a callback's) */
    unsigned long busy_thread; /* the thread running them */
    Py_ssize_t exports; /* state buffers handed out */
} OptimizerObject;

extern PyObject *DescentError, *DescentValueError, *DescentTypeError, *DescentIndexError,
    *DescentMemoryError, *DescentNonfiniteError, *DescentCheckpointError, *DescentOSError,
    *DescentUnsupportedError, *SparseGradientFound;
extern PyTypeObject *OptimizerType;

/* Raises the exception for `status`, with the engine's message for `opt`. */
PyObject *raise_status(descent_status status, const descent_optimizer *opt);

/* Raises the exception for `status` with `message` (errors the binding finds itself). */
PyObject *raise_message(descent_status status, const char *message);

/* -1 with an exception set when the optimizer is closed or busy in another thread. */
int check_usable(OptimizerObject *self);

/* -1 with DescentIndexError when `index` is not a registered parameter's. */
int check_index(OptimizerObject *self, Py_ssize_t index);

/* A buffer's struct-module format without its byte-order prefix ("<f" -> "f"); "B" when
 * the buffer gives none. */
const char *buffer_format(const Py_buffer *view);

/* Gets a writable C-contiguous float32 buffer; -1 with an exception naming `what`. */
int get_float_buffer(PyObject *obj, const char *what, Py_buffer *view);

/* The same for elements in `format` (bfloat16: bit patterns as int16 or uint16). */
int get_element_buffer(PyObject *obj, const char *what, descent_param_format format, Py_buffer *view);

/* Parameter `index`'s format (its registered buffer's) and element count. */
descent_param_format param_format(const OptimizerObject *self, Py_ssize_t index);
Py_ssize_t param_numel(const OptimizerObject *self, Py_ssize_t index);

/* "float32", "bfloat16" or "float16": torch's dtype names. */
const char *param_format_name(descent_param_format format);

/* gradients.c: the keyword options of Optimizer.step, its report, and the module's
 * clip_grad_norm / clip_grad_value / grad_norm. */
int parse_step_options(PyObject *kwargs, descent_step_options *out);
PyObject *step_report_to_dict(const descent_step_report *report);
extern PyMethodDef gradient_functions[];

/* checkpoint.c: Optimizer.checkpoint, load_checkpoint, save_checkpoint_file and
 * load_checkpoint_file. */
PyObject *Optimizer_checkpoint(OptimizerObject *self, PyObject *unused);
PyObject *Optimizer_load_checkpoint(OptimizerObject *self, PyObject *data);
PyObject *Optimizer_save_checkpoint_file(OptimizerObject *self, PyObject *path);
PyObject *Optimizer_load_checkpoint_file(OptimizerObject *self, PyObject *path);

/* lbfgs.c: Optimizer.lbfgs_state and set_lbfgs_state. */
PyObject *Optimizer_lbfgs_state(OptimizerObject *self, PyObject *unused);
PyObject *Optimizer_set_lbfgs_state(OptimizerObject *self, PyObject *state);

/* Follows parameter `index` (a valid index) to the memory of `param`, a float32 buffer of
 * its size (descent_param_move), holding that buffer in place of the old; -1 with an
 * exception, nothing changed, otherwise. */
int move_param(OptimizerObject *self, Py_ssize_t index, PyObject *param);

/* sparse.c: Optimizer.set_sparse_grad. */
PyObject *Optimizer_set_sparse_grad(OptimizerObject *self, PyObject *args);

/* torch_step.c: Optimizer.step_tensors, hold_grad_view and step_counts_into, for
 * descent.torch. */
PyObject *Optimizer_step_tensors(OptimizerObject *self, PyObject *args, PyObject *kwargs);
PyObject *Optimizer_hold_grad_view(OptimizerObject *self, PyObject *args);
PyObject *Optimizer_step_counts_into(OptimizerObject *self, PyObject *out);

/* algorithms.c: algorithms by name, hyperparameters as {torch name: value} dicts (at
 * most MAX_OPTIONS pairs: arrays of that size receive them), the module's algorithms()
 * and TRAIT_* constants. Option ids are 1-255 (the header's rule). */
enum { MAX_OPTIONS = 255 };
int algorithm_from_name(PyObject *name, descent_algorithm *out);
int options_from_dict(descent_algorithm algorithm, PyObject *dict, descent_option *ids, double *values,
                      size_t *count);
PyObject *group_to_dict(const descent_optimizer *opt, descent_algorithm algorithm, size_t group);
/* Whether `algorithm`'s state `name` is a scalar slot (one value, not one per element);
 * -1 with an exception when the library cannot say (the buffer's size is unknown). */
int add_algorithm_constants(PyObject *module);

/* Adds the Schedule type (schedule.c) to the module. */
int add_schedule_type(PyObject *module);

#define CALL(opt, expr)                                                    \
    do {                                                                   \
        descent_status status_ = (expr);                                   \
        if (status_ != DESCENT_OK) return raise_status(status_, (opt));    \
    } while (0)

#define USABLE(self) if (check_usable(self) < 0) return NULL

/* Runs `call` with the GIL released and the optimizer marked busy: another thread's
 * call on it raises instead of waiting for the engine's lock while holding the GIL,
 * which a Python lr_lambda running inside `call` needs (a deadlock). The thread running
 * `call` may call in again from such a lambda; the engine refuses what would re-enter. */
#define WITHOUT_GIL(self, status, call)                        \
    do {                                                       \
        if ((self)->busy++ == 0) (self)->busy_thread = PyThread_get_thread_ident(); \
        Py_BEGIN_ALLOW_THREADS                                 \
        status = (call);                                       \
        Py_END_ALLOW_THREADS                                   \
        (self)->busy--;                                        \
    } while (0)

#endif
