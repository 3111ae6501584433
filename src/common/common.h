/* common: the leaf module every other one uses.
 * Growable byte buffers, logging, Java-style .properties files, clocks, RocketMQ's CRC and
 * string hash, and a JSON reader/writer for the fastjson dialect RocketMQ speaks
 * (unquoted integer map keys, objects as map keys; see json.c for why no stock library fits).
 * Everything here is thread-safe unless a comment says otherwise (a buffer or a JSON value is
 * owned by one thread at a time). */
#ifndef LOULAN_COMMON_H
#define LOULAN_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

enum {
    CM_OK = 0,
    CM_ENOMEM = -1,
    CM_EIO = -2,
    CM_EPARSE = -3,   /* malformed JSON / properties / number */
    CM_ENOENT = -4,
    CM_ERANGE = -5,
};

#define LOULAN_VERSION "0.1.0"

/* ---- byte buffer ------------------------------------------------------------------------ */
typedef struct cm_buf {
    char *data; /* always NUL-terminated when cap > 0 (not counted in len) */
    size_t len;
    size_t cap;
} cm_buf_t;

void cm_buf_init(cm_buf_t *b);
void cm_buf_free(cm_buf_t *b);
void cm_buf_reset(cm_buf_t *b);                     /* len = 0, keeps memory */
int cm_buf_reserve(cm_buf_t *b, size_t extra);      /* room for len + extra (+1 NUL) */
int cm_buf_append(cm_buf_t *b, const void *p, size_t n);
int cm_buf_puts(cm_buf_t *b, const char *s);
int cm_buf_putc(cm_buf_t *b, char c);
int cm_buf_printf(cm_buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cm_buf_put_u8(cm_buf_t *b, uint8_t v);
int cm_buf_put_be16(cm_buf_t *b, uint16_t v);
int cm_buf_put_be32(cm_buf_t *b, uint32_t v);
int cm_buf_put_be64(cm_buf_t *b, uint64_t v);
char *cm_buf_steal(cm_buf_t *b);                    /* caller frees; b becomes empty */

/* Big-endian helpers for parsing wire and disk bytes (no alignment assumed). */
static inline uint16_t cm_be16(const void *p) { const uint8_t *b = p; return (uint16_t)(b[0] << 8 | b[1]); }
static inline uint32_t cm_be32(const void *p) { const uint8_t *b = p; return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3]; }
static inline uint64_t cm_be64(const void *p) { const uint8_t *b = p; return (uint64_t)cm_be32(b) << 32 | cm_be32(b + 4); }
static inline void cm_wbe16(void *p, uint16_t v) { uint8_t *b = p; b[0] = v >> 8; b[1] = (uint8_t)v; }
static inline void cm_wbe32(void *p, uint32_t v) { uint8_t *b = p; b[0] = v >> 24; b[1] = v >> 16; b[2] = v >> 8; b[3] = (uint8_t)v; }
static inline void cm_wbe64(void *p, uint64_t v) { cm_wbe32(p, (uint32_t)(v >> 32)); cm_wbe32((uint8_t *)p + 4, (uint32_t)v); }

/* ---- logging ---------------------------------------------------------------------------- */
typedef enum { CM_LOG_DEBUG, CM_LOG_INFO, CM_LOG_WARN, CM_LOG_ERROR } cm_log_level_t;

/* Open <dir>/<name>.log for appending (dir created if missing; NULL dir = no file).
 * When to_stderr is set every line also goes to stderr. Call once at start. */
int cm_log_open(const char *dir, const char *name, int to_stderr);
void cm_log_set_level(cm_log_level_t lvl);
void cm_log_close(void);
/* One line: "2026-11-25 10:00:00,123 INFO  module - message" */
void cm_log(cm_log_level_t lvl, const char *module, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
#define LOG_D(mod, ...) cm_log(CM_LOG_DEBUG, mod, __VA_ARGS__)
#define LOG_I(mod, ...) cm_log(CM_LOG_INFO, mod, __VA_ARGS__)
#define LOG_W(mod, ...) cm_log(CM_LOG_WARN, mod, __VA_ARGS__)
#define LOG_E(mod, ...) cm_log(CM_LOG_ERROR, mod, __VA_ARGS__)

/* ---- .properties ------------------------------------------------------------------------ */
typedef struct cm_prop { char *key; char *val; } cm_prop_t;
typedef struct cm_props { cm_prop_t *items; size_t n, cap; } cm_props_t;

/* Parse Java .properties text (key=value or key:value, # and ! comments, trimmed).
 * Later duplicates replace earlier ones. */
int cm_props_parse(cm_props_t *p, const char *text, size_t len);
int cm_props_load(cm_props_t *p, const char *path);          /* CM_ENOENT, CM_EIO */
const char *cm_props_get(const cm_props_t *p, const char *key); /* NULL if absent */
int cm_props_set(cm_props_t *p, const char *key, const char *val);
void cm_props_free(cm_props_t *p);
/* Write changed keys back into a properties file (in place where set, else appended), keeping
 * comments and the other lines; atomic (cm_write_file_safe). */
int cm_props_update_file(const char *path, const cm_props_t *changes);

/* Strict number/bool parsing for config and header values: whole string must match. */
int cm_parse_i64(const char *s, int64_t *out);
int cm_parse_i32(const char *s, int32_t *out);
int cm_parse_bool(const char *s, int *out); /* "true"/"false", case-insensitive */

/* ---- time, hashing, files --------------------------------------------------------------- */
int64_t cm_now_ms(void);        /* wall clock, epoch ms */
uint64_t cm_mono_ms(void);      /* monotonic ms */
uint64_t cm_mono_us(void);
struct timespec;
/* *ts = now on `clock` (CLOCK_REALTIME for pthread_cond_timedwait / sem_timedwait, or the clock a
 * condition variable was set to) plus ms: the absolute deadline those calls take. */
void cm_deadline_ts(struct timespec *ts, int clock, int64_t ms);
/* RocketMQ CRC: zlib crc32 & 0x7FFFFFFF. */
int32_t cm_crc32(const void *p, size_t n);
/* Java String.hashCode() of UTF-8 text converted to UTF-16 code units. */
int32_t cm_java_hash(const char *s, size_t n);
int cm_mkdirs(const char *path);                              /* mkdir -p */
int cm_read_file(const char *path, char **out, size_t *len);  /* caller frees *out */
/* RocketMQ's "safe write": write <path>.tmp, fsync, keep old as <path>.bak, rename. */
int cm_write_file_safe(const char *path, const void *data, size_t len);
char *cm_strdup(const char *s);
char *cm_strndup(const char *s, size_t n);

/* ---- string-keyed hash map ---------------------------------------------------------------- */
typedef struct cm_map_entry { char *key; void *val; struct cm_map_entry *next; } cm_map_entry_t;
typedef struct cm_map { cm_map_entry_t **buckets; size_t nbuckets, n; } cm_map_t;
int cm_map_init(cm_map_t *m);                       /* a zeroed map also works */
void cm_map_free(cm_map_t *m, void (*free_val)(void *));
void *cm_map_get(const cm_map_t *m, const char *key);
int cm_map_put(cm_map_t *m, const char *key, void *val); /* key copied; replaces */
void *cm_map_remove(cm_map_t *m, const char *key);  /* returns the value, NULL if absent */
/* Visit every entry; fn must not change the map. */
void cm_map_each(const cm_map_t *m, void (*fn)(const char *key, void *val, void *arg), void *arg);

/* ---- binary min-heap of items that know their index (heap.c) ------------------------------ */
typedef struct cm_heap {
    void **v;                                   /* v[0] has the smallest key */
    size_t n, cap;
    int64_t (*key)(const void *item);
    void (*pos)(void *item, size_t index);      /* told each item's new index as it moves */
} cm_heap_t;
int cm_heap_push(cm_heap_t *h, void *item);     /* 0 or CM_ENOMEM */
void cm_heap_remove(cm_heap_t *h, size_t index);
void cm_heap_free(cm_heap_t *h);                /* the array; key and pos stay */

/* ---- JSON, fastjson dialect -------------------------------------------------------------- */
typedef enum { LJ_NULL, LJ_BOOL, LJ_NUM, LJ_STR, LJ_ARR, LJ_OBJ } lj_type_t;
typedef struct lj_val lj_val_t;
typedef struct lj_member { lj_val_t *key; lj_val_t *val; } lj_member_t;
struct lj_val {
    lj_type_t type;
    int b;              /* LJ_BOOL */
    char *s;            /* LJ_STR: UTF-8 text; LJ_NUM: the number's text as written */
    size_t slen;
    lj_val_t **items;   /* LJ_ARR */
    lj_member_t *members; /* LJ_OBJ; key is LJ_STR, LJ_NUM (unquoted int key) or LJ_OBJ */
    size_t n, cap;
};

#define LJ_MAX_DEPTH 64
/* Parse one JSON value (trailing white space allowed). Accepts fastjson's extensions:
 * unquoted integer keys, object keys, single-quoted strings not needed. CM_EPARSE on error. */
int lj_parse(const char *text, size_t len, lj_val_t **out);
void lj_free(lj_val_t *v);

/* Lookups. lj_get matches a string key or a numeric key with the same text. */
lj_val_t *lj_get(const lj_val_t *obj, const char *key);
const char *lj_str(const lj_val_t *v, const char *dflt);         /* LJ_STR only */
int64_t lj_int(const lj_val_t *v, int64_t dflt);                  /* number or numeric string */
double lj_double(const lj_val_t *v, double dflt);
int lj_bool(const lj_val_t *v, int dflt);                         /* bool or "true"/"false" */
const char *lj_get_str(const lj_val_t *obj, const char *key, const char *dflt);
int64_t lj_get_int(const lj_val_t *obj, const char *key, int64_t dflt);
int lj_get_bool(const lj_val_t *obj, const char *key, int dflt);

/* Builders: return NULL only on out-of-memory. Adders take ownership of the value. */
lj_val_t *lj_new_obj(void);
lj_val_t *lj_new_arr(void);
lj_val_t *lj_new_str(const char *s);
lj_val_t *lj_new_strn(const char *s, size_t n);
lj_val_t *lj_new_int(int64_t v);
lj_val_t *lj_new_double(double v);
lj_val_t *lj_new_bool(int v);
lj_val_t *lj_new_null(void);
int lj_set(lj_val_t *obj, const char *key, lj_val_t *v);          /* string key; replaces */
int lj_put(lj_val_t *obj, lj_val_t *key, lj_val_t *v);            /* any key; appends */
int lj_push(lj_val_t *arr, lj_val_t *v);
/* Convenience setters. */
int lj_set_str(lj_val_t *obj, const char *key, const char *s);
int lj_set_int(lj_val_t *obj, const char *key, int64_t v);
int lj_set_bool(lj_val_t *obj, const char *key, int v);

enum {
    LJ_W_FASTJSON = 0,  /* numeric keys unquoted, object keys as objects (Java's default) */
    LJ_W_STRICT = 1,    /* every key a quoted string, members sorted, non-ASCII \u-escaped */
    LJ_W_SORT = 2,      /* sort object members by key text (fastjson writes beans sorted) */
};
int lj_write(const lj_val_t *v, int flags, cm_buf_t *out);       /* appends to out */

#endif
