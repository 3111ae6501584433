/* Growable byte buffer used for frame encoding and JSON output.
 * Grows geometrically; keeps a NUL after the data so text users can treat it as a C string. */
#include "common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cm_buf_init(cm_buf_t *b) { b->data = NULL; b->len = b->cap = 0; }

void cm_buf_free(cm_buf_t *b)
{
    free(b->data);
    cm_buf_init(b);
}

void cm_buf_reset(cm_buf_t *b)
{
    b->len = 0;
    if (b->data)
        b->data[0] = 0;
}

int cm_buf_reserve(cm_buf_t *b, size_t extra)
{
    size_t need = b->len + extra + 1;
    if (need < b->len) /* overflow */
        return CM_ENOMEM;
    if (need <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p)
        return CM_ENOMEM;
    b->data = p;
    b->cap = cap;
    return 0;
}

int cm_buf_append(cm_buf_t *b, const void *p, size_t n)
{
    if (cm_buf_reserve(b, n) != 0)
        return CM_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
    return 0;
}

int cm_buf_puts(cm_buf_t *b, const char *s) { return cm_buf_append(b, s, strlen(s)); }
int cm_buf_putc(cm_buf_t *b, char c) { return cm_buf_append(b, &c, 1); }
int cm_buf_put_u8(cm_buf_t *b, uint8_t v) { return cm_buf_append(b, &v, 1); }

int cm_buf_put_be16(cm_buf_t *b, uint16_t v)
{
    uint8_t x[2];
    cm_wbe16(x, v);
    return cm_buf_append(b, x, 2);
}

int cm_buf_put_be32(cm_buf_t *b, uint32_t v)
{
    uint8_t x[4];
    cm_wbe32(x, v);
    return cm_buf_append(b, x, 4);
}

int cm_buf_put_be64(cm_buf_t *b, uint64_t v)
{
    uint8_t x[8];
    cm_wbe64(x, v);
    return cm_buf_append(b, x, 8);
}

int cm_buf_printf(cm_buf_t *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0 || cm_buf_reserve(b, (size_t)n) != 0)
        return CM_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return 0;
}

char *cm_buf_steal(cm_buf_t *b)
{
    char *p = b->data;
    if (!p)
        p = calloc(1, 1);
    cm_buf_init(b);
    return p;
}
