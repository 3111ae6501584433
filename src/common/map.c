/* A string-keyed hash map (chained, power-of-two buckets, grows at load 1) for tables that
 * the hot path consults by name: topics, groups, (topic, queue) states. */
#include "common.h"

#include <stdlib.h>
#include <string.h>

static uint64_t hash(const char *s)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    while (*s)
        h = (h ^ (uint8_t)*s++) * 1099511628211ULL;
    return h;
}

int cm_map_init(cm_map_t *m)
{
    m->nbuckets = 16;
    m->n = 0;
    m->buckets = calloc(m->nbuckets, sizeof *m->buckets);
    return m->buckets ? 0 : CM_ENOMEM;
}

void cm_map_free(cm_map_t *m, void (*free_val)(void *))
{
    for (size_t i = 0; i < m->nbuckets; i++) {
        cm_map_entry_t *e = m->buckets[i];
        while (e) {
            cm_map_entry_t *n = e->next;
            if (free_val)
                free_val(e->val);
            free(e->key);
            free(e);
            e = n;
        }
    }
    free(m->buckets);
    memset(m, 0, sizeof *m);
}

void *cm_map_get(const cm_map_t *m, const char *key)
{
    if (!m->buckets)
        return NULL;
    for (cm_map_entry_t *e = m->buckets[hash(key) & (m->nbuckets - 1)]; e; e = e->next)
        if (strcmp(e->key, key) == 0)
            return e->val;
    return NULL;
}

static void rehash(cm_map_t *m)
{
    size_t nb = m->nbuckets * 2;
    cm_map_entry_t **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* keep the old table: slower, still correct */
    for (size_t i = 0; i < m->nbuckets; i++) {
        cm_map_entry_t *e = m->buckets[i];
        while (e) {
            cm_map_entry_t *n = e->next;
            size_t j = hash(e->key) & (nb - 1);
            e->next = b[j];
            b[j] = e;
            e = n;
        }
    }
    free(m->buckets);
    m->buckets = b;
    m->nbuckets = nb;
}

int cm_map_put(cm_map_t *m, const char *key, void *val)
{
    if (!m->buckets && cm_map_init(m))
        return CM_ENOMEM;
    size_t i = hash(key) & (m->nbuckets - 1);
    for (cm_map_entry_t *e = m->buckets[i]; e; e = e->next)
        if (strcmp(e->key, key) == 0) {
            e->val = val;
            return 0;
        }
    cm_map_entry_t *e = malloc(sizeof *e);
    if (!e || !(e->key = strdup(key))) {
        free(e);
        return CM_ENOMEM;
    }
    e->val = val;
    e->next = m->buckets[i];
    m->buckets[i] = e;
    if (++m->n > m->nbuckets)
        rehash(m);
    return 0;
}

void *cm_map_remove(cm_map_t *m, const char *key)
{
    if (!m->buckets)
        return NULL;
    cm_map_entry_t **pp = &m->buckets[hash(key) & (m->nbuckets - 1)];
    for (; *pp; pp = &(*pp)->next) {
        if (strcmp((*pp)->key, key) == 0) {
            cm_map_entry_t *e = *pp;
            void *v = e->val;
            *pp = e->next;
            free(e->key);
            free(e);
            m->n--;
            return v;
        }
    }
    return NULL;
}

void cm_map_each(const cm_map_t *m, void (*fn)(const char *key, void *val, void *arg), void *arg)
{
    for (size_t i = 0; i < m->nbuckets; i++)
        for (cm_map_entry_t *e = m->buckets[i]; e; e = e->next)
            fn(e->key, e->val, arg);
}
