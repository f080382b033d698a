/*
 * What the extension knows of algorithms, read from the library (include/descent.h,
 * section "introspection") instead of written here: their names, hyperparameters with
 * defaults, state names and traits, for the Python layer to build its classes from; and
 * hyperparameters passed to and from the engine as {torch name: value} dicts, turned
 * into (option id, value) pairs by the algorithm's own option list.
 */
#include <string.h>

#include "extension.h"

/* The options of `algorithm` in torch's order; the count, or -1 with an exception. */
static Py_ssize_t options_of(descent_algorithm algorithm, descent_option_info *out) {
    size_t count = 0;
    descent_status status = descent_algorithm_options(algorithm, out, MAX_OPTIONS, &count);
    if (status != DESCENT_OK) return raise_status(status, NULL), -1;
    return (Py_ssize_t)(count < MAX_OPTIONS ? count : MAX_OPTIONS);
}

int algorithm_from_name(PyObject *name, descent_algorithm *out) {
    const char *text = PyUnicode_AsUTF8(name);
    if (!text) return -1;
    size_t count = descent_algorithm_count();
    for (size_t i = 0; i < count; i++) {
        descent_algorithm id = descent_algorithm_at(i);
        if (!strcmp(descent_algorithm_name(id), text)) {
            *out = id;
            return 0;
        }
    }
    PyObject *names = PyList_New(0), *separator = PyUnicode_FromString(", "), *known = NULL;
    for (size_t i = 0; names && i < count; i++) {
        PyObject *item = PyUnicode_FromString(descent_algorithm_name(descent_algorithm_at(i)));
        if (!item || PyList_Append(names, item) < 0) Py_CLEAR(names);
        Py_XDECREF(item);
    }
    if (names && separator) known = PyUnicode_Join(separator, names);
    if (known) PyErr_Format(DescentValueError, "unknown algorithm '%s' (known: %U)", text, known);
    Py_XDECREF(names);
    Py_XDECREF(separator);
    Py_XDECREF(known);
    return -1;
}

int options_from_dict(descent_algorithm algorithm, PyObject *dict, descent_option *ids, double *values,
                      size_t *count) {
    if (!PyDict_Check(dict)) {
        PyErr_Format(DescentTypeError, "hyperparameters must be a dict, got %s", Py_TYPE(dict)->tp_name);
        return -1;
    }
    descent_option_info info[MAX_OPTIONS];
    Py_ssize_t known = options_of(algorithm, info);
    if (known < 0) return -1;
    PyObject *key, *value;
    Py_ssize_t pos = 0;
    *count = 0;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        const char *name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (!name) {
            PyErr_Clear();
            PyErr_Format(DescentTypeError, "hyperparameter names must be str, got %s", Py_TYPE(key)->tp_name);
            return -1;
        }
        Py_ssize_t k = 0;
        while (k < known && strcmp(info[k].name, name)) k++;
        if (k == known) {
            PyErr_Format(DescentValueError, "%s has no hyperparameter '%s'", descent_algorithm_name(algorithm), name);
            return -1;
        }
        double v = PyFloat_AsDouble(value);
        if (v == -1.0 && PyErr_Occurred()) {
            PyErr_Format(DescentTypeError, "hyperparameter '%s' must be a number, got %s", name,
                         Py_TYPE(value)->tp_name);
            return -1;
        }
        ids[*count] = info[k].option;
        values[*count] = v;
        (*count)++; /* a dict has each key once, so at most `known` */
    }
    return 0;
}

PyObject *group_to_dict(const descent_optimizer *opt, descent_algorithm algorithm, size_t group) {
    descent_option_info info[MAX_OPTIONS];
    Py_ssize_t known = options_of(algorithm, info);
    if (known < 0) return NULL;
    PyObject *dict = PyDict_New();
    for (Py_ssize_t k = 0; dict && k < known; k++) {
        double v = 0;
        descent_status status = descent_group_get(opt, group, info[k].option, &v);
        if (status != DESCENT_OK) {
            Py_DECREF(dict);
            return raise_status(status, opt);
        }
        PyObject *value = info[k].is_flag ? PyBool_FromLong(v != 0) : PyFloat_FromDouble(v);
        if (!value || PyDict_SetItemString(dict, info[k].name, value) < 0) Py_CLEAR(dict);
        Py_XDECREF(value);
    }
    return dict;
}

/* DESCENT_KIND_* as the Python layer names them. */
static const char *kind_name(descent_option option) {
    static const char *const names[] = {"real", "flag", "integer", "optional_integer", "choice", "optional_real"};
    descent_option_kind kind = descent_option_kind_of(option);
    return (size_t)kind < sizeof names / sizeof names[0] ? names[kind] : "real";
}

/* A choice option's values by index, as a tuple (None where index 0 is torch's None,
 * as in line_search_fn; state_dtype's 0 is "float32"); () for others. */
static PyObject *choices_of(descent_option option) {
    PyObject *choices = PyList_New(0);
    if (choices && descent_option_kind_of(option) == DESCENT_KIND_CHOICE) {
        const char *first = descent_option_choice(option, 0);
        PyObject *none = first ? PyUnicode_FromString(first) : Py_NewRef(Py_None);
        if (!none || PyList_Append(choices, none) < 0) Py_CLEAR(choices);
        Py_XDECREF(none);
        for (size_t index = 1; choices && descent_option_choice(option, index); index++) {
            PyObject *name = PyUnicode_FromString(descent_option_choice(option, index));
            if (!name || PyList_Append(choices, name) < 0) Py_CLEAR(choices);
            Py_XDECREF(name);
        }
    }
    PyObject *tuple = choices ? PyList_AsTuple(choices) : NULL;
    Py_XDECREF(choices);
    return tuple;
}

/* DESCENT_STATE_* as the Python layer names them. */
static const char *state_shape_name(descent_state_shape shape) {
    static const char *const names[] = {NULL, "elementwise", "scalar", "rows", "columns", "master"};
    return (size_t)shape < sizeof names / sizeof names[0] && names[shape] ? names[shape] : "elementwise";
}

/* One algorithm as {"name", "options": ((name, default, kind, choices, torch's), …), "state":
 * ((name, "elementwise", "scalar", "rows", "columns" or "master"), …), "traits"}. */
static PyObject *describe(descent_algorithm algorithm) {
    descent_option_info info[MAX_OPTIONS];
    Py_ssize_t known = options_of(algorithm, info);
    if (known < 0) return NULL;
    descent_state_info names[MAX_OPTIONS];
    size_t slots = 0;
    descent_status status = descent_algorithm_state(algorithm, names, MAX_OPTIONS, &slots);
    if (status != DESCENT_OK) return raise_status(status, NULL);
    PyObject *options = PyTuple_New(known), *state = PyTuple_New((Py_ssize_t)slots);
    for (Py_ssize_t k = 0; options && k < known; k++) {
        PyObject *item = Py_BuildValue("(sdsNO)", info[k].name, info[k].default_value, kind_name(info[k].option),
                                       choices_of(info[k].option),
                                       descent_option_is_torchs(info[k].option) ? Py_True : Py_False);
        if (!item) Py_CLEAR(options);
        else PyTuple_SET_ITEM(options, k, item);
    }
    for (size_t k = 0; state && k < slots; k++) {
        PyObject *item = Py_BuildValue("(ss)", names[k].name, state_shape_name(names[k].shape));
        if (!item) Py_CLEAR(state);
        else PyTuple_SET_ITEM(state, (Py_ssize_t)k, item);
    }
    PyObject *result = NULL;
    if (options && state)
        result = Py_BuildValue("{s:s,s:O,s:O,s:I}", "name", descent_algorithm_name(algorithm), "options", options,
                               "state", state, "traits", descent_algorithm_traits(algorithm));
    Py_XDECREF(options);
    Py_XDECREF(state);
    return result;
}

static PyObject *module_algorithms(PyObject *module, PyObject *Py_UNUSED(ignored)) {
    (void)module;
    size_t count = descent_algorithm_count();
    PyObject *all = PyTuple_New((Py_ssize_t)count);
    for (size_t i = 0; all && i < count; i++) {
        PyObject *item = describe(descent_algorithm_at(i));
        if (!item) Py_CLEAR(all);
        else PyTuple_SET_ITEM(all, (Py_ssize_t)i, item);
    }
    return all;
}

PyMethodDef algorithm_functions[] = {
    {"algorithms", module_algorithms, METH_NOARGS,
     "algorithms() -> tuple[dict, ...]\n\nEvery algorithm of the loaded library, in id order: its torch name, "
     "its hyperparameters (torch name, default, kind, choices, whether torch has it) in torch's constructor order, its state names and "
     "its TRAIT_* bits."},
    {NULL, NULL, 0, NULL},
};

int add_algorithm_constants(PyObject *module) {
    if (PyModule_AddIntConstant(module, "TRAIT_STATE_AT_REGISTRATION", DESCENT_TRAIT_STATE_AT_REGISTRATION) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "TRAIT_STEP_COUNT", DESCENT_TRAIT_STEP_COUNT) < 0) return -1;
    if (PyModule_AddIntConstant(module, "TRAIT_SPARSE_GRADIENTS", DESCENT_TRAIT_SPARSE_GRADIENTS) < 0 ||
        PyModule_AddIntConstant(module, "TRAIT_ONLY_SPARSE_GRADIENTS", DESCENT_TRAIT_ONLY_SPARSE_GRADIENTS) < 0 ||
        PyModule_AddIntConstant(module, "TRAIT_INTEGER_STEP_COUNT", DESCENT_TRAIT_INTEGER_STEP_COUNT) < 0 ||
        PyModule_AddIntConstant(module, "TRAIT_NEEDS_CLOSURE", DESCENT_TRAIT_NEEDS_CLOSURE) < 0 ||
        PyModule_AddIntConstant(module, "TRAIT_SINGLE_GROUP", DESCENT_TRAIT_SINGLE_GROUP) < 0 ||
        PyModule_AddIntConstant(module, "TRAIT_ONLY_MATRICES", DESCENT_TRAIT_ONLY_MATRICES) < 0)
        return -1;
    if (PyModule_AddIntConstant(module, "TRAIT_DECOUPLED_WEIGHT_DECAY", DESCENT_TRAIT_DECOUPLED_WEIGHT_DECAY) < 0)
        return -1;
    return PyModule_AddFunctions(module, algorithm_functions);
}
