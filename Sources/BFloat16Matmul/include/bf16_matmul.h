#ifndef DESCENT_BF16_MATMUL_H
#define DESCENT_BF16_MATMUL_H

/*
 * bfloat16 matrix products for Muon's Newton–Schulz iterations, from oneDNN's matmul
 * primitive, the library torch itself runs them through on CPU. oneDNN is loaded at run
 * time (dlopen), so that libdescent.so needs it only where Muon runs: C programs that
 * never step Muon load nothing. Values are bfloat16 bit patterns (uint16_t); products
 * accumulate in float32 and round to bfloat16 once, when stored.
 */

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The soname looked for, and the oneDNN major version whose C API this code calls. */
#define BF16_MATMUL_ONEDNN_SONAME "libdnnl.so.3"
#define BF16_MATMUL_ONEDNN_MAJOR 3

/* Loads oneDNN once per process. With `path` NULL it tries, in order: the file named by
 * the environment variable DESCENT_ONEDNN, libdnnl.so.3 in the directory of the library
 * holding this code, then the dynamic linker's own search. With a path, that file alone
 * (and a second call with another path fails if one is already loaded). Returns 0, or -1
 * with a message naming every place tried. Thread-safe. */
int bf16_matmul_load(const char *path, char *message, size_t capacity);

/* The file oneDNN was loaded from, or NULL before a successful load. */
const char *bf16_matmul_loaded_path(void);

/* One product shape: C[m×n] = alpha·(A[m×k] · op(B)) + beta·C, row-major, where op(B) is
 * B[k×n], or with `transposed_b` Bᵀ for a B stored [n×k]. beta 0 ignores C's old values.
 * Made once for `threads` OpenMP threads (oneDNN generates code for it and fixes its
 * thread count), then run any number of times, from any thread. Where oneDNN has no
 * bfloat16 matmul for the CPU (before AVX-512 or AVX2-VNNI-2), the product runs in
 * float32 over float32 copies of the operands (exact: a product of two bfloat16 values
 * fits a float32) and is rounded to bfloat16 once, as the bfloat16 kernels round. */
typedef struct bf16_matmul bf16_matmul;

bf16_matmul *bf16_matmul_create(int64_t m, int64_t n, int64_t k, int transposed_b, float alpha, float beta,
                                int threads, char *message, size_t capacity);
/* The scratch memory a run needs: the caller allocates it (64-byte aligned) before it
 * changes anything, so that a run cannot fail for want of memory halfway through a step.
 * Each concurrent run needs its own. */
size_t bf16_matmul_scratch_bytes(const bf16_matmul *product);
/* Runs on `threads` OpenMP threads (the product's own), giving the calling thread's
 * OpenMP setting back after. Returns 0, or -1 with a message. */
int bf16_matmul_run(const bf16_matmul *product, const uint16_t *a, const uint16_t *b, uint16_t *c, void *scratch,
                    int threads, char *message, size_t capacity);
void bf16_matmul_destroy(bf16_matmul *product);

/* Runs body(context, thread, threads) once on each of up to `threads` threads of
 * oneDNN's OpenMP team, the threads its products run on; returns when all have. The
 * work between products belongs there: on threads of their own it would share the
 * cores with OpenMP workers that spin for a while after each product. Before oneDNN is
 * loaded (or on a runtime without GOMP_parallel) body runs once, on the calling thread,
 * as thread 0 of 1. */
void bf16_matmul_parallel(int threads, void (*body)(void *context, int thread, int threads), void *context);

#ifdef __cplusplus
}
#endif
#endif
