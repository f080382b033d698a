/*
 * descent.h — the C interface of Descent, an optimizer-step engine.
 *
 * A training loop keeps its model, its forward and its backward pass. It hands
 * Descent its parameter and gradient buffers (float32, caller-owned) and
 * delegates the optimizer step and zero_grad. Descent updates the buffers in
 * place; it never allocates, frees or resizes them. It owns only optimizer
 * state (moments, step counts).
 *
 * Semantics follow torch.optim (torch 2.15): hyperparameter names, defaults,
 * validation messages and update formulas, in the floating-point order of
 * torch's fused CPU kernels.
 *
 * Conventions
 *   - Every fallible function returns a descent_status; DESCENT_OK (0) is
 *     success. On failure nothing has changed (no half-applied call), and a
 *     message is readable with descent_last_error().
 *   - An optimizer handle is opaque. Handles are never reused: a call on a
 *     freed handle returns DESCENT_ERROR_INVALID_HANDLE instead of crashing.
 *     A NULL handle returns DESCENT_ERROR_NULL_POINTER.
 *   - Thread-safety: separate optimizers may be used from separate threads at
 *     once. Calls on one optimizer from several threads are serialized by an
 *     internal lock (they are safe, and run one at a time). Each thread reads
 *     the message of its own last call (descent_last_error()).
 *   - Buffers: the caller owns every float buffer it registers, and must keep
 *     it alive and unmoved until the optimizer is freed or the buffer is
 *     replaced (descent_set_grad). A buffer must be aligned to 4 bytes (a
 *     float's alignment) and hold at most DESCENT_MAX_NUMEL elements.
 *   - Lifetimes: descent_free() frees an optimizer, not its schedules; free
 *     each schedule with descent_schedule_free(), before or after its
 *     optimizer (a schedule whose optimizer is gone only refuses calls).
 *   - Paths are UTF-8, NUL-terminated; bytes that are not UTF-8 are refused.
 */
#ifndef DESCENT_H
#define DESCENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The most elements a parameter or gradient buffer may hold: 2^57 - 1 (a
 * larger count is a negative count converted to size_t, or more memory than
 * a 64-bit address space has). Larger counts get DESCENT_ERROR_INVALID_ARGUMENT.
 */
#define DESCENT_MAX_NUMEL ((size_t)(((uint64_t)1 << 57) - 1))

/** The most dimensions a parameter's shape may have (descent_param_set_shape()). */
#define DESCENT_MAX_DIMS 32

#ifndef DESCENT_API
#  if defined(_WIN32)
#    define DESCENT_API __declspec(dllimport)
#  elif defined(__GNUC__) || defined(__clang__)
#    define DESCENT_API __attribute__((visibility("default")))
#  else
#    define DESCENT_API
#  endif
#endif

/* ---------------------------------------------------------------- version */

#define DESCENT_VERSION_MAJOR 0
#define DESCENT_VERSION_MINOR 1
#define DESCENT_VERSION_PATCH 0
/** MAJOR * 10000 + MINOR * 100 + PATCH, as zstd does. */
#define DESCENT_VERSION_NUMBER \
    (DESCENT_VERSION_MAJOR * 10000 + DESCENT_VERSION_MINOR * 100 + DESCENT_VERSION_PATCH)

/**
 * The version number of the loaded library, to compare with
 * DESCENT_VERSION_NUMBER (the header the caller was compiled with).
 * Never fails; thread-safe.
 */
DESCENT_API unsigned descent_version_number(void);

/**
 * The version of the loaded library as a static string, e.g. "0.1.0".
 * Never fails, never NULL; the string must not be freed. Thread-safe.
 */
DESCENT_API const char *descent_version_string(void);

/* ----------------------------------------------------------------- status */

/** Status codes. The numbering is stable: values are never reused. */
typedef enum descent_status {
    DESCENT_OK = 0,
    /** A required pointer argument was NULL. */
    DESCENT_ERROR_NULL_POINTER = 1,
    /** The handle is not a live optimizer (freed, or never created). */
    DESCENT_ERROR_INVALID_HANDLE = 2,
    /** An argument is malformed: zero or out-of-range count, overlapping buffers… */
    DESCENT_ERROR_INVALID_ARGUMENT = 3,
    /** A hyperparameter is invalid (the message is torch's where torch has one). */
    DESCENT_ERROR_INVALID_HYPERPARAMETER = 4,
    /** The algorithm id is not one of descent_algorithm. */
    DESCENT_ERROR_UNKNOWN_ALGORITHM = 5,
    /** The option id is unknown, or the optimizer's algorithm has no such option. */
    DESCENT_ERROR_UNKNOWN_OPTION = 6,
    /** A group or parameter index is out of range. */
    DESCENT_ERROR_OUT_OF_RANGE = 7,
    /** The parameter buffer is already registered with this optimizer. */
    DESCENT_ERROR_DUPLICATE_PARAMETER = 8,
    /** A buffer overlaps a registered parameter (or its own parameter). */
    DESCENT_ERROR_OVERLAP = 9,
    /** Optimizer state could not be allocated. */
    DESCENT_ERROR_OUT_OF_MEMORY = 10,
    /** A bug in Descent; please report it with the message. */
    DESCENT_ERROR_INTERNAL = 11,
    /** A caller's callback (an lr_lambda) returned non-zero. */
    DESCENT_ERROR_CALLBACK = 12,
    /**
     * The call does not fit the current state: a OneCycleLR stepped past
     * total_steps, a schedule needing a metric stepped without one, a schedule
     * that belongs to a composite stepped or freed on its own, a schedule whose
     * optimizer gained groups since it was created.
     */
    DESCENT_ERROR_INVALID_STATE = 13,
    /**
     * A callback called back into the optimizer that is running it, or into
     * another optimizer where waiting would deadlock (see descent_lr_lambda).
     */
    DESCENT_ERROR_REENTRANT_CALL = 14,
    /** The CPU lacks what the request needs (an instruction set). */
    DESCENT_ERROR_UNSUPPORTED = 15,
    /**
     * A gradient (or a gradient norm) is inf or NaN where the caller asked for
     * an error: DESCENT_NONFINITE_ERROR, or error_if_nonfinite of a clip.
     */
    DESCENT_ERROR_NONFINITE = 16,
    /**
     * The bytes are not a valid checkpoint: bad magic, an unsupported format
     * version or byte order, a section failing its CRC-32C, truncated or
     * inconsistent contents.
     */
    DESCENT_ERROR_CORRUPT_CHECKPOINT = 17,
    /**
     * A valid checkpoint of a different optimizer: another algorithm, group
     * count, parameter count or size, or other schedules. The message says
     * what differs.
     */
    DESCENT_ERROR_MISMATCH = 18,
    /** The operating system refused a file operation (the message has errno's text). */
    DESCENT_ERROR_IO = 19
} descent_status;

/**
 * The name of a status as a static string ("DESCENT_OK",
 * "DESCENT_ERROR_INVALID_HANDLE", …), or "DESCENT_ERROR_UNKNOWN_STATUS" for a
 * value outside the enum. Never NULL; thread-safe.
 */
DESCENT_API const char *descent_status_name(descent_status status);

/* ------------------------------------------------------------- algorithms */

typedef enum descent_algorithm {
    DESCENT_SGD = 1,
    DESCENT_ADAM = 2,
    DESCENT_ADAMW = 3,
    DESCENT_RMSPROP = 4,
    DESCENT_ADAGRAD = 5,
    DESCENT_ADAMAX = 6,
    DESCENT_NADAM = 7,
    DESCENT_RADAM = 8,
    DESCENT_ADADELTA = 9,
    DESCENT_ASGD = 10,
    DESCENT_RPROP = 11,
    DESCENT_SPARSE_ADAM = 12, /* sparse gradients only: descent_set_sparse_grad() */
    DESCENT_LBFGS = 13,       /* one group; stepped by descent_step_closure() only */
    DESCENT_ADAFACTOR = 14,   /* factors a parameter of 2+ dimensions: give its shape
                                 (descent_param_set_shape()) before its first step */
    DESCENT_MUON = 15         /* matrices only: give each parameter a 2-D shape; its
                                 products need oneDNN (descent_load_onednn()) */
} descent_algorithm;

/**
 * The torch name of an algorithm as a static string ("SGD", "Adam", "AdamW",
 * "RMSprop", "Adagrad", "Adamax", …), or NULL for an unknown id. Thread-safe.
 */
DESCENT_API const char *descent_algorithm_name(descent_algorithm algorithm);

/* -------------------------------------------------------- hyperparameters */

/**
 * Hyperparameters of one group, with torch.optim's names. One struct serves
 * every algorithm; each algorithm reads only its own fields (listed below)
 * and ignores the others. Fill it with descent_default_params() and change
 * what you need.
 *
 *   SGD:     lr, momentum, dampening, weight_decay, nesterov, maximize
 *   Adam:    lr, beta1, beta2, eps, weight_decay, amsgrad, maximize
 *   AdamW:   same as Adam (weight_decay is decoupled, default 1e-2)
 *   RMSprop: lr, alpha, eps, weight_decay, momentum, centered, maximize
 *   Adagrad: lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize
 *   Adamax:  lr, beta1, beta2, eps, weight_decay, maximize
 *   NAdam:   lr, beta1, beta2, eps, weight_decay, maximize (and, by id only,
 *            momentum_decay and decoupled_weight_decay)
 *   RAdam:   lr, beta1, beta2, eps, weight_decay, maximize (and, by id only,
 *            decoupled_weight_decay)
 *   Adadelta: lr, eps, weight_decay, maximize (and, by id only, rho)
 *   ASGD:    lr, alpha, weight_decay, maximize (and, by id only, lambd and t0)
 *   Rprop:   lr, maximize (and, by id only, the etas and step_sizes)
 *   SparseAdam: lr, beta1, beta2, eps, maximize
 * Later algorithms' own hyperparameters are not in it (it does not grow): set
 * them by id (descent_create_with(), descent_group_set()).
 */
typedef struct descent_params {
    double lr;
    double momentum;
    double dampening;
    double weight_decay;
    double beta1;
    double beta2;
    double eps;
    double alpha;
    double lr_decay;
    double initial_accumulator_value;
    bool nesterov;
    bool maximize;
    bool amsgrad;
    bool centered;
} descent_params;

/**
 * Ids for reading and writing one hyperparameter of a group. Stable numbering:
 * an id is never reused. Ids 1-255 are hyperparameters; a hyperparameter of a
 * later algorithm takes the next free id in that range (it does not grow
 * descent_params, which stays as it is for these fourteen). Ids from 256 on are
 * reserved for settings that are not torch hyperparameters.
 */
typedef enum descent_option {
    DESCENT_OPTION_LR = 1,
    DESCENT_OPTION_MOMENTUM = 2,
    DESCENT_OPTION_DAMPENING = 3,
    DESCENT_OPTION_WEIGHT_DECAY = 4,
    DESCENT_OPTION_NESTEROV = 5,   /* boolean: 0 or 1 */
    DESCENT_OPTION_MAXIMIZE = 6,   /* boolean: 0 or 1 */
    DESCENT_OPTION_BETA1 = 7,      /* torch: betas[0] */
    DESCENT_OPTION_BETA2 = 8,      /* torch: betas[1] */
    DESCENT_OPTION_EPS = 9,
    DESCENT_OPTION_AMSGRAD = 10,   /* boolean: 0 or 1 */
    DESCENT_OPTION_ALPHA = 11,
    DESCENT_OPTION_CENTERED = 12,  /* boolean: 0 or 1 */
    DESCENT_OPTION_LR_DECAY = 13,
    DESCENT_OPTION_INITIAL_ACCUMULATOR_VALUE = 14,
    DESCENT_OPTION_MOMENTUM_DECAY = 15,          /* NAdam */
    DESCENT_OPTION_DECOUPLED_WEIGHT_DECAY = 16,  /* boolean: 0 or 1 (NAdam, RAdam) */
    DESCENT_OPTION_RHO = 17,                     /* Adadelta */
    DESCENT_OPTION_LAMBD = 18,                   /* ASGD */
    DESCENT_OPTION_T0 = 19,                      /* ASGD */
    DESCENT_OPTION_ETA_MINUS = 20,               /* Rprop: etas[0] */
    DESCENT_OPTION_ETA_PLUS = 21,                /* Rprop: etas[1] */
    DESCENT_OPTION_STEP_SIZE_MIN = 22,           /* Rprop: step_sizes[0] */
    DESCENT_OPTION_STEP_SIZE_MAX = 23,           /* Rprop: step_sizes[1] */
    DESCENT_OPTION_MAX_ITER = 24,                /* LBFGS: a whole number >= 1 */
    DESCENT_OPTION_MAX_EVAL = 25,                /* LBFGS: a whole number; -1 is torch's None,
                                                    max_iter * 5 / 4 when set */
    DESCENT_OPTION_TOLERANCE_GRAD = 26,          /* LBFGS */
    DESCENT_OPTION_TOLERANCE_CHANGE = 27,        /* LBFGS */
    DESCENT_OPTION_HISTORY_SIZE = 28,            /* LBFGS: a whole number >= 1 */
    DESCENT_OPTION_LINE_SEARCH_FN = 29,          /* LBFGS: 0 None, 1 "strong_wolfe" */
    DESCENT_OPTION_BETA2_DECAY = 30,             /* Adafactor */
    DESCENT_OPTION_EPS1 = 31,                    /* Adafactor: eps[0]; NAN is torch's None,
                                                    the parameter format's machine epsilon */
    DESCENT_OPTION_EPS2 = 32,                    /* Adafactor: eps[1] */
    DESCENT_OPTION_CLIPPING_THRESHOLD = 33,      /* Adafactor: d */
    DESCENT_OPTION_NS_COEFFICIENT_A = 34,        /* Muon: ns_coefficients[0] */
    DESCENT_OPTION_NS_COEFFICIENT_B = 35,        /* Muon: ns_coefficients[1] */
    DESCENT_OPTION_NS_COEFFICIENT_C = 36,        /* Muon: ns_coefficients[2] */
    DESCENT_OPTION_NS_STEPS = 37,                /* Muon: 0..99 */
    DESCENT_OPTION_ADJUST_LR_FN = 38,            /* Muon: 0 None (= 1), 1 "original",
                                                    2 "match_rms_adamw",
                                                    3 "spectral_unclamped" */
    /*
     * Descent's own, for the algorithms whose element-wise state may be kept
     * in another format (SGD, Adam, AdamW, RMSprop, Adagrad, Adamax, NAdam,
     * RAdam, Adadelta, ASGD, Rprop): the format of a group's state, as the
     * index of its name (descent_option_choice()): 0 "float32" (default),
     * 1 "bfloat16" (round to nearest even), 2 "int8" (bitsandbytes' 8-bit
     * block-wise state: see DESCENT_STATE_INT8). A parameter's state takes the
     * format its group has when the state is made; a group changed later moves
     * its parameters' state to the new format (converting it) at their next step.
     */
    DESCENT_OPTION_STATE_DTYPE = 39,
    /* "int8" keeps the state of tensors under this many elements in float32
       (bitsandbytes' min_8bit_size; default 4096) */
    DESCENT_OPTION_MIN_8BIT_SIZE = 40,
    /**
     * Descent's own, a boolean, on the algorithms that take state_dtype
     * (default 0): the engine keeps a float32 master copy of each bfloat16 or
     * float16 parameter of the group (state "master_param", made from the
     * parameter at its first step with the option on), steps the copy as a
     * float32 parameter, and rewrites the parameter from it, rounded to
     * nearest even, in the same pass (ZeRO-Offload's pattern). Off, such a
     * parameter is stepped in float32 from its own values and rounded back.
     * Turned off, the copy is let go at the next step. float32 parameters
     * ignore it.
     */
    DESCENT_OPTION_MASTER_WEIGHTS = 41,
    /**
     * Descent's own, a boolean, on the algorithms that take state_dtype
     * (default 0): bfloat16 state and bfloat16 or float16 parameters are rounded
     * stochastically (up, away from zero, with the probability of the dropped
     * fraction) instead of to nearest even, so that updates below half a unit
     * in the last place survive on average. The noise is a hash of the
     * parameter's index, its step count, the buffer and the element: every
     * instruction set and thread count rounds alike, and a resumed run as the
     * uninterrupted one. bfloat16 state rounded so is stepped through float32
     * pieces, as 8-bit state is (slower than its one-pass kernel).
     */
    DESCENT_OPTION_STOCHASTIC_ROUNDING = 42
} descent_option;

/**
 * The torch name of an option as a static string ("lr", "betas[0]", …), or
 * NULL for an unknown id. Thread-safe.
 */
DESCENT_API const char *descent_option_name(descent_option option);

/** What values an option takes, as torch writes them. */
typedef enum descent_option_kind {
    DESCENT_KIND_REAL = 0,             /* a float */
    DESCENT_KIND_FLAG = 1,             /* torch's bool: 0.0 or 1.0 */
    DESCENT_KIND_INTEGER = 2,          /* a whole number */
    DESCENT_KIND_OPTIONAL_INTEGER = 3, /* a whole number, or torch's None as -1 */
    DESCENT_KIND_CHOICE = 4,           /* torch's string: the index of one of its
                                          values (descent_option_choice) */
    DESCENT_KIND_OPTIONAL_REAL = 5     /* a float, or torch's None as NAN */
} descent_option_kind;

/** The kind of `option`; DESCENT_KIND_REAL for an unknown id. Thread-safe. */
DESCENT_API descent_option_kind descent_option_kind_of(descent_option option);

/**
 * torch's value that `index` stands for in a DESCENT_KIND_CHOICE option, as a
 * static string ("strong_wolfe", "bfloat16"); NULL for torch's None (index 0
 * of line_search_fn and adjust_lr_fn), an index out of range, or any other
 * option. Thread-safe.
 */
DESCENT_API const char *descent_option_choice(descent_option option, size_t index);

/**
 * 1 when `option` is a hyperparameter of torch.optim's classes, 0 when it is
 * Descent's own (DESCENT_OPTION_STATE_DTYPE, DESCENT_OPTION_MIN_8BIT_SIZE) or
 * unknown: a binding passes only torch's options to torch. Thread-safe.
 */
DESCENT_API int descent_option_is_torchs(descent_option option);

/**
 * Writes torch's default hyperparameters for `algorithm` into `*out`
 * (e.g. AdamW: lr 1e-3, betas (0.9, 0.999), eps 1e-8, weight_decay 1e-2).
 * Fields the algorithm does not use are set to zero / false.
 *
 * Returns DESCENT_OK; DESCENT_ERROR_NULL_POINTER if `out` is NULL;
 * DESCENT_ERROR_UNKNOWN_ALGORITHM for an unknown id (`*out` untouched).
 * Thread-safe. On failure the message is descent_last_error(NULL).
 */
DESCENT_API descent_status descent_default_params(descent_algorithm algorithm,
                                                  descent_params *out);

/* ---------------------------------------------------------- introspection */

/*
 * What the library's algorithms are, read from the library itself rather than
 * copied into the caller: each algorithm's hyperparameters in torch's
 * constructor order with torch's defaults, its state names and traits. With
 * descent_create_with() and descent_add_group_with(), a caller (the Python
 * package does) handles every algorithm, also one added after it was
 * written, without a per-algorithm table.
 */

/** The number of algorithms this library has (thread-safe, never fails). */
DESCENT_API size_t descent_algorithm_count(void);

/**
 * The id of algorithm `index`, 0 <= index < descent_algorithm_count(), in id
 * order; 0 (no algorithm) for an index out of range. Thread-safe.
 */
DESCENT_API descent_algorithm descent_algorithm_at(size_t index);

/** One hyperparameter of an algorithm. */
typedef struct descent_option_info {
    descent_option option;  /* its id */
    const char *name;       /* torch's name, e.g. "betas[0]": static, never freed */
    double default_value;   /* torch's default (a flag's is 0.0 or 1.0) */
    bool is_flag;           /* a boolean: it takes exactly 0.0 or 1.0 */
} descent_option_info;

/**
 * The hyperparameters of `algorithm`, in torch's constructor order: `*count`
 * receives how many there are, and the first min(capacity, *count) are written
 * into `out` (NULL when `capacity` is 0: asks for the count alone).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`count` NULL, or `out` with
 * capacity > 0), DESCENT_ERROR_UNKNOWN_ALGORITHM, DESCENT_ERROR_INVALID_ARGUMENT
 * (capacity above DESCENT_MAX_NUMEL). Thread-safe; errors in
 * descent_last_error(NULL).
 */
DESCENT_API descent_status descent_algorithm_options(descent_algorithm algorithm, descent_option_info *out,
                                                     size_t capacity, size_t *count);

/** The shape of a state buffer. */
typedef enum descent_state_shape {
    /** One value per parameter element (exp_avg, …): `numel` values. */
    DESCENT_STATE_ELEMENTWISE = 1,
    /** One value per parameter (NAdam's mu_product; torch's 0-d tensor). */
    DESCENT_STATE_SCALAR = 2,
    /**
     * One value per row of the last two dimensions (Adafactor's row_var): the
     * parameter's shape with its last dimension 1. Kept for parameters of two
     * or more dimensions only.
     */
    DESCENT_STATE_ROWS = 3,
    /** One value per column: the shape with its second-to-last dimension 1. */
    DESCENT_STATE_COLUMNS = 4,
    /**
     * One float32 value per parameter element, whatever the state format: the
     * master copy of a bfloat16 or float16 parameter (master_param; see
     * DESCENT_OPTION_MASTER_WEIGHTS).
     */
    DESCENT_STATE_MASTER = 5
} descent_state_shape;

/** The element format of a state buffer. */
typedef enum descent_state_format {
    /** IEEE-754 binary32. */
    DESCENT_STATE_FLOAT32 = 1,
    /** The upper 16 bits of a float32, rounded to nearest even (torch's bfloat16). */
    DESCENT_STATE_BFLOAT16 = 2,
    /**
     * bitsandbytes' 8-bit block-wise state: per block of
     * DESCENT_INT8_BLOCK_SIZE elements a float32 absmax (the largest
     * magnitude), and per element a uint8 code, the index of the value nearest
     * to x / absmax in bitsandbytes' dynamic map (create_dynamic_map: its
     * signed map for state of either sign, such as exp_avg; its unsigned map
     * for state never below zero, such as exp_avg_sq). x is code value ×
     * absmax. Descent quantizes as bitsandbytes' CUDA kernels do (the nearest
     * code; a first moment whose code has the other sign is moved one code
     * back), not as its CPU backend's 65,536-entry table. As in bitsandbytes,
     * non-finite state does not survive quantization: a NaN is left out of its
     * block's absmax and decodes to a finite value.
     */
    DESCENT_STATE_INT8 = 3
} descent_state_format;

/**
 * The element format of a parameter and its gradient (the codes of
 * descent_state_format where they share a format).
 */
typedef enum descent_param_format {
    /** IEEE-754 binary32. */
    DESCENT_PARAM_FLOAT32 = 1,
    /** torch's bfloat16: the upper 16 bits of a float32, rounded to nearest even. */
    DESCENT_PARAM_BFLOAT16 = 2,
    /** IEEE-754 binary16 (torch's float16), rounded to nearest even. */
    DESCENT_PARAM_FLOAT16 = 4
} descent_param_format;

/** Elements per absmax in DESCENT_STATE_INT8 state (bitsandbytes' block size). */
#define DESCENT_INT8_BLOCK_SIZE 256

/** One state buffer of an algorithm. */
typedef struct descent_state_info {
    const char *name;              /* torch's state key: static, never freed */
    descent_state_shape shape;
    descent_state_format format;
} descent_state_info;

/**
 * The state buffers of `algorithm`, by slot, in torch's order of state keys
 * (the names descent_param_state() takes), then Descent's own (the
 * algorithms that take DESCENT_OPTION_STATE_DTYPE end with "master_param",
 * DESCENT_STATE_MASTER), filled in as descent_algorithm_options() fills its
 * array. Statuses as there.
 */
DESCENT_API descent_status descent_algorithm_state(descent_algorithm algorithm, descent_state_info *out,
                                                   size_t capacity, size_t *count);

/** Traits of an algorithm (descent_algorithm_traits), as bits. */
enum {
    /** torch makes the state when a parameter is registered (Adagrad's "sum"). */
    DESCENT_TRAIT_STATE_AT_REGISTRATION = 1 << 0,
    /** torch keeps state["step"] (all but SGD; Descent counts steps for all). */
    DESCENT_TRAIT_STEP_COUNT = 1 << 1,
    /** weight_decay decays the parameter, not the gradient (AdamW). */
    DESCENT_TRAIT_DECOUPLED_WEIGHT_DECAY = 1 << 2,
    /** It takes sparse gradients (descent_set_sparse_grad()): SGD, Adagrad, SparseAdam. */
    DESCENT_TRAIT_SPARSE_GRADIENTS = 1 << 3,
    /** It takes sparse gradients only (SparseAdam). */
    DESCENT_TRAIT_ONLY_SPARSE_GRADIENTS = 1 << 4,
    /** torch keeps state["step"] as a Python int, not a float32 tensor (SparseAdam). */
    DESCENT_TRAIT_INTEGER_STEP_COUNT = 1 << 5,
    /** A step re-evaluates the loss: only descent_step_closure() steps it (LBFGS). */
    DESCENT_TRAIT_NEEDS_CLOSURE = 1 << 6,
    /** One parameter group only (LBFGS). */
    DESCENT_TRAIT_SINGLE_GROUP = 1 << 7,
    /** Every parameter it steps must have a 2-D shape (Muon). */
    DESCENT_TRAIT_ONLY_MATRICES = 1 << 8
};

/** The DESCENT_TRAIT_* bits of `algorithm`; 0 for an unknown id. Thread-safe. */
DESCENT_API unsigned descent_algorithm_traits(descent_algorithm algorithm);

/* -------------------------------------------------------------- optimizer */

/** An optimizer: an algorithm, its groups, its parameters and their state. */
typedef struct descent_optimizer descent_optimizer;

/**
 * Creates an optimizer. `defaults` are the hyperparameters new groups get
 * when descent_add_group() is passed NULL; pass NULL here for torch's
 * defaults of `algorithm`. The optimizer starts with no group.
 *
 * On success `*out` holds the new handle; free it with descent_free().
 * Returns DESCENT_OK; DESCENT_ERROR_NULL_POINTER (`out` NULL);
 * DESCENT_ERROR_UNKNOWN_ALGORITHM; DESCENT_ERROR_INVALID_HYPERPARAMETER
 * (message as torch's, e.g. "Invalid learning rate: -1.0");
 * DESCENT_ERROR_INVALID_ARGUMENT (a bool field of `defaults` holds a byte
 * other than 0 or 1); DESCENT_ERROR_OUT_OF_MEMORY. On failure `*out` is set
 * to NULL (when `out` is not NULL) and the message is descent_last_error(NULL).
 * Thread-safe.
 */
DESCENT_API descent_status descent_create(descent_algorithm algorithm,
                                          const descent_params *defaults,
                                          descent_optimizer **out);

/**
 * Like descent_create(), with the defaults given as `count` (option id, value)
 * pairs over torch's defaults of `algorithm` instead of a descent_params. Each
 * id must be one of the algorithm's (descent_algorithm_options()) and appear
 * once; flags take exactly 0.0 or 1.0. `options` and `values` may be NULL when
 * `count` is 0.
 * Returns the statuses of descent_create(), and DESCENT_ERROR_UNKNOWN_OPTION
 * (an unknown id, or one the algorithm does not have) and
 * DESCENT_ERROR_INVALID_ARGUMENT (an id given twice, count too large).
 */
DESCENT_API descent_status descent_create_with(descent_algorithm algorithm, const descent_option *options,
                                               const double *values, size_t count, descent_optimizer **out);

/**
 * Frees an optimizer and all its state. The caller's buffers are untouched.
 * Its schedules are not freed: their handles stay valid (calls on them return
 * DESCENT_ERROR_INVALID_HANDLE, "the optimizer of this schedule has been
 * freed") until each is passed to descent_schedule_free(), which may come
 * before or after this call. NULL is accepted and does nothing (returns
 * DESCENT_OK). Freeing a handle twice returns DESCENT_ERROR_INVALID_HANDLE and
 * does nothing else. Must not race with other calls on the same handle.
 */
DESCENT_API descent_status descent_free(descent_optimizer *opt);

/**
 * The message of this thread's last call on `opt` (or on one of its
 * schedules) if it failed, or "" if it succeeded or this thread made none.
 * Each thread has its own message per optimizer, like errno: a thread never
 * reads, nor frees, the message of another thread's call, so any number of
 * threads may share an optimizer and read their errors safely.
 * Reading it never waits for the optimizer (it may be called while another
 * thread steps it, or from inside a callback).
 * With NULL or an invalid handle: the message of the last failed call in this
 * thread that had no valid handle (descent_create, descent_default_params,
 * calls on freed handles); a call refused inside a callback leaves its
 * message there too.
 * Never returns NULL. The string is owned by Descent and stays valid until
 * this thread's next call on the same optimizer or its schedules, or until
 * the optimizer is freed (for NULL: this thread's next call without a valid
 * handle). A thread's messages are freed when it exits.
 */
DESCENT_API const char *descent_last_error(const descent_optimizer *opt);

/**
 * Writes the optimizer's algorithm into `*out`.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE.
 */
DESCENT_API descent_status descent_get_algorithm(const descent_optimizer *opt,
                                                 descent_algorithm *out);

/* ----------------------------------------------------------------- groups */

/**
 * Adds a parameter group. `params` NULL gives the optimizer's defaults (as
 * passed to descent_create). Groups can be added at any time, also after
 * steps. `*index_out` (may be NULL) receives the group's index: 0, 1, 2… in
 * order of creation.
 *
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL),
 * DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_INVALID_HYPERPARAMETER.
 */
DESCENT_API descent_status descent_add_group(descent_optimizer *opt,
                                             const descent_params *params,
                                             size_t *index_out);

/**
 * Like descent_add_group(), with the group's hyperparameters given as `count`
 * (option id, value) pairs over the optimizer's defaults (as passed to
 * descent_create() or descent_create_with()). Pairs as descent_create_with()
 * takes them. Returns the statuses of descent_add_group(), and
 * DESCENT_ERROR_UNKNOWN_OPTION and DESCENT_ERROR_INVALID_ARGUMENT as
 * descent_create_with().
 */
DESCENT_API descent_status descent_add_group_with(descent_optimizer *opt, const descent_option *options,
                                                  const double *values, size_t count, size_t *index_out);

/**
 * Sets several hyperparameters of group `group` at once, as `count` (option
 * id, value) pairs (as descent_create_with() takes them): the group is
 * validated as a whole with all the new values (so nesterov and momentum can
 * change together), and on failure nothing changes. They take effect at the
 * next step. Returns the statuses of descent_group_set(), and
 * DESCENT_ERROR_INVALID_ARGUMENT as descent_create_with().
 */
DESCENT_API descent_status descent_group_set_with(descent_optimizer *opt, size_t group,
                                                  const descent_option *options, const double *values,
                                                  size_t count);

/**
 * Writes the number of groups into `*out`.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE.
 */
DESCENT_API descent_status descent_group_count(const descent_optimizer *opt, size_t *out);

/**
 * Copies all hyperparameters of group `group` into `*out`.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_OUT_OF_RANGE.
 */
DESCENT_API descent_status descent_group_get_params(const descent_optimizer *opt,
                                                    size_t group,
                                                    descent_params *out);

/**
 * Replaces all hyperparameters of group `group` at once; they take effect at
 * the next step. Validated first: on failure the group keeps its old values.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_OUT_OF_RANGE, DESCENT_ERROR_INVALID_HYPERPARAMETER.
 */
DESCENT_API descent_status descent_group_set_params(descent_optimizer *opt,
                                                    size_t group,
                                                    const descent_params *params);

/**
 * Reads one hyperparameter of group `group` into `*out`. Booleans read as
 * 0.0 or 1.0.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_OUT_OF_RANGE, DESCENT_ERROR_UNKNOWN_OPTION (unknown id, or an
 * option the algorithm does not have, e.g. momentum for Adam).
 */
DESCENT_API descent_status descent_group_get(const descent_optimizer *opt,
                                             size_t group,
                                             descent_option option,
                                             double *out);

/**
 * Sets one hyperparameter of group `group`; it takes effect at the next step
 * (this is how a schedule changes lr). The group's hyperparameters are
 * validated as a whole with the new value: on failure nothing changes.
 * Booleans take exactly 0.0 or 1.0.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE,
 * DESCENT_ERROR_UNKNOWN_OPTION, DESCENT_ERROR_INVALID_HYPERPARAMETER.
 */
DESCENT_API descent_status descent_group_set(descent_optimizer *opt,
                                             size_t group,
                                             descent_option option,
                                             double value);

/* ------------------------------------------------------------- parameters */

/**
 * Registers a parameter of `numel` float32 elements into group `group`.
 * `param` and `grad` are caller-owned; Descent reads and writes them in
 * place and never frees them. `grad` may be NULL (no gradient yet: the
 * parameter is skipped by steps until one is set). `*index_out` (may be
 * NULL) receives the parameter's index: 0, 1, 2… in order of registration,
 * over all groups. Step counts are per parameter and start at 0.
 *
 * Returns DESCENT_OK; DESCENT_ERROR_NULL_POINTER (`param` NULL);
 * DESCENT_ERROR_INVALID_HANDLE; DESCENT_ERROR_OUT_OF_RANGE (no such group);
 * DESCENT_ERROR_INVALID_ARGUMENT (`numel` zero, or above DESCENT_MAX_NUMEL: a
 * negative count converted to size_t lands here; a buffer not aligned to 4
 * bytes); DESCENT_ERROR_DUPLICATE_PARAMETER
 * (this buffer is already registered); DESCENT_ERROR_OVERLAP (`param`
 * overlaps a registered parameter, or `grad` overlaps `param` or a
 * registered parameter).
 */
DESCENT_API descent_status descent_add_param(descent_optimizer *opt,
                                             size_t group,
                                             float *param,
                                             float *grad,
                                             size_t numel,
                                             size_t *index_out);

/**
 * descent_add_param() for a parameter of `numel` elements in `format`, its
 * gradient in the same format: bfloat16 and float16 parameters (aligned to 2
 * bytes) are for the algorithms that take DESCENT_OPTION_STATE_DTYPE. A step
 * widens their elements to float32, runs the float32 update, and rounds the
 * result back to nearest even; with DESCENT_OPTION_MASTER_WEIGHTS it updates
 * a float32 master copy instead and rewrites the parameter from it. Gradient
 * passes (unscale, clipping, zeroing) read and write the gradient in its
 * format, rounding a rewritten gradient as torch's in-place operations do.
 * Elsewhere in this API such a parameter's memory and its gradients are
 * passed cast to `float *` (descent_set_grad(), descent_param_move(),
 * descent_step_with_grads()); sparse gradients are float32 only.
 * Returns what descent_add_param() returns, and DESCENT_ERROR_INVALID_ARGUMENT
 * for an unknown format, DESCENT_ERROR_UNSUPPORTED for a format other than
 * float32 on an algorithm without state formats.
 */
DESCENT_API descent_status descent_add_param_format(descent_optimizer *opt,
                                                    size_t group,
                                                    void *param,
                                                    void *grad,
                                                    size_t numel,
                                                    descent_param_format format,
                                                    size_t *index_out);

/**
 * Writes the format of parameter `index` (and its gradient) into `*out`.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_OUT_OF_RANGE.
 */
DESCENT_API descent_status descent_param_format_of(const descent_optimizer *opt, size_t index,
                                                   descent_param_format *out);

/**
 * Writes the number of registered parameters into `*out`.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE.
 */
DESCENT_API descent_status descent_param_count(const descent_optimizer *opt, size_t *out);

/**
 * Re-points the gradient of parameter `index` (torch allocates a new .grad
 * after zero_grad(set_to_none=True)). NULL means "no gradient": the
 * parameter is skipped by steps, as torch skips p.grad is None.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE,
 * DESCENT_ERROR_OVERLAP (`grad` overlaps a registered parameter).
 */
DESCENT_API descent_status descent_set_grad(descent_optimizer *opt, size_t index, float *grad);

/**
 * Follows parameter `index` to new memory `param` of the same numel: the
 * next step updates `param`, and its optimizer state and step count carry
 * over. For frameworks that re-point parameters after the optimizer was
 * built (ZeroRedundancyOptimizer's parameters_as_bucket_view, FSDP2 swapping
 * a shard's local tensor). `param` follows the rules of descent_add_param()
 * (aligned, not overlapping another parameter or this one's gradient).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` or `param` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE,
 * DESCENT_ERROR_INVALID_ARGUMENT (misaligned), DESCENT_ERROR_OVERLAP.
 */
DESCENT_API descent_status descent_param_move(descent_optimizer *opt, size_t index, float *param);

/**
 * Gives parameter `index` a shape: `ndim` dimensions `dims[0]`…`dims[ndim-1]`,
 * row-major (C order, as a contiguous torch tensor or numpy array), whose
 * product must be the parameter's numel; `ndim` 0 is a scalar (numel 1) and
 * `dims` may then be NULL. A parameter registered without one has the shape
 * {numel}. Algorithms that see a matrix in a parameter (per-row and
 * per-column statistics, orthogonalized updates) read it; element-wise ones
 * ignore it. Adafactor sizes its state by it (a parameter of two or more
 * dimensions keeps row_var and col_var, others variance), so the shape cannot
 * change once that state exists. Muon steps only parameters of two
 * dimensions (a step refuses any other it would take). Checkpoints record
 * shapes; loading one into an optimizer whose state depends on them
 * (Adafactor) requires the same shapes, so give them before the load.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL, or `dims` NULL
 * with `ndim` > 0), DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE
 * (`index`), DESCENT_ERROR_INVALID_ARGUMENT (`ndim` above DESCENT_MAX_DIMS, a
 * zero dimension, or a product other than numel), DESCENT_ERROR_INVALID_STATE
 * (a different shape where state sized by the shape exists). On error the
 * shape is unchanged.
 */
DESCENT_API descent_status descent_param_set_shape(descent_optimizer *opt, size_t index,
                                                   const size_t *dims, size_t ndim);

/**
 * Writes the shape of parameter `index`: its number of dimensions into
 * `*ndim_out`, and the dimensions into `dims`, which has room for `capacity`
 * of them (at most DESCENT_MAX_DIMS are ever needed; `dims` may be NULL when
 * the shape has none).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` or `ndim_out` NULL;
 * `dims` NULL for a shape with dimensions), DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_OUT_OF_RANGE, DESCENT_ERROR_INVALID_ARGUMENT (`capacity`
 * smaller than the number of dimensions, which `*ndim_out` then holds).
 */
DESCENT_API descent_status descent_param_shape(const descent_optimizer *opt, size_t index, size_t *dims,
                                               size_t capacity, size_t *ndim_out);

/**
 * Gives parameter `index` a sparse gradient in place of its gradient, as
 * nn.Embedding(sparse=True) produces: the parameter is seen as rows of
 * `row_size` elements (`row_size` must divide its numel), and the gradient
 * has `count` of them: row `indices[k]` holds `values[k * row_size ...]`, the
 * other rows are zero. Indices may repeat and come in any order: a repeated
 * row is summed in the order given, as torch's coalesce() sums it. The rows
 * are copied (the buffers may be reused at once). Every step, and every
 * descent_step_with_grads() / descent_step_phase() entry that is NULL for the
 * parameter, uses it until descent_set_grad() replaces it; descent_zero_grad()
 * and the phase's zero_grad leave it with no rows (torch's zero_()).
 * What each algorithm does with it, as torch: SGD steps it as the dense
 * gradient it is (zero rows included: momentum reaches every row it ever
 * had; weight_decay must be 0, as torch refuses it); Adagrad updates only its
 * rows (weight_decay must be 0) and SparseAdam only its rows and their
 * moments (SparseAdam takes no dense gradient); every other algorithm refuses
 * it with torch's message. The phase's unscale and clip apply to the step's
 * copy; the caller's buffers are never written.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE (`index`, or a row
 * index out of range), DESCENT_ERROR_INVALID_ARGUMENT (`row_size`; `count`
 * too large; `indices` or `values` NULL or misaligned with count > 0),
 * DESCENT_ERROR_UNSUPPORTED (the
 * algorithm takes no sparse gradient), DESCENT_ERROR_OUT_OF_MEMORY. On error
 * the parameter keeps the gradient it had.
 */
DESCENT_API descent_status descent_set_sparse_grad(descent_optimizer *opt, size_t index,
                                                   const int64_t *indices, size_t count,
                                                   const float *values, size_t row_size);

/**
 * Writes the step count of parameter `index` into `*out` (the number of
 * steps that updated it).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_OUT_OF_RANGE.
 */
DESCENT_API descent_status descent_param_step_count(const descent_optimizer *opt,
                                                    size_t index,
                                                    int64_t *out);

/**
 * Writes the step counts of parameters `first` … `first + count - 1` into
 * `out[0]` … `out[count - 1]`, in one call (a binding that shows every
 * parameter's count after each step pays one call, not one per parameter).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL, or `out` NULL
 * with `count` > 0), DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE
 * (the range goes past the last parameter); nothing is written on error.
 */
DESCENT_API descent_status descent_param_step_counts(const descent_optimizer *opt, size_t first,
                                                     size_t count, int64_t *out);

/**
 * Points `*out` at the optimizer state buffer `name` of parameter `index`:
 * `numel` floats (one for a scalar slot, e.g. NAdam's "mu_product"; as many
 * as descent_param_state_shape() gives for Adafactor's factors) under
 * torch's state key ("momentum_buffer" for SGD, "exp_avg" for Adam, …;
 * descent_algorithm_state() lists each algorithm's names and shapes). `*out`
 * is NULL while no step has needed that state yet (it is
 * created on the parameter's first step that uses it). The buffer is owned
 * by the optimizer and lives until descent_free(); the caller may read and
 * write it between steps (this is how state is saved and restored), never
 * during one. State kept in another format than float32 (see
 * descent_param_state_format()) is refused with DESCENT_ERROR_INVALID_STATE.
 * After loading a checkpoint that holds no state of that name
 * for the parameter, a buffer that existed is kept, not freed: it holds what
 * a first step finds (see descent_param_create_state()).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`name` or `out` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE,
 * DESCENT_ERROR_UNKNOWN_OPTION (the algorithm has no state of that name).
 */
DESCENT_API descent_status descent_param_state(descent_optimizer *opt,
                                               size_t index,
                                               const char *name,
                                               float **out);

/**
 * Writes torch's shape of state `name` of parameter `index` (whether or not it
 * exists yet), as descent_param_shape() writes a parameter's: the
 * parameter's shape for element-wise state, none for a scalar slot, and for
 * Adafactor's row_var / col_var the shape with its last / second-to-last
 * dimension 1. Its product is the buffer's length in floats.
 * Returns as descent_param_shape(), and DESCENT_ERROR_NULL_POINTER (`name`),
 * DESCENT_ERROR_UNKNOWN_OPTION (no state of that name),
 * DESCENT_ERROR_INVALID_ARGUMENT also for state the parameter's shape does not
 * keep (as descent_param_create_state()).
 */
DESCENT_API descent_status descent_param_state_shape(const descent_optimizer *opt, size_t index, const char *name,
                                                     size_t *dims, size_t capacity, size_t *ndim_out);

/**
 * Like descent_param_state(), but creates the buffer if it does not exist yet,
 * holding what torch starts it with, so that saved state can be restored into
 * an optimizer that has not stepped. State starts at zero, except Adagrad's
 * "sum" (the optimizer's default initial_accumulator_value, for every group,
 * as torch fills it), NAdam's "mu_product" and ASGD's "mu" (1), and ASGD's
 * "eta" and Rprop's "step_size" (the group's lr when the state is made). A
 * buffer created here counts as existing state: SGD's next step uses a created momentum_buffer
 * instead of copying the gradient into it.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt`, `name` or `out` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE,
 * DESCENT_ERROR_UNKNOWN_OPTION, DESCENT_ERROR_INVALID_ARGUMENT (state that
 * the parameter's shape does not keep: Adafactor's variance of a matrix, or
 * row_var of a vector), DESCENT_ERROR_OUT_OF_MEMORY.
 */
DESCENT_API descent_status descent_param_create_state(descent_optimizer *opt,
                                                      size_t index,
                                                      const char *name,
                                                      float **out);

/**
 * The format state `name` of parameter `index` is kept in, or will be when it
 * is made: DESCENT_STATE_FLOAT32 for scalar state and for every algorithm
 * without DESCENT_OPTION_STATE_DTYPE; otherwise the parameter's group's
 * state_dtype (float32 for "int8" under min_8bit_size elements).
 * descent_param_state() and descent_param_create_state() give float32 state
 * only; state in any format is read and written as float32 values with
 * descent_param_read_state() and descent_param_write_state(), or as stored
 * with descent_param_state_data().
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`name` or `out` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE,
 * DESCENT_ERROR_UNKNOWN_OPTION (no state of that name).
 */
DESCENT_API descent_status descent_param_state_format(const descent_optimizer *opt, size_t index,
                                                      const char *name, descent_state_format *out);

/**
 * Points `*data` at state `name` of parameter `index` as stored, in its format
 * (descent_param_state_format()): float32 or bfloat16 values, or 8-bit codes
 * (one uint8 per element); and `*absmax` at the 8-bit state's float32 absmax
 * values (one per DESCENT_INT8_BLOCK_SIZE elements, the last block possibly
 * partial), or NULL for another format. While no step has made the state,
 * both are NULL, or with `create` nonzero the state is made first (as
 * descent_param_create_state() makes it). The memory lives as
 * descent_param_state()'s does, until descent_free(); it holds the state
 * until the state moves to another format (a changed
 * DESCENT_OPTION_STATE_DTYPE: ask again after the next step). A caller may
 * write it between steps (a saved 8-bit state restored as is).
 * Returns as descent_param_state_format(), and DESCENT_ERROR_INVALID_ARGUMENT
 * and DESCENT_ERROR_OUT_OF_MEMORY as descent_param_create_state(); `absmax`
 * may be NULL.
 */
DESCENT_API descent_status descent_param_state_data(descent_optimizer *opt, size_t index, const char *name,
                                                    int create, void **data, float **absmax);

/**
 * The 256 values of the code map 8-bit state `name` of parameter `index` is
 * quantized with (bitsandbytes' create_dynamic_map: signed, or unsigned for
 * state never below zero), ascending, static: a code's value is
 * `map[code] * absmax`. Returns as descent_param_state_format().
 */
DESCENT_API descent_status descent_param_state_code_map(const descent_optimizer *opt, size_t index,
                                                        const char *name, const float **map);

/**
 * Copies state `name` of parameter `index` into `out` as `count` float32
 * values (decoded from its format; `count` is the state's length, the product
 * of descent_param_state_shape()). `*present` is 1, or 0 with nothing written
 * while no step has made the state.
 * Returns as descent_param_state_format(), and DESCENT_ERROR_INVALID_ARGUMENT
 * (`count` is not the state's length, or state the parameter's shape does not
 * keep).
 */
DESCENT_API descent_status descent_param_read_state(const descent_optimizer *opt, size_t index, const char *name,
                                                    float *out, size_t count, int *present);

/**
 * Sets state `name` of parameter `index` from `count` float32 values, encoded
 * in its format (rounded to bfloat16; quantized to 8 bits, block by block, as
 * a step quantizes), creating it first as descent_param_create_state() does.
 * Loading float32 state into an optimizer whose state is bfloat16 or 8-bit is
 * this call. Returns as descent_param_read_state(), and
 * DESCENT_ERROR_OUT_OF_MEMORY; on error nothing changed.
 */
DESCENT_API descent_status descent_param_write_state(descent_optimizer *opt, size_t index, const char *name,
                                                     const float *values, size_t count);

/**
 * The largest step count a parameter holds: 2^53, as for schedules (every
 * count is then exact as a double, which the per-step scalars read it as).
 * Setting or loading a larger count is refused, and so is a step that would
 * count past it.
 */
#define DESCENT_MAX_STEP_COUNT ((int64_t)1 << 53)

/**
 * Sets the step count of parameter `index` (restoring saved state; it drives
 * bias corrections, Adagrad's lr decay and ASGD's schedule; restore scalar
 * state such as NAdam's "mu_product" with it).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_RANGE,
 * DESCENT_ERROR_INVALID_ARGUMENT (`step` negative or above
 * DESCENT_MAX_STEP_COUNT).
 */
DESCENT_API descent_status descent_param_set_step_count(descent_optimizer *opt,
                                                        size_t index,
                                                        int64_t step);

/* ------------------------------------------------------------------- step */

/**
 * One optimizer step over every parameter of every group that has a
 * gradient, with each group's current hyperparameters (LBFGS: refused with
 * DESCENT_ERROR_UNSUPPORTED; it needs descent_step_closure()). Parameters without a
 * gradient are skipped and their step count does not advance. Optimizer
 * state is allocated on a parameter's first step; if that fails, nothing is
 * updated. It writes the parameters and the state, never the gradients.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_OUT_OF_MEMORY,
 * DESCENT_ERROR_INVALID_STATE (a parameter with a gradient is at
 * DESCENT_MAX_STEP_COUNT: nothing is updated).
 */
DESCENT_API descent_status descent_step(descent_optimizer *opt);

/**
 * Like descent_step(), with this step's gradients passed in: `grads[i]` is
 * the gradient of parameter i (registration order), NULL to skip it (or, for
 * a parameter given a sparse gradient, to use that); `count` must equal the
 * number of parameters. The registered dense gradients are neither
 * used nor changed, and `grads` are only read: the step writes the
 * parameters and the state. Each non-NULL `grads[i]` must not overlap a
 * parameter.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`grads` NULL with count > 0),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_INVALID_ARGUMENT (wrong count),
 * DESCENT_ERROR_OVERLAP, DESCENT_ERROR_OUT_OF_MEMORY,
 * DESCENT_ERROR_INVALID_STATE (as descent_step()).
 */
DESCENT_API descent_status descent_step_with_grads(descent_optimizer *opt,
                                                   const float *const *grads,
                                                   size_t count);

/**
 * Fills every registered gradient buffer with zeros (parameters without a
 * gradient are skipped). Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` NULL),
 * DESCENT_ERROR_INVALID_HANDLE. May be called from inside the optimizer's own
 * step closure (see descent_step_closure()).
 */
DESCENT_API descent_status descent_zero_grad(descent_optimizer *opt);

/**
 * A step closure (torch's `closure`): recomputes the loss at the parameters'
 * current values, writes it to `*loss` and fills the registered gradient
 * buffers (descent_set_grad(); a parameter without one counts as a zero
 * gradient), then returns 0; any other value fails the step
 * (DESCENT_ERROR_CALLBACK). It runs on the calling thread with the
 * optimizer's lock held: from inside it, descent_zero_grad() and
 * descent_set_grad() on the same optimizer are allowed (a closure usually
 * zeroes the gradients first); every other call on it returns
 * DESCENT_ERROR_REENTRANT_CALL. Calls on other optimizers behave as from a
 * descent_lr_lambda.
 */
typedef int (*descent_closure)(void *user_data, double *loss);

/**
 * torch's `step(closure)`: writes the loss of the closure's first call to
 * `*loss` (which may be NULL).
 *
 * LBFGS (the one algorithm that needs it) calls the closure once per function
 * evaluation: up to max_eval times per step (max_iter * 5 / 4 by default),
 * with the parameters moved along its search direction. It follows torch's
 * LBFGS statement for statement, with dot products and sums taken in double
 * (torch rounds to float32 as it goes), on any thread count with the same
 * bits. Memory: (2 * history_size + 12) * numel floats at most, where numel
 * counts every parameter's elements (torch's docs say history_size + 1);
 * the history is kept, and grows to history_size pairs, between steps.
 * Parameters cannot be added after its first step. Every other algorithm
 * calls the closure once, then steps as descent_step() does.
 *
 * When the closure fails, the step ends with nothing half-applied: LBFGS
 * runs up to max_iter iterations per step, and each one is all or nothing.
 * The parameters and the state are put back as they were after the last
 * iteration that completed (before the call, if none did: always the case
 * for a failure in the first call, and for any other algorithm; LBFGS's
 * func_evals keeps counting the call's first evaluation once it succeeded,
 * as torch counts it).
 *
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt` or `closure` NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_CALLBACK (the closure returned
 * non-zero), DESCENT_ERROR_OUT_OF_MEMORY, DESCENT_ERROR_INVALID_STATE
 * (LBFGS: parameters were added after its first step; or as descent_step()),
 * DESCENT_ERROR_REENTRANT_CALL (called from inside a callback of `opt`).
 */
DESCENT_API descent_status descent_step_closure(descent_optimizer *opt, descent_closure closure,
                                                void *user_data, double *loss);

/* ------------------------------------------------------------ LBFGS state */

/**
 * LBFGS's state between steps (torch keeps it as the state of the first
 * parameter), for moving it to and from torch's state_dict. Which entries
 * exist: DESCENT_LBFGS_HAS_* bits (the checkpoint's ALGS flags).
 */
enum {
    DESCENT_LBFGS_HAS_D = 1 << 0,
    DESCENT_LBFGS_HAS_PREV_FLAT_GRAD = 1 << 1,
    DESCENT_LBFGS_HAS_T = 1 << 2,
    DESCENT_LBFGS_T_IS_TENSOR = 1 << 3,      /* a float32 tensor in torch, else a Python float */
    DESCENT_LBFGS_HAS_H_DIAG = 1 << 4,
    DESCENT_LBFGS_H_DIAG_IS_TENSOR = 1 << 5, /* else torch's int 1 */
    DESCENT_LBFGS_HAS_PREV_LOSS = 1 << 6,
    DESCENT_LBFGS_HAS_AL = 1 << 7
};

typedef struct descent_lbfgs_state {
    unsigned flags;      /* DESCENT_LBFGS_HAS_* */
    int64_t func_evals;
    int64_t n_iter;
    size_t numel;        /* elements of each vector (every parameter's, in
                            registration order); 0 when there is none */
    size_t history;      /* pairs in old_dirs / old_stps; entries of ro */
    size_t al_count;     /* entries of al (history_size once torch made it) */
    double t, h_diag, prev_loss;
    float *ro;           /* `history` values; NULL: not read or written */
    float *al;           /* `al_count` values, NaN for torch's None; NULL: not read or written */
} descent_lbfgs_state;

/**
 * Fills `*out` (counts, flags, scalars; ro and al into the arrays it points
 * to when those are not NULL: call once with them NULL to size them), and
 * the first min(capacity, *vector_count) entries of `vectors` (may be NULL
 * when capacity is 0) with the engine's vectors, in this order: d and
 * prev_flat_grad where present, then old_dirs[i], old_stps[i] for each pair,
 * oldest first; `*vector_count` (may be NULL) receives how many there are.
 * The vectors are the engine's memory (numel floats each), readable and
 * writable until the next step, load, descent_lbfgs_set_state() or free.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_UNSUPPORTED (not LBFGS).
 */
DESCENT_API descent_status descent_lbfgs_get_state(descent_optimizer *opt, descent_lbfgs_state *out,
                                                   float **vectors, size_t capacity, size_t *vector_count);

/**
 * Replaces LBFGS's state with `state` and copies of `vectors` (numel floats
 * each, in descent_lbfgs_get_state()'s order; as many as the flags and
 * `history` say). All or nothing. Returns DESCENT_OK,
 * DESCENT_ERROR_NULL_POINTER (a needed pointer NULL),
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_UNSUPPORTED (not LBFGS),
 * DESCENT_ERROR_INVALID_ARGUMENT (unknown flags, negative counters),
 * DESCENT_ERROR_MISMATCH (numel is not the parameters' element count),
 * DESCENT_ERROR_OUT_OF_MEMORY.
 */
DESCENT_API descent_status descent_lbfgs_set_state(descent_optimizer *opt, const descent_lbfgs_state *state,
                                                   const float *const *vectors);

/* ------------------------------------------ gradient utilities, the phase */

/*
 * The optimizer phase of a training step is more than the update: loss-scale
 * unscaling, the inf/NaN check that skips a step, clipping, the update,
 * zeroing the gradients. torch runs each as its own pass over memory;
 * descent_step_phase() does all of them in at most two: one reduction pass
 * over the gradients (only when a norm or a check is asked for) and the update
 * pass, which rewrites each gradient element just before the step reads it
 * and zeroes it just after, while it is in cache.
 *
 * Norms are reduced in double in a fixed order (fixed chunks of the
 * gradients, fixed lanes, fixed folding), so they are bit-identical for any
 * thread count and instruction set. They agree with torch's float32 norms to
 * within about 1e-6 relative (torch's own order of summation differs).
 */

/** What a phase does when a gradient holds inf or NaN (and found_inf is false). */
typedef enum descent_nonfinite_policy {
    /** Step anyway, as torch does without a GradScaler; no check is made. */
    DESCENT_NONFINITE_PROPAGATE = 0,
    /** Skip the step, as GradScaler does: parameters, state and step counts untouched. */
    DESCENT_NONFINITE_SKIP = 1,
    /** Return DESCENT_ERROR_NONFINITE and change nothing. */
    DESCENT_NONFINITE_ERROR = 2
} descent_nonfinite_policy;

/** How a phase clips the gradients. */
typedef enum descent_clip_mode {
    DESCENT_CLIP_NONE = 0,
    /** By the global norm of all gradients the step uses (clip_grad_norm_). */
    DESCENT_CLIP_NORM = 1,
    /** Each element to [-clip_value, clip_value] (clip_grad_value_). */
    DESCENT_CLIP_VALUE = 2
} descent_clip_mode;

/**
 * The parts of a phase, each off by default (descent_step_options_default()):
 * with the defaults a phase is a plain descent_step(). Applied in torch's
 * order: unscale, inf/NaN check, clip, step, zero.
 */
typedef struct descent_step_options {
    /**
     * Gradients are divided by this before anything else, as torch's fused
     * optimizers do with GradScaler's grad_scale (1: no unscaling). Finite
     * and > 0. For dynamic loss scaling, also set nonfinite to
     * DESCENT_NONFINITE_SKIP and shrink the scale when the report says
     * found_inf.
     */
    double grad_scale;
    /** The caller's own inf verdict (GradScaler's found_inf): true skips the step. */
    bool found_inf;
    descent_nonfinite_policy nonfinite;
    descent_clip_mode clip;
    /** DESCENT_CLIP_NORM: the largest total norm kept (>= 0; inf: never clip). */
    double max_norm;
    /** DESCENT_CLIP_NORM: the norm's order p, >= 1 or INFINITY (default 2). */
    double norm_type;
    /** DESCENT_CLIP_NORM: an inf/NaN total norm fails with DESCENT_ERROR_NONFINITE. */
    bool error_if_nonfinite;
    /** DESCENT_CLIP_VALUE: the bound (>= 0). */
    double clip_value;
    /**
     * Fill the gradients with zeros after the step, in the update pass (also
     * when the step is skipped, so that the next backward starts clean).
     */
    bool zero_grad;
} descent_step_options;

/** Why a phase did not step. */
typedef enum descent_skip_reason {
    DESCENT_SKIP_NONE = 0,
    /** The caller's found_inf was true. */
    DESCENT_SKIP_FOUND_INF = 1,
    /** A gradient held inf or NaN under DESCENT_NONFINITE_SKIP. */
    DESCENT_SKIP_NONFINITE = 2
} descent_skip_reason;

/** What a phase did. */
typedef struct descent_step_report {
    /** Total norm of the unscaled gradients before clipping (float32 value); NaN without DESCENT_CLIP_NORM. */
    double total_norm;
    /** The factor clip by norm applied (torch's clamped clip_coef); 1 without. */
    double clip_coef;
    /** Whether a gradient held inf or NaN (the check's finding, or found_inf). */
    bool found_inf;
    descent_skip_reason skipped;
    /** Parameters and elements updated (0 when skipped). */
    size_t params_updated;
    size_t elements_updated;
} descent_step_report;

/**
 * Fills `*out` with the default options: grad_scale 1, found_inf false,
 * DESCENT_NONFINITE_PROPAGATE, DESCENT_CLIP_NONE (max_norm inf, norm_type 2,
 * clip_value inf), error_if_nonfinite false, zero_grad false.
 * Returns DESCENT_OK or DESCENT_ERROR_NULL_POINTER. Thread-safe.
 */
DESCENT_API descent_status descent_step_options_default(descent_step_options *out);

/**
 * The whole optimizer phase: unscale, inf/NaN check, clip, step and zero as
 * `options` asks (NULL: the defaults). `grads` NULL uses the registered
 * gradients (then `count` must be 0); otherwise `grads[i]` is the gradient of
 * parameter i, NULL to skip it, and `count` equals the number of parameters.
 * Unscaled, clipped and zeroed gradients are written back to the gradient
 * buffers, as torch leaves them. When the step is skipped, parameters, state
 * and step counts are untouched. `report` (may be NULL) says what happened.
 * On failure nothing has changed (gradients included).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_INVALID_ARGUMENT (bad option: grad_scale not finite and > 0,
 * max_norm < 0, norm_type < 1, clip_value < 0, unknown enum value; wrong
 * count), DESCENT_ERROR_OVERLAP, DESCENT_ERROR_NONFINITE,
 * DESCENT_ERROR_OUT_OF_MEMORY, DESCENT_ERROR_INVALID_STATE (as descent_step()).
 */
DESCENT_API descent_status descent_step_phase(descent_optimizer *opt,
                                              const descent_step_options *options,
                                              float *const *grads, size_t count,
                                              descent_step_report *report);

/**
 * torch.nn.utils.get_total_norm over `count` gradient buffers (`grads[i]` has
 * `numels[i]` floats; a buffer with 0 elements may be NULL): the norm of all
 * of them as one vector, of order `norm_type` (>= 1 or INFINITY), as a
 * float32 in `*total_norm`. Buffers must not overlap. With
 * `error_if_nonfinite`, an inf/NaN norm returns DESCENT_ERROR_NONFINITE.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`total_norm` NULL; `grads`
 * or `numels` NULL with count > 0), DESCENT_ERROR_INVALID_ARGUMENT (a count
 * above DESCENT_MAX_NUMEL, a NULL or misaligned buffer with elements,
 * norm_type below 1 or NaN), DESCENT_ERROR_OVERLAP, DESCENT_ERROR_NONFINITE.
 * Thread-safe; errors in descent_last_error(NULL).
 */
DESCENT_API descent_status descent_grad_norm(float *const *grads, const size_t *numels,
                                             size_t count, double norm_type,
                                             bool error_if_nonfinite, float *total_norm);

/**
 * torch.nn.utils.clip_grad_norm_: the total norm as descent_grad_norm(), then
 * every gradient multiplied by min(max_norm / (total_norm + 1e-6), 1) in
 * torch's float32 arithmetic. `*total_norm` (may be NULL) receives the norm
 * before clipping. max_norm must be >= 0. Two passes (a norm, a scale).
 * Returns the statuses of descent_grad_norm() (`total_norm` may be NULL
 * here), and DESCENT_ERROR_INVALID_ARGUMENT for a max_norm that is negative
 * or NaN; on failure no gradient has changed.
 * Thread-safe; errors in descent_last_error(NULL).
 */
DESCENT_API descent_status descent_clip_grad_norm(float *const *grads, const size_t *numels,
                                                  size_t count, double max_norm,
                                                  double norm_type, bool error_if_nonfinite,
                                                  float *total_norm);

/**
 * torch.nn.utils.clip_grad_value_: clamps every element to
 * [-clip_value, clip_value] (NaN stays NaN). clip_value must be >= 0.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`grads` or `numels` NULL
 * with count > 0), DESCENT_ERROR_INVALID_ARGUMENT (a count above
 * DESCENT_MAX_NUMEL, a NULL or misaligned buffer with elements, clip_value
 * negative or NaN), DESCENT_ERROR_OVERLAP; on failure no gradient has changed.
 * Thread-safe; errors in descent_last_error(NULL).
 */
DESCENT_API descent_status descent_clip_grad_value(float *const *grads, const size_t *numels,
                                                   size_t count, double clip_value);

/* -------------------------------------------------------------- execution */

/*
 * Process-wide settings for how steps run. Neither changes any result: every
 * instruction set and every thread count give bit-identical parameters and
 * state (Muon's bfloat16 products excepted: they are oneDNN's, below). A
 * step splits the elements of all its parameters into fixed chunks of 16,384
 * elements that the threads of a persistent pool claim in turn
 * (small steps use fewer threads). Steps of different optimizers running at
 * once on different threads share the pool one after the other.
 */

/** The instruction sets Descent has kernels for. */
typedef enum descent_isa {
    /** Baseline x86-64 (SSE2): runs on any x86-64 CPU. */
    DESCENT_ISA_PORTABLE = 0,
    /** AVX2 + FMA. */
    DESCENT_ISA_AVX2 = 1,
    /** AVX-512 F, BW, DQ and VL. */
    DESCENT_ISA_AVX512 = 2
} descent_isa;

/**
 * Sets the threads a step may use, the calling thread included, for every
 * optimizer in the process; 0 restores the default. The default is
 * DESCENT_NUM_THREADS when it is set to a count in 1..1024 (with a warning on
 * stderr otherwise), else the number of CPUs in the process's affinity mask,
 * divided among the ranks sharing the host when LOCAL_WORLD_SIZE (torchrun's)
 * says there are several and the mask holds every CPU (at least 1).
 * Returns DESCENT_OK, DESCENT_ERROR_INVALID_ARGUMENT (outside 0..1024; the
 * message: descent_last_error(NULL)).
 * Thread-safe; takes effect at the next step.
 */
DESCENT_API descent_status descent_set_num_threads(int num_threads);

/** The threads a step may use now (at least 1). Thread-safe. */
DESCENT_API int descent_get_num_threads(void);

/** 1 if this CPU (and its operating system) can run `isa`'s kernels, else 0. */
DESCENT_API int descent_isa_supported(descent_isa isa);

/**
 * Makes every later step run `isa`'s kernels. The default is the best the CPU
 * supports, or the one DESCENT_ISA names ("portable", "avx2", "avx512") when
 * the CPU supports it (a warning on stderr and the best otherwise).
 * Returns DESCENT_OK, DESCENT_ERROR_INVALID_ARGUMENT (not a descent_isa),
 * DESCENT_ERROR_UNSUPPORTED (the CPU cannot run it); the message:
 * descent_last_error(NULL). Thread-safe.
 */
DESCENT_API descent_status descent_set_isa(descent_isa isa);

/** The instruction set whose kernels run now. Thread-safe. */
DESCENT_API descent_isa descent_get_isa(void);

/**
 * The name of `isa` as a static string ("portable", "avx2", "avx512"), or
 * "unknown" for a value outside the enum. Never NULL.
 */
DESCENT_API const char *descent_isa_name(descent_isa isa);

/*
 * Muon's Newton–Schulz iterations are bfloat16 matrix products, which Descent
 * takes from oneDNN 3.x (libdnnl.so.3; torch runs its CPU bfloat16 matmul
 * through oneDNN too), loaded at run time: a program that never steps Muon
 * needs no oneDNN. The first Muon step that has products to compute loads it,
 * from the first of: the file named by the environment variable
 * DESCENT_ONEDNN; libdnnl.so.3 in the directory of libdescent.so (the build
 * and the Python package put it there); the dynamic linker's search
 * (LD_LIBRARY_PATH, the system's). Without it that step fails with
 * DESCENT_ERROR_UNSUPPORTED and changes nothing. Products run on the step's
 * descent_get_num_threads() threads of oneDNN's OpenMP runtime (the calling
 * thread's OpenMP setting is given back after). On a CPU for which oneDNN has
 * no bfloat16 matmul (before AVX-512 or AVX2-VNNI-2) they run in float32 over
 * the same bfloat16 values and round once, as the bfloat16 kernels do. Their
 * rounding is oneDNN's, and may differ between instruction sets and thread
 * counts, where everything else in Descent is bit-identical (see the README).
 * The products and their memory are made before a step changes anything; if
 * oneDNN still fails inside one (its own small allocations), the step ends
 * with DESCENT_ERROR_OUT_OF_MEMORY and a message naming the parameter: those
 * before it were stepped, its momentum buffer and gradient were updated but
 * not its values, and those after it are untouched.
 */

/**
 * Loads oneDNN now: from `path`, or with `path` NULL from where a Muon step
 * would look. Once loaded it stays for the process. Returns DESCENT_OK,
 * DESCENT_ERROR_UNSUPPORTED (not found, not oneDNN 3.x, or another file
 * already loaded; the message, descent_last_error(NULL), names each place
 * tried). Thread-safe.
 */
DESCENT_API descent_status descent_load_onednn(const char *path);

/**
 * The file oneDNN was loaded from, or NULL while it is not loaded. The
 * string lives as long as the process. Thread-safe.
 */
DESCENT_API const char *descent_onednn_path(void);

/* -------------------------------------------------------------- schedules */

/*
 * Learning-rate schedules with torch.optim.lr_scheduler's names, parameters,
 * defaults and lr sequences (torch 2.15). A schedule acts on every group of
 * one optimizer: creating it sets the initial lr (as torch's constructor
 * does), each descent_schedule_step() call moves every group's lr (and, for
 * CyclicLR and OneCycleLR with cycle_momentum, its momentum: SGD's and
 * RMSprop's `momentum`, Adam's and AdamW's `betas[0]`). Call it after
 * descent_step(), as torch wants scheduler.step() after optimizer.step().
 *
 * Every schedule call is all-or-nothing: on failure the groups' hyperparameters
 * and the schedule's state are as they were. A schedule reports failures on
 * its optimizer (descent_last_error(opt)); when the schedule handle itself is
 * invalid, or its optimizer has been freed, the failure goes to
 * descent_last_error(NULL). Calls on a schedule are serialized with the calls
 * on its optimizer.
 *
 * Deliberate differences from torch: parameters torch does not check are
 * checked (T_max, step sizes and total_iters must be in range, gamma > 0,
 * milestones sorted); ReduceLROnPlateau may sit inside SequentialLR and
 * ChainedScheduler; a schedule refuses to run once its optimizer has a
 * different number of groups than at its creation (DESCENT_ERROR_INVALID_STATE).
 */

/** A learning-rate schedule attached to one optimizer. */
typedef struct descent_schedule descent_schedule;

/** Schedule kinds, with torch's class names. Stable numbering. */
typedef enum descent_schedule_kind {
    DESCENT_STEP_LR = 1,
    DESCENT_MULTI_STEP_LR = 2,
    DESCENT_CONSTANT_LR = 3,
    DESCENT_LINEAR_LR = 4,
    DESCENT_EXPONENTIAL_LR = 5,
    DESCENT_POLYNOMIAL_LR = 6,
    DESCENT_COSINE_ANNEALING_LR = 7,
    DESCENT_COSINE_ANNEALING_WARM_RESTARTS = 8,
    DESCENT_CYCLIC_LR = 9,
    DESCENT_ONE_CYCLE_LR = 10,
    DESCENT_REDUCE_LR_ON_PLATEAU = 11,
    DESCENT_LAMBDA_LR = 12,
    DESCENT_MULTIPLICATIVE_LR = 13,
    DESCENT_SEQUENTIAL_LR = 14,
    DESCENT_CHAINED_SCHEDULER = 15,
    DESCENT_WARMUP_COSINE_LR = 16
} descent_schedule_kind;

/**
 * The torch class name of a schedule kind as a static string ("StepLR", …;
 * "WarmupCosineLR" is Descent's own), or NULL for an unknown id. Thread-safe.
 */
DESCENT_API const char *descent_schedule_kind_name(descent_schedule_kind kind);

/* All creation functions below: on success `*out` holds the new schedule
 * (free it with descent_schedule_free()); on failure `*out` is NULL (when
 * `out` is not NULL), the optimizer is unchanged, and the status is one of
 * DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_INVALID_HYPERPARAMETER (torch's message where torch has one,
 * e.g. "Factor should be < 1.0."), DESCENT_ERROR_INVALID_ARGUMENT. */

/** StepLR: lr · gamma every `step_size` steps. torch: gamma = 0.1. */
DESCENT_API descent_status descent_schedule_step_lr(descent_optimizer *opt, int64_t step_size,
                                                    double gamma, descent_schedule **out);

/**
 * MultiStepLR: lr · gamma at each of `count` milestones (sorted; a repeated
 * milestone decays twice). `milestones` may be NULL when `count` is 0.
 * torch: gamma = 0.1.
 */
DESCENT_API descent_status descent_schedule_multi_step_lr(descent_optimizer *opt,
                                                          const int64_t *milestones, size_t count,
                                                          double gamma, descent_schedule **out);

/** ConstantLR: lr · factor until `total_iters`. torch: factor = 1/3, total_iters = 5. */
DESCENT_API descent_status descent_schedule_constant_lr(descent_optimizer *opt, double factor,
                                                        int64_t total_iters, descent_schedule **out);

/**
 * LinearLR: the factor goes linearly from `start_factor` to `end_factor` over
 * `total_iters` steps. torch: 1/3, 1.0, 5.
 */
DESCENT_API descent_status descent_schedule_linear_lr(descent_optimizer *opt, double start_factor,
                                                      double end_factor, int64_t total_iters,
                                                      descent_schedule **out);

/** ExponentialLR: lr · gamma every step. */
DESCENT_API descent_status descent_schedule_exponential_lr(descent_optimizer *opt, double gamma,
                                                           descent_schedule **out);

/** PolynomialLR: decays to 0 over `total_iters` steps. torch: total_iters = 5, power = 1.0. */
DESCENT_API descent_status descent_schedule_polynomial_lr(descent_optimizer *opt, int64_t total_iters,
                                                          double power, descent_schedule **out);

/**
 * CosineAnnealingLR in torch's recursive form (what torch's step() computes).
 * torch: eta_min = 0.0. eta_min must be finite and >= 0 (torch takes a
 * negative one; every optimizer then refuses the lr below 0 it leads to).
 */
DESCENT_API descent_status descent_schedule_cosine_annealing_lr(descent_optimizer *opt, int64_t T_max,
                                                                double eta_min, descent_schedule **out);

/** CosineAnnealingWarmRestarts (SGDR). torch: T_mult = 1, eta_min = 0.0 (finite, >= 0). */
DESCENT_API descent_status descent_schedule_cosine_annealing_warm_restarts(descent_optimizer *opt,
                                                                           int64_t T_0, int64_t T_mult,
                                                                           double eta_min,
                                                                           descent_schedule **out);

/**
 * WarmupCosineLR (Descent's own; the seed document's formula): each group
 * peaks at its lr at creation (`max_lr`). At step t:
 *   t < warmup_steps:               max_lr · t / warmup_steps
 *   warmup_steps <= t < decay_steps: min_lr + 0.5 · (max_lr − min_lr) · (1 + cos(π·p)),
 *                                   p = (t − warmup_steps) / (decay_steps − warmup_steps)
 *   t >= decay_steps:               min_lr
 * t counts steps from creation (0 at creation, +1 per descent_schedule_step):
 * the first optimizer step uses lr 0 (as transformers'
 * get_cosine_schedule_with_warmup), and `decay_steps` is an absolute step,
 * not a length after the warmup; it must be >= warmup_steps >= 0. `min_lr`
 * (finite, >= 0) is one value for every group; it may exceed a group's peak
 * (its lr then rises during the "decay").
 */
DESCENT_API descent_status descent_schedule_warmup_cosine_lr(descent_optimizer *opt, int64_t warmup_steps,
                                                             int64_t decay_steps, double min_lr,
                                                             descent_schedule **out);

/** Where WarmupCosineLR's warmup starts. */
typedef enum descent_warmup_start {
    /** max_lr · t / warmup_steps: lr 0 at the first step (the default). */
    DESCENT_WARMUP_FROM_ZERO = 0,
    /**
     * max_lr · (t + 1) / (warmup_steps + 1): the first step already moves. The
     * only form before 2026-11-30; schedule states saved then resume with it.
     */
    DESCENT_WARMUP_FROM_FIRST_STEP = 1
} descent_warmup_start;

/**
 * descent_schedule_warmup_cosine_lr() with the warmup's start chosen.
 * Returns what it does, and DESCENT_ERROR_INVALID_ARGUMENT for an unknown
 * `start`.
 */
DESCENT_API descent_status descent_schedule_warmup_cosine_lr_with(descent_optimizer *opt, int64_t warmup_steps,
                                                                  int64_t decay_steps, double min_lr,
                                                                  descent_warmup_start start,
                                                                  descent_schedule **out);

typedef enum descent_cyclic_mode {
    DESCENT_CYCLIC_TRIANGULAR = 0,
    DESCENT_CYCLIC_TRIANGULAR2 = 1,
    DESCENT_CYCLIC_EXP_RANGE = 2
} descent_cyclic_mode;

/**
 * CyclicLR's parameters. A value with a `_per_group` pointer applies to every
 * group when the pointer is NULL; otherwise the pointer holds one value per
 * group (the optimizer's group count). Fill with descent_cyclic_lr_defaults().
 */
typedef struct descent_cyclic_lr_options {
    double base_lr;                        /* required (defaults: 0) */
    const double *base_lr_per_group;
    double max_lr;                         /* required (defaults: 0) */
    const double *max_lr_per_group;
    int64_t step_size_up;                  /* 2000 */
    int64_t step_size_down;                /* -1: same as step_size_up (torch's None) */
    descent_cyclic_mode mode;              /* triangular */
    double gamma;                          /* 1.0 (exp_range) */
    bool cycle_momentum;                   /* true */
    double base_momentum;                  /* 0.8 */
    const double *base_momentum_per_group;
    double max_momentum;                   /* 0.9 */
    const double *max_momentum_per_group;
} descent_cyclic_lr_options;

/** torch's CyclicLR defaults. Returns DESCENT_OK or DESCENT_ERROR_NULL_POINTER. */
DESCENT_API descent_status descent_cyclic_lr_defaults(descent_cyclic_lr_options *out);

/** CyclicLR (torch's custom scale_fn is not offered). */
DESCENT_API descent_status descent_schedule_cyclic_lr(descent_optimizer *opt,
                                                      const descent_cyclic_lr_options *options,
                                                      descent_schedule **out);

typedef enum descent_anneal_strategy {
    DESCENT_ANNEAL_COS = 0,
    DESCENT_ANNEAL_LINEAR = 1
} descent_anneal_strategy;

/** OneCycleLR's parameters; `_per_group` pointers as in descent_cyclic_lr_options. */
typedef struct descent_one_cycle_lr_options {
    double max_lr;                         /* required (defaults: 0) */
    const double *max_lr_per_group;
    int64_t total_steps;                   /* required (torch's epochs * steps_per_epoch) */
    double pct_start;                      /* 0.3 */
    descent_anneal_strategy anneal_strategy; /* cos */
    bool cycle_momentum;                   /* true */
    double base_momentum;                  /* 0.85 */
    const double *base_momentum_per_group;
    double max_momentum;                   /* 0.95 */
    const double *max_momentum_per_group;
    double div_factor;                     /* 25.0 */
    double final_div_factor;               /* 1e4 */
    bool three_phase;                      /* false */
} descent_one_cycle_lr_options;

/** torch's OneCycleLR defaults. Returns DESCENT_OK or DESCENT_ERROR_NULL_POINTER. */
DESCENT_API descent_status descent_one_cycle_lr_defaults(descent_one_cycle_lr_options *out);

/** OneCycleLR. Stepping past total_steps returns DESCENT_ERROR_INVALID_STATE. */
DESCENT_API descent_status descent_schedule_one_cycle_lr(descent_optimizer *opt,
                                                         const descent_one_cycle_lr_options *options,
                                                         descent_schedule **out);

typedef enum descent_plateau_mode {
    DESCENT_PLATEAU_MIN = 0,
    DESCENT_PLATEAU_MAX = 1
} descent_plateau_mode;

typedef enum descent_threshold_mode {
    DESCENT_THRESHOLD_REL = 0,
    DESCENT_THRESHOLD_ABS = 1
} descent_threshold_mode;

/** ReduceLROnPlateau's parameters; `min_lr_per_group` as in descent_cyclic_lr_options. */
typedef struct descent_reduce_lr_on_plateau_options {
    descent_plateau_mode mode;             /* min */
    double factor;                         /* 0.1 */
    int64_t patience;                      /* 10 */
    double threshold;                      /* 1e-4 */
    descent_threshold_mode threshold_mode; /* rel */
    int64_t cooldown;                      /* 0 */
    double min_lr;                         /* 0 */
    const double *min_lr_per_group;
    double eps;                            /* 1e-8 */
} descent_reduce_lr_on_plateau_options;

/** torch's ReduceLROnPlateau defaults. Returns DESCENT_OK or DESCENT_ERROR_NULL_POINTER. */
DESCENT_API descent_status descent_reduce_lr_on_plateau_defaults(descent_reduce_lr_on_plateau_options *out);

/**
 * ReduceLROnPlateau. Step it with descent_schedule_step_metric(). Inside a
 * SequentialLR, at its milestone it restarts: counters reset, groups back to
 * their base lrs, that step's metric not compared.
 */
DESCENT_API descent_status descent_schedule_reduce_lr_on_plateau(descent_optimizer *opt,
                                                                 const descent_reduce_lr_on_plateau_options *options,
                                                                 descent_schedule **out);

/**
 * torch's lr_lambda: writes the factor for `group` at `epoch` into `*factor`
 * (which holds 0.0 when called) and returns 0, or returns non-zero to fail the
 * schedule call (DESCENT_ERROR_CALLBACK; nothing changes).
 *
 * It runs on the thread that called into the schedule, with the optimizer's
 * lock held. From inside it:
 *   - a call on the same optimizer or its schedules (also through a callback
 *     nested inside this one) returns DESCENT_ERROR_REENTRANT_CALL;
 *   - a call on another optimizer is allowed and waits for that optimizer as
 *     any call does, except when waiting would deadlock: when the other
 *     optimizer's lock is held by a thread whose own callback waits, directly
 *     or through others, for this optimizer. That call returns
 *     DESCENT_ERROR_REENTRANT_CALL ("waiting would deadlock") instead: of two
 *     callbacks calling each other's optimizers at once, one is refused and
 *     the other proceeds once the first one's call has returned.
 * A refused call's message is this thread's descent_last_error() on the
 * optimizer it called, and descent_last_error(NULL).
 */
typedef int (*descent_lr_lambda)(void *user_data, size_t group, int64_t epoch, double *factor);

/** LambdaLR: lr = base lr · lr_lambda(epoch). `user_data` is passed through. */
DESCENT_API descent_status descent_schedule_lambda_lr(descent_optimizer *opt, descent_lr_lambda lr_lambda,
                                                      void *user_data, descent_schedule **out);

/** MultiplicativeLR: lr = previous lr · lr_lambda(epoch). */
DESCENT_API descent_status descent_schedule_multiplicative_lr(descent_optimizer *opt,
                                                              descent_lr_lambda lr_lambda,
                                                              void *user_data, descent_schedule **out);

/**
 * SequentialLR: runs schedules[i] from milestones[i-1] on (`count` schedules,
 * `count - 1` strictly increasing milestones; `milestones` may be NULL when
 * count is 1). The schedules must be on `opt` and belong to no other
 * composite; from now on they belong to this one: they can be read but not
 * stepped or freed on their own until it is freed.
 */
DESCENT_API descent_status descent_schedule_sequential_lr(descent_optimizer *opt,
                                                          descent_schedule *const *schedules, size_t count,
                                                          const int64_t *milestones,
                                                          descent_schedule **out);

/** ChainedScheduler: each step steps every schedule in order. Ownership as SequentialLR. */
DESCENT_API descent_status descent_schedule_chained_scheduler(descent_optimizer *opt,
                                                              descent_schedule *const *schedules,
                                                              size_t count, descent_schedule **out);

/**
 * Frees a schedule. The groups keep their current lrs. Freeing a composite lets
 * its schedules go (they can be stepped and freed again). NULL is accepted.
 * Returns DESCENT_OK, DESCENT_ERROR_INVALID_HANDLE (already freed),
 * DESCENT_ERROR_INVALID_STATE (it belongs to a composite; free that first);
 * the message of a failure is descent_last_error(NULL). Works after the
 * optimizer has been freed.
 */
DESCENT_API descent_status descent_schedule_free(descent_schedule *schedule);

/**
 * Advances the schedule one step and sets the groups' lrs.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_INVALID_STATE (needs a metric; belongs to a composite; stepped
 * past OneCycleLR's total_steps; group count changed), DESCENT_ERROR_CALLBACK,
 * DESCENT_ERROR_INVALID_HYPERPARAMETER (the new lr is invalid for the optimizer,
 * e.g. a lambda made it negative).
 */
DESCENT_API descent_status descent_schedule_step(descent_schedule *schedule);

/**
 * Like descent_schedule_step(), with the metric ReduceLROnPlateau compares
 * (alone or inside a composite); other schedules ignore it. A NaN metric
 * returns DESCENT_ERROR_INVALID_ARGUMENT.
 */
DESCENT_API descent_status descent_schedule_step_metric(descent_schedule *schedule, double metric);

/**
 * Copies the lr of every group after the last step (torch's get_last_lr())
 * into `out`, which holds `count` doubles; `count` must equal the group count.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_INVALID_ARGUMENT (wrong count).
 */
DESCENT_API descent_status descent_schedule_last_lr(const descent_schedule *schedule, double *out,
                                                    size_t count);

/** Writes torch's last_epoch (0 after creation, +1 per step) into `*out`. */
DESCENT_API descent_status descent_schedule_last_epoch(const descent_schedule *schedule, int64_t *out);

/** Writes the schedule's kind into `*out`. */
DESCENT_API descent_status descent_schedule_get_kind(const descent_schedule *schedule,
                                                     descent_schedule_kind *out);

/**
 * Writes the size in bytes of the schedule's saved state into `*out` (it does
 * not change until the schedule's configuration does).
 */
DESCENT_API descent_status descent_schedule_state_size(const descent_schedule *schedule, size_t *out);

/**
 * Saves the schedule's configuration and progress (with its children's, for a
 * composite) into `buffer` of `size` bytes; `*written` (may be NULL) receives
 * the byte count. Lambdas are not saved (the function is the caller's).
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_INVALID_ARGUMENT (`size` smaller than the state).
 */
DESCENT_API descent_status descent_schedule_save_state(const descent_schedule *schedule, void *buffer,
                                                       size_t size, size_t *written);

/**
 * Restores a saved state into a schedule of the same kind and shape (for
 * composites: the same kinds of children in the same order) and sets the
 * groups' lrs (and cycled momentums) to the saved last values, so that a
 * resumed run continues on the same lr sequence. The state carries the
 * schedule's settings too (T_max, gamma, milestones…): they replace the
 * schedule's own, as torch's load_state_dict does. The state ends with a
 * CRC-32C of its bytes, checked first (states saved before it had one, format
 * version 1, still load); then every value is checked as creation checks it
 * (an lr that is NaN, infinite or negative is refused), all before anything
 * changes. Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER,
 * DESCENT_ERROR_INVALID_HANDLE, DESCENT_ERROR_INVALID_ARGUMENT (not a state,
 * a failed checksum, truncated, another kind, another group count, a value
 * out of range…), DESCENT_ERROR_INVALID_STATE,
 * DESCENT_ERROR_INVALID_HYPERPARAMETER.
 */
DESCENT_API descent_status descent_schedule_load_state(descent_schedule *schedule, const void *buffer,
                                                       size_t size);

/* ------------------------------------------------------------ checkpoints */

/*
 * A checkpoint holds an optimizer's complete state: its algorithm, every
 * group's hyperparameters, every parameter's state buffers and step count,
 * and the state of the schedules created on it (those no composite owns, in
 * creation order). It does not hold the parameters' values or the gradients:
 * they are the caller's (as in torch, where the model's state_dict holds the
 * weights). The format is versioned, self-describing and checksummed per
 * section with CRC-32C; docs/checkpoint-format.md describes it byte by byte.
 *
 * To resume, build the optimizer as before (same algorithm, groups, parameter
 * sizes in the same order, the same schedules created in the same order) over
 * the parameter buffers, then load: the steps that follow give bit-identical
 * parameters and state to a run that never stopped. Lambdas of LambdaLR and
 * MultiplicativeLR are not saved; pass the same functions again. A schedule
 * of the same kind created with other settings takes the checkpoint's (as
 * descent_schedule_load_state() does).
 *
 * Loading checks everything (framing, checksums, every field's range, the fit
 * with this optimizer) before changing anything: a failed load leaves the
 * optimizer and its schedules exactly as they were.
 */

/**
 * Writes into `*out` the size in bytes of a checkpoint of `opt` taken now. It
 * changes when state is first allocated (a parameter's first step) and when
 * schedules are created or freed.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE.
 */
DESCENT_API descent_status descent_checkpoint_size(descent_optimizer *opt, size_t *out);

/**
 * Saves a checkpoint of `opt` into `buffer` of `capacity` bytes and writes its
 * size into `*written` (may be NULL). When `capacity` is too small, nothing is
 * written into `buffer`, `*written` receives the size needed and the call
 * returns DESCENT_ERROR_INVALID_ARGUMENT.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER (`opt`, or `buffer` with a
 * capacity large enough), DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_INVALID_ARGUMENT.
 */
DESCENT_API descent_status descent_checkpoint_save(descent_optimizer *opt, void *buffer, size_t capacity,
                                                   size_t *written);

/**
 * Saves a checkpoint of `opt` to the file `path` atomically: the bytes go to a
 * new temporary file in the same directory ("<path>.tmp-XXXXXX": the path
 * plus 11 bytes, which must fit the system's path limit), which is fsynced,
 * renamed over `path`, and the directory is fsynced. A crash or kill at any
 * moment leaves `path` holding the old checkpoint or the new one, never a mix
 * (a crash before the rename may leave the temporary file behind).
 * What may be at `path`: nothing, or a regular file (replaced); a symlink to
 * a regular file: that file is replaced and the link kept (the temporary file
 * goes next to the file). Anything else (a directory, FIFO, socket, device
 * node, a symlink to one, a dangling symlink) is refused and left as it is.
 * Calls on `opt` wait while the file is written.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_INVALID_ARGUMENT (empty path, not UTF-8), DESCENT_ERROR_IO
 * (not a regular file; or the system refused: the temporary file is removed).
 */
DESCENT_API descent_status descent_checkpoint_save_file(descent_optimizer *opt, const char *path);

/**
 * Restores a checkpoint from `size` bytes at `buffer` into `opt`, which must
 * have the checkpoint's algorithm, group count, parameter count and sizes (in
 * registration order, each in the same group) and schedules. The groups'
 * hyperparameters become the checkpoint's. All-or-nothing.
 * Returns DESCENT_OK, DESCENT_ERROR_NULL_POINTER, DESCENT_ERROR_INVALID_HANDLE,
 * DESCENT_ERROR_CORRUPT_CHECKPOINT, DESCENT_ERROR_MISMATCH,
 * DESCENT_ERROR_OUT_OF_MEMORY.
 */
DESCENT_API descent_status descent_checkpoint_load(descent_optimizer *opt, const void *buffer, size_t size);

/**
 * Reads the file `path` and loads it as descent_checkpoint_load() does. A
 * FIFO, directory, socket or device is refused without blocking or reading.
 * The header and section lengths are checked against the file's size before
 * any payload is read, and only the bytes they declare are read: a file with
 * bytes after the last section is refused unread.
 * Returns its statuses, DESCENT_ERROR_INVALID_ARGUMENT (not UTF-8) and
 * DESCENT_ERROR_IO (missing, unreadable, not a regular file).
 */
DESCENT_API descent_status descent_checkpoint_load_file(descent_optimizer *opt, const char *path);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* DESCENT_H */
