/* A binary min-heap of items that know their index (cm_heap_t in common.h): the deadline heaps
 * of parked pulls and POP receives, and POP's invisible-time heap. Knowing its index lets any
 * item leave in O(log n), so a closed connection's waits go without a scan. */
#include "common.h"

#include <stdlib.h>

static void set(cm_heap_t *h, size_t i, void *x)
{
    h->v[i] = x;
    h->pos(x, i);
}

static void up(cm_heap_t *h, size_t i)
{
    void *x = h->v[i];
    while (i > 0 && h->key(h->v[(i - 1) / 2]) > h->key(x)) {
        set(h, i, h->v[(i - 1) / 2]);
        i = (i - 1) / 2;
    }
    set(h, i, x);
}

static void down(cm_heap_t *h, size_t i)
{
    void *x = h->v[i];
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->key(h->v[c + 1]) < h->key(h->v[c]))
            c++;
        if (h->key(h->v[c]) >= h->key(x))
            break;
        set(h, i, h->v[c]);
        i = c;
    }
    set(h, i, x);
}

int cm_heap_push(cm_heap_t *h, void *x)
{
    if (h->n == h->cap) {
        size_t cap = h->cap ? h->cap * 2 : 64;
        void **v = realloc(h->v, cap * sizeof *v);
        if (!v)
            return CM_ENOMEM;
        h->v = v;
        h->cap = cap;
    }
    set(h, h->n++, x);
    up(h, h->n - 1);
    return 0;
}

void cm_heap_remove(cm_heap_t *h, size_t i)
{
    void *last = h->v[--h->n];
    if (i == h->n)
        return;
    set(h, i, last);
    up(h, i);
    down(h, i);
}

void cm_heap_free(cm_heap_t *h)
{
    free(h->v);
    h->v = NULL;
    h->n = h->cap = 0;
}
