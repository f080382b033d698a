/* Optimizer.set_sparse_grad: a row-sparse gradient (descent_set_sparse_grad), for
 * descent.torch's sparse .grad (nn.Embedding(sparse=True)) and numpy callers. */
#include "extension.h"

#include <string.h>

/* A read-only C-contiguous buffer of `itemsize`-byte items whose format is one of
 * `formats` (struct codes, byte-order prefix allowed), or an exception naming `what`. */
static int get_typed_buffer(PyObject *obj, const char *what, const char *formats, Py_ssize_t itemsize,
                            const char *dtype, Py_buffer *view) {
    if (PyObject_GetBuffer(obj, view, PyBUF_FORMAT | PyBUF_C_CONTIGUOUS) < 0) {
        PyErr_Clear();
        PyErr_Format(DescentTypeError, "%s must be a C-contiguous %s buffer (e.g. a numpy array), got %s", what,
                     dtype, Py_TYPE(obj)->tp_name);
        return -1;
    }
    const char *format = buffer_format(view);
    if (strlen(format) != 1 || !strchr(formats, format[0]) || view->itemsize != itemsize) {
        PyErr_Format(DescentTypeError, "%s must have dtype %s, got buffer format '%s'", what, dtype,
                     view->format ? view->format : "B");
        PyBuffer_Release(view);
        return -1;
    }
    return 0;
}

PyObject *Optimizer_set_sparse_grad(OptimizerObject *self, PyObject *args) {
    Py_ssize_t index, row_size;
    PyObject *indices_obj, *values_obj;
    if (!PyArg_ParseTuple(args, "nOOn:set_sparse_grad", &index, &indices_obj, &values_obj, &row_size)) return NULL;
    USABLE(self);
    if (row_size <= 0) return PyErr_Format(DescentValueError, "row_size must be positive, got %zd", row_size);
    Py_buffer indices, values;
    if (get_typed_buffer(indices_obj, "indices", "ql", 8, "int64", &indices) < 0) return NULL;
    if (get_typed_buffer(values_obj, "values", "f", 4, "float32", &values) < 0) {
        PyBuffer_Release(&indices);
        return NULL;
    }
    PyObject *result = NULL;
    Py_ssize_t count = indices.len / 8, needed;
    if (__builtin_mul_overflow(count, row_size, &needed) || values.len / 4 != needed) {
        PyErr_Format(DescentValueError, "values has %zd elements; %zd rows of %zd elements do not", values.len / 4,
                     count, row_size);
        goto done;
    }
    descent_status status = descent_set_sparse_grad(self->opt, (size_t)index, indices.buf, (size_t)count,
                                                    values.buf, (size_t)row_size);
    if (status != DESCENT_OK) {
        raise_status(status, self->opt);
        goto done;
    }
    /* The engine copied the rows; a dense gradient held for this parameter is replaced. */
    if (index >= 0 && index < self->count && self->grads[index].obj) PyBuffer_Release(&self->grads[index]);
    result = Py_NewRef(Py_None);
done:
    PyBuffer_Release(&indices);
    PyBuffer_Release(&values);
    return result;
}
