/* hist.c: log-bucketed duration histograms (store.h), and the store's phase timings that use
 * them. Bucket i < 64 holds the value i; above, bucket 32 * (s + 1) + m holds the values
 * whose top six bits are 1m (m: five bits) after a shift by s, so every bucket is within
 * 1/32 of its values. All updates are relaxed atomics: the loop and the flush thread add,
 * the loop reads. */
#include <time.h>

#include "store/store_int.h"

#define SUB_BITS 5
#define SUB (1 << SUB_BITS)

uint64_t st_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int st_hist_bucket_of(uint64_t v)
{
    if (v < 2 * SUB)
        return (int)v;
    int msb = 63 - __builtin_clzll(v);          /* >= SUB_BITS + 1 */
    int shift = msb - SUB_BITS;
    uint64_t b = (uint64_t)SUB * (uint64_t)(shift + 1) + ((v >> shift) - SUB);
    return b < ST_HIST_BUCKETS ? (int)b : ST_HIST_BUCKETS - 1;
}

uint64_t st_hist_bucket_upper(int i)
{
    if (i < 2 * SUB)
        return (uint64_t)i;
    int shift = i / SUB - 1;
    return ((uint64_t)(SUB + i % SUB + 1) << shift) - 1;
}

void st_hist_add(st_hist_t *h, uint64_t ns)
{
    __atomic_add_fetch(&h->b[st_hist_bucket_of(ns)], 1, __ATOMIC_RELAXED);
    __atomic_add_fetch(&h->sumNs, ns, __ATOMIC_RELAXED);
    uint64_t cur = __atomic_load_n(&h->maxNs, __ATOMIC_RELAXED);
    while (ns > cur && !__atomic_compare_exchange_n(&h->maxNs, &cur, ns, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
        ;
    __atomic_add_fetch(&h->count, 1, __ATOMIC_RELAXED);
}

uint64_t st_hist_quantile(const st_hist_t *h, double q)
{
    uint64_t total = 0, max = __atomic_load_n(&h->maxNs, __ATOMIC_RELAXED);
    for (int i = 0; i < ST_HIST_BUCKETS; i++)
        total += __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
    if (total == 0)
        return 0;
    if (q >= 1)
        return max;
    uint64_t want = (uint64_t)(q * (double)total), seen = 0;
    for (int i = 0; i < ST_HIST_BUCKETS; i++) {
        seen += __atomic_load_n(&h->b[i], __ATOMIC_RELAXED);
        if (seen > want) {
            uint64_t u = st_hist_bucket_upper(i);
            return u < max ? u : max;
        }
    }
    return max;
}

const st_phase_stats_t *st_phase_stats(const st_store_t *st) { return &st->phases; }

const char *st_phase_name(int i)
{
    static const char *const names[ST_PHASE_N] = {"append", "cq", "index", "flush_commitlog", "flush_consumequeue",
                                                  "flush_index"};
    return i >= 0 && i < ST_PHASE_N ? names[i] : "?";
}

const st_hist_t *st_phase_hist(const st_phase_stats_t *s, int i)
{
    switch (i) {
    case ST_PHASE_APPEND: return &s->append;
    case ST_PHASE_CQ: return &s->cq;
    case ST_PHASE_INDEX: return &s->index;
    case ST_PHASE_FLUSH_CL: return &s->flushCl;
    case ST_PHASE_FLUSH_CQ: return &s->flushCq;
    default: return &s->flushIndex;
    }
}
