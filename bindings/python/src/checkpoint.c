/*
 * Optimizer checkpoints from Python: the same bytes and files as the C ABI's
 * descent_checkpoint_* calls. The GIL is released while the engine copies state.
 */
#include "extension.h"

PyObject *Optimizer_checkpoint(OptimizerObject *self, PyObject *Py_UNUSED(unused)) {
    USABLE(self);
    size_t size = 0;
    CALL(self->opt, descent_checkpoint_size(self->opt, &size));
    PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)size);
    if (!bytes) return NULL;
    descent_status status;
    size_t written = 0;
    WITHOUT_GIL(self, status, descent_checkpoint_save(self->opt, PyBytes_AS_STRING(bytes), size, &written));
    if (status != DESCENT_OK) {
        Py_DECREF(bytes);
        return raise_status(status, self->opt);
    }
    return bytes;
}

PyObject *Optimizer_load_checkpoint(OptimizerObject *self, PyObject *data) {
    USABLE(self);
    Py_buffer view;
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0) return NULL;
    descent_status status;
    WITHOUT_GIL(self, status, descent_checkpoint_load(self->opt, view.buf, (size_t)view.len));
    PyBuffer_Release(&view);
    if (status != DESCENT_OK) return raise_status(status, self->opt);
    Py_RETURN_NONE;
}

/* Runs a file call on `path` (str, bytes or os.PathLike). */
static PyObject *file_call(OptimizerObject *self, PyObject *path,
                           descent_status (*call)(descent_optimizer *, const char *)) {
    USABLE(self);
    PyObject *encoded = NULL;
    if (!PyUnicode_FSConverter(path, &encoded)) return NULL;
    descent_status status;
    WITHOUT_GIL(self, status, call(self->opt, PyBytes_AS_STRING(encoded)));
    Py_DECREF(encoded);
    if (status != DESCENT_OK) return raise_status(status, self->opt);
    Py_RETURN_NONE;
}

PyObject *Optimizer_save_checkpoint_file(OptimizerObject *self, PyObject *path) {
    return file_call(self, path, descent_checkpoint_save_file);
}

PyObject *Optimizer_load_checkpoint_file(OptimizerObject *self, PyObject *path) {
    return file_call(self, path, descent_checkpoint_load_file);
}
