/* The roofline of an optimizer step: a plain kernel that moves the same bytes as the
 * step (reads the gradient and every read-write buffer, writes the read-write buffers
 * back) with no math beyond one add, so its speed is the machine's memory bandwidth for
 * that access pattern. Built by bench/benchmark.py with gcc -O3 -march=native -fopenmp.
 *
 *   roofline_step(grad, buffers, nbuffers, n, threads): for every i,
 *       buffers[k][i] = buffers[k][i] + grad[i]   (k = 0 .. nbuffers-1)
 *
 * Adam moves p, m, v (3 buffers) plus g: 28 bytes per element; SGD with momentum p, b
 * plus g: 20 bytes.
 *
 *   roofline_phase(g, p, m, v, n, threads): the optimizer phase's two passes, a
 *       reduction that reads g (the norm) and a pass that reads g, p, m, v and writes
 *       p, m, v and g (zeroed): 36 bytes per element. Returns the reduction.
 *
 *   roofline_tensors(g, p, sizes, ntensors, m, v, threads): roofline_step's 3-buffer
 *       pattern over the caller's tensors where they are (g[t] and p[t] of sizes[t]
 *       floats each), with m and v end to end as Descent's state arena keeps them. The
 *       elements are split evenly over the threads, as a step splits them. Its speed
 *       against roofline_step's is what the caller's memory layout costs, if anything
 *       (thousands of small allocations over the heap against one contiguous buffer:
 *       measured at 99-101% here).
 *
 *   roofline_rows(g, p, m, v, rows, nrows, row_size, threads): the 3-buffer pattern over
 *       rows of p, m and v (`rows[k]`, each `row_size` floats, where row k of g is
 *       g[k * row_size ...]): a sparse step's memory traffic (SparseAdam on an embedding),
 *       rows split evenly over the threads.
 *
 *   roofline_state(g, p, m, v, state_bytes, n, threads): an AdamW step's traffic with its
 *       two state buffers of `state_bytes` bytes per element (4 float32, 2 bfloat16, 1
 *       8-bit codes; the 8-bit absmax, 8 bytes per 256 elements, is left out): reads g,
 *       p, m, v and writes p, m, v, 12 + 4 * state_bytes bytes per element.
 *
 *   roofline_low(g, p, master, m, v, state_bytes, n, threads): the same with a 16-bit
 *       parameter and gradient (bfloat16, float16), and a float32 master copy read and
 *       written too unless `master` is NULL: 6 (+ 8) + 4 * state_bytes bytes per element. */
#include <stddef.h>
#include <omp.h>

#define ROW(k) b##k[i] = b##k[i] + g[i]

int roofline_step(const float *restrict g, float *const *buffers, int nbuffers, size_t n, int threads) {
    float *restrict b0 = buffers[0];
    float *restrict b1 = nbuffers > 1 ? buffers[1] : 0;
    float *restrict b2 = nbuffers > 2 ? buffers[2] : 0;
    float *restrict b3 = nbuffers > 3 ? buffers[3] : 0;
    switch (nbuffers) {
    case 1:
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) { ROW(0); }
        return 0;
    case 2:
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) { ROW(0); ROW(1); }
        return 0;
    case 3:
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) { ROW(0); ROW(1); ROW(2); }
        return 0;
    case 4:
#pragma omp parallel for num_threads(threads) schedule(static)
        for (size_t i = 0; i < n; i++) { ROW(0); ROW(1); ROW(2); ROW(3); }
        return 0;
    default:
        return -1;
    }
}

double roofline_phase(float *restrict g, float *restrict p, float *restrict m, float *restrict v, size_t n,
                      int threads) {
    double sum = 0;
/* simd: lets the compiler split the sum over vector lanes, as any fast reduction does. */
#pragma omp parallel for simd num_threads(threads) schedule(static) reduction(+ : sum)
    for (size_t i = 0; i < n; i++) sum += g[i];
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) {
        p[i] = p[i] + g[i];
        m[i] = m[i] + g[i];
        v[i] = v[i] + g[i];
        g[i] = 0;
    }
    return sum;
}

int roofline_tensors(const float *const *g, float *const *p, const size_t *sizes, size_t ntensors,
                     float *restrict m, float *restrict v, int threads) {
    size_t total = 0;
    for (size_t t = 0; t < ntensors; t++) total += sizes[t];
#pragma omp parallel num_threads(threads)
    {
        size_t id = (size_t)omp_get_thread_num(), count = (size_t)omp_get_num_threads();
        size_t low = total * id / count, high = total * (id + 1) / count, start = 0;
        for (size_t t = 0; t < ntensors && start < high; start += sizes[t], t++) {
            size_t end = start + sizes[t];
            if (end <= low) continue;
            size_t a = low > start ? low - start : 0, b = (high < end ? high : end) - start;
            const float *restrict gt = g[t];
            float *restrict pt = p[t], *restrict mt = m + start, *restrict vt = v + start;
            for (size_t i = a; i < b; i++) {
                pt[i] = pt[i] + gt[i];
                mt[i] = mt[i] + gt[i];
                vt[i] = vt[i] + gt[i];
            }
        }
    }
    return 0;
}

int roofline_rows(const float *restrict g, float *restrict p, float *restrict m, float *restrict v,
                  const long long *rows, size_t nrows, size_t row_size, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t k = 0; k < nrows; k++) {
        size_t base = (size_t)rows[k] * row_size;
        const float *restrict gk = g + k * row_size;
        for (size_t j = 0; j < row_size; j++) {
            p[base + j] = p[base + j] + gk[j];
            m[base + j] = m[base + j] + gk[j];
            v[base + j] = v[base + j] + gk[j];
        }
    }
    return 0;
}

#define STATE_ROW(type)                                                                  \
    do {                                                                                 \
        type *restrict mm = m, *restrict vv = v;                                         \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                \
        for (size_t i = 0; i < n; i++) {                                                 \
            p[i] = p[i] + g[i];                                                          \
            mm[i] = (type)(mm[i] + 1);                                                   \
            vv[i] = (type)(vv[i] + 1);                                                   \
        }                                                                                \
    } while (0)

int roofline_state(const float *restrict g, float *restrict p, void *m, void *v, int state_bytes, size_t n,
                   int threads) {
    switch (state_bytes) {
    case 4: STATE_ROW(unsigned int); return 0;
    case 2: STATE_ROW(unsigned short); return 0;
    case 1: STATE_ROW(unsigned char); return 0;
    default: return -1;
    }
}

#define LOW_ROW(type, master_row)                                                        \
    do {                                                                                 \
        type *restrict mm = m, *restrict vv = v;                                         \
        _Pragma("omp parallel for num_threads(threads) schedule(static)")                \
        for (size_t i = 0; i < n; i++) {                                                 \
            master_row;                                                                  \
            p[i] = (unsigned short)(p[i] + g[i]);                                        \
            mm[i] = (type)(mm[i] + 1);                                                   \
            vv[i] = (type)(vv[i] + 1);                                                   \
        }                                                                                \
    } while (0)

#define LOW_ROWS(type)                                                                   \
    do {                                                                                 \
        if (master) LOW_ROW(type, master[i] = master[i] + 1);                            \
        else LOW_ROW(type, (void)0);                                                     \
    } while (0)

int roofline_low(const unsigned short *restrict g, unsigned short *restrict p, float *restrict master, void *m,
                 void *v, int state_bytes, size_t n, int threads) {
    switch (state_bytes) {
    case 4: LOW_ROWS(unsigned int); return 0;
    case 2: LOW_ROWS(unsigned short); return 0;
    case 1: LOW_ROWS(unsigned char); return 0;
    default: return -1;
    }
}
