// Throwaway measurement for choosing Discern's bf16 GEMM library (docs/performance.md, "bf16 GEMM
// library"). Not part of `discern`: launch/gemm-candidates/run builds and runs it.
//
// For each shape (m rows, n outputs, k inputs) it times, in one process, best of repeated runs:
//   sgemm    OpenBLAS cblas_sgemm on fp32 operands (the fp32 path Discern has today)
//   dnnl     oneDNN matmul primitive, bf16 src/weights, f32 dst, user scratchpad, created once
//   dnnlgemm oneDNN's exported (undocumented in its header) dnnl_gemm_bf16bf16f32
//   xsmm     libxsmm_bsgemm, libxsmm's BLAS-like bf16 front end (single-threaded; small shapes only)
//   xsmmjit  libxsmm JIT kernels (bsmmdispatch) over 64-wide tiles of a pre-packed VNNI weight:
//            the best case for libxsmm (OpenMP over tiles); "+pack" adds the per-call VNNI repack
//            of a plain row-major weight, which is what the bf16Gemm API would hand it
// Orientation: "NT" is the forward x W^T (W stored (n, k)), "NN" the input gradient dy W
// (W stored (k, n)). Also counts heap allocations of a repeated call (malloc wrapped below).
#define _GNU_SOURCE
#include <cblas.h>
#include <libxsmm.h>
#include <math.h>
#include <omp.h>
#include <oneapi/dnnl/dnnl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
static _Atomic long allocations;
void *malloc(size_t s) { allocations++; return __libc_malloc(s); }
void *calloc(size_t c, size_t s) { allocations++; return __libc_calloc(c, s); }
void *realloc(void *p, size_t s) { allocations++; return __libc_realloc(p, s); }
void *memalign(size_t a, size_t s) { allocations++; return __libc_memalign(a, s); }
void *aligned_alloc(size_t a, size_t s) { allocations++; return __libc_memalign(a, s); }
int posix_memalign(void **r, size_t a, size_t s) { allocations++; *r = __libc_memalign(a, s); return *r || !s ? 0 : 12; }

dnnl_status_t dnnl_gemm_bf16bf16f32(char transa, char transb, dnnl_dim_t M, dnnl_dim_t N, dnnl_dim_t K, float alpha,
                                    const uint16_t *A, dnnl_dim_t lda, const uint16_t *B, dnnl_dim_t ldb, float beta, float *C,
                                    dnnl_dim_t ldc);

#define CHECK(x) do { dnnl_status_t s_ = (x); if (s_ != dnnl_success) { fprintf(stderr, "%s: %d\n", #x, s_); exit(1); } } while (0)

static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static uint16_t bf16(float f) { uint32_t u; memcpy(&u, &f, 4); u += 0x7FFF + ((u >> 16) & 1); return (uint16_t)(u >> 16); }
static float widen(uint16_t h) { uint32_t u = (uint32_t)h << 16; float f; memcpy(&f, &u, 4); return f; }

typedef void (*body_t)(void *);
// One warm-up run, then repeats for at least `seconds`; the best repetition.
static double best(body_t f, void *ctx, double seconds) {
    f(ctx);
    double best = 1e30, start = now();
    int runs = 0;
    while (runs < 3 || now() - start < seconds) { double t = now(); f(ctx); t = now() - t; if (t < best) best = t; runs++; }
    return best;
}
static long allocs_per_call(body_t f, void *ctx) { f(ctx); long before = allocations; for (int i = 0; i < 10; i++) f(ctx); return (allocations - before) / 10; }

typedef struct {
    int m, n, k, transB;
    float *a32, *b32, *c;
    uint16_t *a16, *b16, *bvnni;
    dnnl_primitive_t prim; dnnl_stream_t stream; dnnl_exec_arg_t args[4]; void *scratch;
    libxsmm_bsmmfunction tile, tail;
} problem;

static void run_sgemm(void *p_) { problem *p = p_;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, p->transB ? CblasTrans : CblasNoTrans, p->m, p->n, p->k, 1, p->a32, p->k, p->b32,
                p->transB ? p->k : p->n, 0, p->c, p->n); }
static void run_dnnl(void *p_) { problem *p = p_;
    dnnl_memory_set_data_handle(p->args[0].memory, p->a16); dnnl_memory_set_data_handle(p->args[1].memory, p->b16);
    dnnl_memory_set_data_handle(p->args[2].memory, p->c);
    CHECK(dnnl_primitive_execute(p->prim, p->stream, 4, p->args)); }
static void run_dnnlgemm(void *p_) { problem *p = p_;
    CHECK(dnnl_gemm_bf16bf16f32('N', p->transB ? 'T' : 'N', p->m, p->n, p->k, 1, p->a16, p->k, p->b16, p->transB ? p->k : p->n, 0, p->c, p->n)); }
static void run_xsmm(void *p_) { problem *p = p_;
    // Column-major view of the row-major product: C^T (n, m) = op(B)^T A^T.
    const char ta = p->transB ? 'T' : 'N', tb = 'N'; const float alpha = 1, beta = 0;
    const libxsmm_blasint M = p->n, N = p->m, K = p->k, lda = p->transB ? p->k : p->n, ldb = p->k, ldc = p->n;
    libxsmm_bsgemm(&ta, &tb, &M, &N, &K, &alpha, (const libxsmm_bfloat16 *)p->b16, &lda, (const libxsmm_bfloat16 *)p->a16, &ldb, &beta, p->c, &ldc); }
// Column-major C^T (n, m) = W' (n, k) * A^T (k, m); W' is VNNI-packed [k/2][n][2]; tiles of 64 outputs.
static void run_xsmmjit(void *p_) { problem *p = p_;
    int tiles = (p->n + 63) / 64;
    #pragma omp parallel for schedule(static)
    for (int t = 0; t < tiles; t++) {
        int n0 = 64 * t;
        libxsmm_bsmmfunction f = (p->n - n0 >= 64) ? p->tile : p->tail;
        f((const libxsmm_bfloat16 *)(p->bvnni + 2 * n0), (const libxsmm_bfloat16 *)p->a16, p->c + n0);
    }
}

// VNNI pack of W' (n, k) col-major = op(B)^T: element (j, kk) at [kk/2][j][kk%2]. libxsmm needs it
// per call when the caller hands a plain row-major weight; timed separately ("+pack").
static void pack_vnni(void *p_) { problem *p = p_;
    #pragma omp parallel for schedule(static)
    for (int kk = 0; kk < p->k; kk++) for (int j = 0; j < p->n; j++) {
        uint16_t w = p->transB ? p->b16[(size_t)j * p->k + kk] : p->b16[(size_t)kk * p->n + j];
        p->bvnni[((size_t)(kk / 2) * p->n + j) * 2 + kk % 2] = w;
    }
}
static double gflops(problem *p, double s) { return 2.0 * p->m * p->n * p->k / s / 1e9; }

int main(int argc, char **argv) {
    if (argc < 3 || (argc - 2) % 4 != 0) { fprintf(stderr, "usage: %s THREADS {NT|NN} M N K ...\n", argv[0]); return 2; }
    int threads = atoi(argv[1]);
    openblas_set_num_threads(threads); omp_set_num_threads(threads);
    libxsmm_init();
    dnnl_engine_t engine; CHECK(dnnl_engine_create(&engine, dnnl_cpu, 0));
    dnnl_stream_t stream; CHECK(dnnl_stream_create(&stream, engine, dnnl_stream_default_flags));
    printf("# threads=%d openblas=%s dnnl_isa=%d libxsmm_target=%s\n", threads, openblas_get_corename(), (int)dnnl_get_effective_cpu_isa(),
           libxsmm_get_target_arch());
    printf("%-4s %5s %6s %6s | %8s %8s %8s %8s %8s %8s | GFLOP/s; allocations per call: dnnl dnnlgemm xsmm xsmmjit; max|diff| dnnl vs fp64\n",
           "op", "m", "n", "k", "sgemm", "dnnl", "dnnlgemm", "xsmm", "xsmmjit", "+pack");
    for (int s = 2; s < argc; s += 4) {
        problem p = {.transB = strcmp(argv[s], "NT") == 0, .m = atoi(argv[s + 1]), .n = atoi(argv[s + 2]), .k = atoi(argv[s + 3]), .stream = stream};
        size_t sa = (size_t)p.m * p.k, sb = (size_t)p.k * p.n, sc = (size_t)p.m * p.n;
        p.a32 = __libc_memalign(64, 4 * sa); p.b32 = __libc_memalign(64, 4 * sb); p.c = __libc_memalign(64, 4 * sc);
        p.a16 = __libc_memalign(64, 2 * sa); p.b16 = __libc_memalign(64, 2 * sb); p.bvnni = __libc_memalign(64, 2 * sb + 128);
        srand(1);
        for (size_t i = 0; i < sa; i++) { p.a16[i] = bf16(rand() / (float)RAND_MAX - 0.5f); p.a32[i] = widen(p.a16[i]); }
        for (size_t i = 0; i < sb; i++) { p.b16[i] = bf16(rand() / (float)RAND_MAX - 0.5f); p.b32[i] = widen(p.b16[i]); }
        memset(p.bvnni, 0, 2 * sb + 128);
        pack_vnni(&p);
        // oneDNN matmul: strides express the row-major layouts and the transposed weight.
        dnnl_memory_desc_t amd, bmd, cmd;
        CHECK(dnnl_memory_desc_init_by_strides(&amd, 2, (dnnl_dims_t){p.m, p.k}, dnnl_bf16, (dnnl_dims_t){p.k, 1}));
        CHECK(dnnl_memory_desc_init_by_strides(&bmd, 2, (dnnl_dims_t){p.k, p.n}, dnnl_bf16,
                                               p.transB ? (dnnl_dims_t){1, p.k} : (dnnl_dims_t){p.n, 1}));
        CHECK(dnnl_memory_desc_init_by_strides(&cmd, 2, (dnnl_dims_t){p.m, p.n}, dnnl_f32, (dnnl_dims_t){p.n, 1}));
        dnnl_matmul_desc_t desc; CHECK(dnnl_matmul_desc_init(&desc, &amd, &bmd, NULL, &cmd));
        dnnl_primitive_attr_t attr; CHECK(dnnl_primitive_attr_create(&attr));
        CHECK(dnnl_primitive_attr_set_scratchpad_mode(attr, dnnl_scratchpad_mode_user));
        dnnl_primitive_desc_t pd; CHECK(dnnl_primitive_desc_create(&pd, &desc, attr, engine, NULL));
        const char *impl; CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
        const dnnl_memory_desc_t *smd = dnnl_primitive_desc_query_md(pd, dnnl_query_scratchpad_md, 0);
        size_t scratch = dnnl_memory_desc_get_size(smd);
        p.scratch = __libc_memalign(64, scratch + 64);
        CHECK(dnnl_primitive_create(&p.prim, pd));
        dnnl_memory_t ma, mb, mc, ms;
        CHECK(dnnl_memory_create(&ma, &amd, engine, p.a16)); CHECK(dnnl_memory_create(&mb, &bmd, engine, p.b16));
        CHECK(dnnl_memory_create(&mc, &cmd, engine, p.c)); CHECK(dnnl_memory_create(&ms, smd, engine, p.scratch));
        p.args[0] = (dnnl_exec_arg_t){DNNL_ARG_SRC, ma}; p.args[1] = (dnnl_exec_arg_t){DNNL_ARG_WEIGHTS, mb};
        p.args[2] = (dnnl_exec_arg_t){DNNL_ARG_DST, mc}; p.args[3] = (dnnl_exec_arg_t){DNNL_ARG_SCRATCHPAD, ms};
        // libxsmm tiles: M' = 64 outputs (tail for the rest), N' = m rows, K = k.
        float one = 1, zero = 0; int flags = LIBXSMM_GEMM_FLAG_VNNI_A | LIBXSMM_GEMM_FLAG_BETA_0;
        libxsmm_blasint lda = p.n, ldb = p.k, ldc = p.n;
        p.tile = libxsmm_bsmmdispatch(64, p.m, p.k, &lda, &ldb, &ldc, &one, &zero, &flags, NULL);
        p.tail = p.n % 64 ? libxsmm_bsmmdispatch(p.n % 64, p.m, p.k, &lda, &ldb, &ldc, &one, &zero, &flags, NULL) : p.tile;

        // Accuracy of the oneDNN result against a float64 product of the same bf16 inputs.
        run_dnnl(&p);
        double worst = 0;
        for (int i = 0; i < p.m; i += 7) for (int j = 0; j < p.n; j += 5) {
            double sum = 0;
            for (int kk = 0; kk < p.k; kk++) sum += (double)p.a32[(size_t)i * p.k + kk] * (p.transB ? p.b32[(size_t)j * p.k + kk] : p.b32[(size_t)kk * p.n + j]);
            worst = fmax(worst, fabs(sum - p.c[(size_t)i * p.n + j]));
        }
        double t0 = best(run_sgemm, &p, 0.2), t1 = best(run_dnnl, &p, 0.2), t2 = best(run_dnnlgemm, &p, 0.2);
        // libxsmm_bsgemm runs a reference loop (about 0.1 GFLOP/s): timed once, on small shapes only.
        int small = 2.0 * p.m * p.n * p.k < 2e8;
        double t3 = threads == 1 && small ? best(run_xsmm, &p, 0) : NAN;
        double t4 = p.tile ? best(run_xsmmjit, &p, 0.2) : NAN, t5 = best(pack_vnni, &p, 0.1);
        long a1 = allocs_per_call(run_dnnl, &p), a2 = allocs_per_call(run_dnnlgemm, &p), a3 = threads == 1 && small ? allocs_per_call(run_xsmm, &p) : -1;
        long a4 = p.tile ? allocs_per_call(run_xsmmjit, &p) : -1;
        printf("%-4s %5d %6d %6d | %8.1f %8.1f %8.1f %8.1f %8.1f %8.1f | %ld %ld %ld %ld; %.2g  [%s, scratch %zu B]\n", argv[s], p.m, p.n, p.k,
               gflops(&p, t0), gflops(&p, t1), gflops(&p, t2), gflops(&p, t3), gflops(&p, t4), gflops(&p, t4 + t5), a1, a2, a3, a4, worst, impl, scratch);
        fflush(stdout);
        dnnl_primitive_destroy(p.prim); dnnl_primitive_desc_destroy(pd); dnnl_primitive_attr_destroy(attr);
        dnnl_memory_destroy(ma); dnnl_memory_destroy(mb); dnnl_memory_destroy(mc); dnnl_memory_destroy(ms);
        free(p.a32); free(p.b32); free(p.c); free(p.a16); free(p.b16); free(p.bvnni); free(p.scratch);
    }
    return 0;
}
