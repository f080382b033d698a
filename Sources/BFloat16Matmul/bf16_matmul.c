#define _GNU_SOURCE
#include "bf16_matmul.h"

#include <dlfcn.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oneapi/dnnl/dnnl.h"

/* The oneDNN functions called, looked up in the loaded library by name. */
#define ONEDNN_FUNCTIONS(X)                                                                       \
    X(dnnl_version) X(dnnl_engine_create) X(dnnl_stream_create) X(dnnl_stream_wait)              \
    X(dnnl_stream_destroy) X(dnnl_memory_desc_create_with_strides) X(dnnl_memory_desc_destroy)   \
    X(dnnl_memory_desc_get_size) X(dnnl_primitive_attr_create) X(dnnl_primitive_attr_destroy)    \
    X(dnnl_primitive_attr_set_scales_mask) X(dnnl_primitive_attr_set_post_ops)                   \
    X(dnnl_primitive_attr_set_scratchpad_mode) X(dnnl_post_ops_create) X(dnnl_post_ops_destroy)  \
    X(dnnl_post_ops_append_sum) X(dnnl_matmul_primitive_desc_create) X(dnnl_primitive_desc_destroy) \
    X(dnnl_primitive_desc_query_md) X(dnnl_primitive_create) X(dnnl_primitive_destroy)          \
    X(dnnl_primitive_execute) X(dnnl_memory_create) X(dnnl_memory_destroy)

static struct {
#define DECLARE(name) __typeof__(name) *name;
    ONEDNN_FUNCTIONS(DECLARE)
#undef DECLARE
    void (*omp_set_num_threads)(int);
    int (*omp_get_max_threads)(void);
    int (*omp_get_thread_num)(void);
    int (*omp_get_num_threads)(void);
    /* libgomp's entry for `#pragma omp parallel` (GCC's ABI, which libgomp keeps). */
    void (*gomp_parallel)(void (*)(void *), void *, unsigned, unsigned);
} onednn;

static pthread_mutex_t load_lock = PTHREAD_MUTEX_INITIALIZER;
static void *library;
static char library_path[4096];
static dnnl_engine_t engine;

static void say(char *message, size_t capacity, const char *format, ...) {
    if (!message || capacity == 0) return;
    va_list args;
    va_start(args, format);
    vsnprintf(message, capacity, format, args);
    va_end(args);
}

static const char *status_name(dnnl_status_t status) {
    switch (status) {
    case dnnl_out_of_memory: return "out of memory";
    case dnnl_invalid_arguments: return "invalid arguments";
    case dnnl_unimplemented: return "unimplemented";
    case dnnl_last_impl_reached: return "no implementation";
    case dnnl_runtime_error: return "runtime error";
    case dnnl_not_required: return "not required";
    default: return "error";
    }
}

/* Takes `handle` as oneDNN if it has every function and the right major version. */
static int adopt(void *handle, const char *path, char *why, size_t capacity) {
#define LOOK_UP(name)                                                                  \
    onednn.name = (__typeof__(name) *)dlsym(handle, #name);                           \
    if (!onednn.name) { say(why, capacity, "%s has no %s", path, #name); return -1; }
    ONEDNN_FUNCTIONS(LOOK_UP)
#undef LOOK_UP
    /* Searched in oneDNN's own dependencies: the OpenMP runtime it runs on. */
    onednn.omp_set_num_threads = (void (*)(int))dlsym(handle, "omp_set_num_threads");
    onednn.omp_get_max_threads = (int (*)(void))dlsym(handle, "omp_get_max_threads");
    onednn.omp_get_thread_num = (int (*)(void))dlsym(handle, "omp_get_thread_num");
    onednn.omp_get_num_threads = (int (*)(void))dlsym(handle, "omp_get_num_threads");
    onednn.gomp_parallel = (void (*)(void (*)(void *), void *, unsigned, unsigned))dlsym(handle, "GOMP_parallel");
    const dnnl_version_t *version = onednn.dnnl_version();
    if (version->major != BF16_MATMUL_ONEDNN_MAJOR) {
        say(why, capacity, "%s is oneDNN %d.%d, not %d.x", path, version->major, version->minor,
            BF16_MATMUL_ONEDNN_MAJOR);
        return -1;
    }
    dnnl_status_t status = onednn.dnnl_engine_create(&engine, dnnl_cpu, 0);
    if (status != dnnl_success) {
        say(why, capacity, "%s: no CPU engine (%s)", path, status_name(status));
        return -1;
    }
    library = handle;
    /* The file the dynamic linker chose (a bare soname was searched for), made absolute. */
    struct link_map *map = NULL;
    const char *found = dlinfo(handle, RTLD_DI_LINKMAP, &map) == 0 && map && map->l_name && map->l_name[0]
                            ? map->l_name : path;
    char *absolute = realpath(found, NULL);
    snprintf(library_path, sizeof library_path, "%s", absolute ? absolute : found);
    free(absolute);
    return 0;
}

/* Tries one file; on failure appends why to `tried`. */
static int try_path(const char *path, char *tried, size_t capacity) {
    void *handle = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    char why[1024];
    if (!handle) {
        const char *error = dlerror();
        snprintf(why, sizeof why, "%s", error ? error : path);
    } else if (adopt(handle, path, why, sizeof why) == 0) {
        return 0;
    } else {
        dlclose(handle);
    }
    size_t used = strlen(tried);
    if (used < capacity) snprintf(tried + used, capacity - used, "%s%s", used ? "; " : "", why);
    return -1;
}

int bf16_matmul_load(const char *path, char *message, size_t capacity) {
    pthread_mutex_lock(&load_lock);
    int result = 0;
    char tried[4096] = "";
    if (library) {
        if (path && strcmp(path, library_path) != 0) {
            say(message, capacity, "oneDNN is already loaded from %s, not %s", library_path, path);
            result = -1;
        }
    } else if (path) {
        result = try_path(path, tried, sizeof tried);
    } else {
        result = -1;
        const char *variable = getenv("DESCENT_ONEDNN");
        if (variable && *variable) result = try_path(variable, tried, sizeof tried);
        Dl_info self;
        if (result != 0 && dladdr((void *)bf16_matmul_load, &self) && self.dli_fname) {
            /* dli_fname is the path as it was loaded, perhaps relative to a working
             * directory the process has left since: made absolute first. */
            char beside[4096];
            char *absolute = realpath(self.dli_fname, NULL);
            snprintf(beside, sizeof beside, "%s", absolute ? absolute : self.dli_fname);
            free(absolute);
            char *slash = strrchr(beside, '/');
            if (slash) {
                snprintf(slash + 1, sizeof beside - (size_t)(slash + 1 - beside), "%s", BF16_MATMUL_ONEDNN_SONAME);
                result = try_path(beside, tried, sizeof tried);
            }
        }
        if (result != 0) result = try_path(BF16_MATMUL_ONEDNN_SONAME, tried, sizeof tried);
    }
    if (result != 0 && tried[0]) say(message, capacity, "cannot load oneDNN: %s", tried);
    pthread_mutex_unlock(&load_lock);
    return result;
}

const char *bf16_matmul_loaded_path(void) {
    pthread_mutex_lock(&load_lock);
    const char *path = library ? library_path : NULL;
    pthread_mutex_unlock(&load_lock);
    return path;
}

/* OpenMP's thread count belongs to the calling thread, and oneDNN fixes a primitive's
 * when it is made: set for the creation and each run, then given back to the caller. */
static int use_threads(int threads) {
    if (threads <= 0 || !onednn.omp_set_num_threads || !onednn.omp_get_max_threads) return 0;
    int saved = onednn.omp_get_max_threads();
    onednn.omp_set_num_threads(threads);
    return saved;
}

static void restore_threads(int saved) {
    if (saved > 0) onednn.omp_set_num_threads(saved);
}

static float from_bf16(uint16_t value) {
    uint32_t bits = (uint32_t)value << 16;
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* Round to nearest even, every NaN to 0x7FC0, as torch's bfloat16 conversion and
 * oneDNN's bfloat16 stores. */
static uint16_t to_bf16(float value) {
    if (value != value) return 0x7FC0;
    uint32_t bits;
    memcpy(&bits, &value, sizeof bits);
    bits += 0x7FFF + ((bits >> 16) & 1);
    return (uint16_t)(bits >> 16);
}

static size_t rounded_up(size_t bytes) { return (bytes + 63) / 64 * 64; }

struct bf16_matmul {
    dnnl_primitive_t primitive;
    float alpha, beta;
    /* oneDNN has no bfloat16 matmul for this CPU (before AVX-512 or AVX2-VNNI-2): the
     * product runs in float32 over float32 copies of the bfloat16 operands (their products
     * are exact in float32, and accumulate in float32 as the bfloat16 kernels do), and
     * the result is rounded to bfloat16 once. */
    int via_f32;
    int64_t m, n, k;
    size_t scratchpad_bytes;
    const_dnnl_memory_desc_t a, b, c, scratchpad; /* owned by the primitive descriptor */
    dnnl_primitive_desc_t descriptor;
};

void bf16_matmul_destroy(bf16_matmul *product) {
    if (!product) return;
    if (product->primitive) onednn.dnnl_primitive_destroy(product->primitive);
    if (product->descriptor) onednn.dnnl_primitive_desc_destroy(product->descriptor);
    free(product);
}

/* Makes the primitive for element type `type` (bf16, or f32 for the fallback). */
static dnnl_status_t make_primitive(bf16_matmul *product, dnnl_data_type_t type, int transposed_b,
                                    const char **step) {
    int64_t m = product->m, n = product->n, k = product->k;
    dnnl_memory_desc_t a = NULL, b = NULL, c = NULL;
    dnnl_primitive_attr_t attributes = NULL;
    dnnl_post_ops_t post_ops = NULL;
    dnnl_dims_t a_dims = {m, k}, a_strides = {k, 1};
    dnnl_dims_t b_dims = {k, n}, b_strides = {transposed_b ? 1 : n, transposed_b ? k : 1};
    dnnl_dims_t c_dims = {m, n}, c_strides = {n, 1};
    *step = "memory descriptors";
    dnnl_status_t status = onednn.dnnl_memory_desc_create_with_strides(&a, 2, a_dims, type, a_strides);
    if (status == dnnl_success) status = onednn.dnnl_memory_desc_create_with_strides(&b, 2, b_dims, type, b_strides);
    if (status == dnnl_success) status = onednn.dnnl_memory_desc_create_with_strides(&c, 2, c_dims, type, c_strides);
    if (status == dnnl_success) {
        *step = "attributes";
        status = onednn.dnnl_primitive_attr_create(&attributes);
    }
    /* Scratch memory comes from each run (user mode): a primitive then runs from any
     * thread, which oneDNN's shared library-managed scratchpad does not allow. */
    if (status == dnnl_success)
        status = onednn.dnnl_primitive_attr_set_scratchpad_mode(attributes, dnnl_scratchpad_mode_user);
    if (status == dnnl_success && product->alpha != 1)
        status = onednn.dnnl_primitive_attr_set_scales_mask(attributes, DNNL_ARG_SRC, 0);
    if (status == dnnl_success && product->beta != 0) {
        status = onednn.dnnl_post_ops_create(&post_ops);
        if (status == dnnl_success)
            status = onednn.dnnl_post_ops_append_sum(post_ops, product->beta, 0, dnnl_data_type_undef);
        if (status == dnnl_success) status = onednn.dnnl_primitive_attr_set_post_ops(attributes, post_ops);
    }
    if (status == dnnl_success) {
        *step = "matmul descriptor";
        status = onednn.dnnl_matmul_primitive_desc_create(&product->descriptor, engine, a, b, NULL, c, attributes);
    }
    if (status == dnnl_success) {
        *step = "matmul primitive";
        status = onednn.dnnl_primitive_create(&product->primitive, product->descriptor);
    }
    if (a) onednn.dnnl_memory_desc_destroy(a);
    if (b) onednn.dnnl_memory_desc_destroy(b);
    if (c) onednn.dnnl_memory_desc_destroy(c);
    if (post_ops) onednn.dnnl_post_ops_destroy(post_ops);
    if (attributes) onednn.dnnl_primitive_attr_destroy(attributes);
    return status;
}

bf16_matmul *bf16_matmul_create(int64_t m, int64_t n, int64_t k, int transposed_b, float alpha, float beta,
                                int threads, char *message, size_t capacity) {
    if (!bf16_matmul_loaded_path()) {
        say(message, capacity, "oneDNN is not loaded");
        return NULL;
    }
    bf16_matmul *product = calloc(1, sizeof *product);
    if (!product) {
        say(message, capacity, "out of memory");
        return NULL;
    }
    product->alpha = alpha;
    product->beta = beta;
    product->m = m, product->n = n, product->k = k;
    const char *step = "";
    int saved = use_threads(threads);
    dnnl_status_t status = make_primitive(product, dnnl_bf16, transposed_b, &step);
    if (status == dnnl_unimplemented) {
        if (product->descriptor) onednn.dnnl_primitive_desc_destroy(product->descriptor);
        product->descriptor = NULL;
        product->via_f32 = 1;
        status = make_primitive(product, dnnl_f32, transposed_b, &step);
    }
    restore_threads(saved);
    if (status != dnnl_success) {
        say(message, capacity, "oneDNN %s for a %lld×%lld·%lld×%lld bfloat16 product: %s", step, (long long)m,
            (long long)k, (long long)k, (long long)n, status_name(status));
        bf16_matmul_destroy(product);
        return NULL;
    }
    product->a = onednn.dnnl_primitive_desc_query_md(product->descriptor, dnnl_query_src_md, 0);
    product->b = onednn.dnnl_primitive_desc_query_md(product->descriptor, dnnl_query_weights_md, 0);
    product->c = onednn.dnnl_primitive_desc_query_md(product->descriptor, dnnl_query_dst_md, 0);
    product->scratchpad = onednn.dnnl_primitive_desc_query_md(product->descriptor, dnnl_query_scratchpad_md, 0);
    product->scratchpad_bytes = product->scratchpad ? onednn.dnnl_memory_desc_get_size(product->scratchpad) : 0;
    return product;
}

size_t bf16_matmul_scratch_bytes(const bf16_matmul *product) {
    size_t bytes = rounded_up(product->scratchpad_bytes);
    if (product->via_f32) {
        size_t m = (size_t)product->m, n = (size_t)product->n, k = (size_t)product->k;
        bytes += rounded_up(m * k * sizeof(float)) + rounded_up(k * n * sizeof(float)) + rounded_up(m * n * sizeof(float));
    }
    return bytes;
}

static void widen(const uint16_t *from, float *to, size_t count) {
    for (size_t i = 0; i < count; i++) to[i] = from_bf16(from[i]);
}

int bf16_matmul_run(const bf16_matmul *product, const uint16_t *a, const uint16_t *b, uint16_t *c, void *scratch,
                    int threads, char *message, size_t capacity) {
    enum { max_args = 5 };
    dnnl_exec_arg_t args[max_args];
    dnnl_memory_t memories[max_args] = {0};
    int count = 0;
    dnnl_stream_t stream = NULL;
    dnnl_memory_desc_t scale_desc = NULL;
    float alpha = product->alpha;
    dnnl_status_t status = dnnl_success;
    const void *a_data = a, *b_data = b;
    void *c_data = c;
    size_t m = (size_t)product->m, n = (size_t)product->n, k = (size_t)product->k;
    if (product->via_f32) {  /* float32 copies after oneDNN's scratchpad */
        char *next = (char *)scratch + rounded_up(product->scratchpad_bytes);
        float *a32 = (float *)next, *b32 = (float *)(next + rounded_up(m * k * sizeof(float)));
        float *c32 = (float *)((char *)b32 + rounded_up(k * n * sizeof(float)));
        widen(a, a32, m * k);
        widen(b, b32, k * n);
        if (product->beta != 0) widen(c, c32, m * n);
        a_data = a32, b_data = b32, c_data = c32;
    }
    struct { int arg; const_dnnl_memory_desc_t desc; const void *data; } inputs[] = {
        {DNNL_ARG_SRC, product->a, a_data}, {DNNL_ARG_WEIGHTS, product->b, b_data}, {DNNL_ARG_DST, product->c, c_data},
        {DNNL_ARG_SCRATCHPAD, product->scratchpad, scratch},
    };
    for (size_t i = 0; i < sizeof inputs / sizeof inputs[0] && status == dnnl_success; i++) {
        if (inputs[i].arg == DNNL_ARG_SCRATCHPAD && !product->scratchpad_bytes) continue;
        status = onednn.dnnl_memory_create(&memories[count], inputs[i].desc, engine, (void *)inputs[i].data);
        if (status == dnnl_success) args[count] = (dnnl_exec_arg_t){inputs[i].arg, memories[count]}, count++;
    }
    if (status == dnnl_success && alpha != 1) {
        dnnl_dims_t one = {1}, unit = {1};
        status = onednn.dnnl_memory_desc_create_with_strides(&scale_desc, 1, one, dnnl_f32, unit);
        if (status == dnnl_success) status = onednn.dnnl_memory_create(&memories[count], scale_desc, engine, &alpha);
        if (status == dnnl_success)
            args[count] = (dnnl_exec_arg_t){DNNL_ARG_ATTR_SCALES | DNNL_ARG_SRC, memories[count]}, count++;
    }
    if (status == dnnl_success) status = onednn.dnnl_stream_create(&stream, engine, dnnl_stream_default_flags);
    if (status == dnnl_success) {
        int saved = use_threads(threads);
        status = onednn.dnnl_primitive_execute(product->primitive, stream, count, args);
        if (status == dnnl_success) status = onednn.dnnl_stream_wait(stream);
        restore_threads(saved);
    }
    if (status == dnnl_success && product->via_f32) {
        const float *c32 = c_data;
        for (size_t i = 0; i < m * n; i++) c[i] = to_bf16(c32[i]);
    }
    if (stream) onednn.dnnl_stream_destroy(stream);
    for (int i = 0; i < max_args; i++)
        if (memories[i]) onednn.dnnl_memory_destroy(memories[i]);
    if (scale_desc) onednn.dnnl_memory_desc_destroy(scale_desc);
    if (status != dnnl_success) {
        say(message, capacity, "oneDNN bfloat16 product: %s", status_name(status));
        return -1;
    }
    return 0;
}

struct parallel_call {
    void (*body)(void *context, int thread, int threads);
    void *context;
};

static void parallel_entry(void *data) {
    struct parallel_call *call = data;
    call->body(call->context, onednn.omp_get_thread_num(), onednn.omp_get_num_threads());
}

void bf16_matmul_parallel(int threads, void (*body)(void *context, int thread, int threads), void *context) {
    if (threads <= 1 || !bf16_matmul_loaded_path() || !onednn.gomp_parallel || !onednn.omp_get_thread_num ||
        !onednn.omp_get_num_threads) {
        body(context, 0, 1);
        return;
    }
    struct parallel_call call = {body, context};
    onednn.gomp_parallel(parallel_entry, &call, (unsigned)threads, 0);
}
