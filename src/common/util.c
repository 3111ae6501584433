/* Clocks, RocketMQ's CRC and Java string hash, and small file helpers. */
#include "common.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

int64_t cm_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

uint64_t cm_mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000 + (uint64_t)ts.tv_nsec / 1000;
}

uint64_t cm_mono_ms(void) { return cm_mono_us() / 1000; }

void cm_deadline_ts(struct timespec *ts, int clock, int64_t ms)
{
    clock_gettime(clock, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

int32_t cm_crc32(const void *p, size_t n)
{
    uLong c = crc32(0L, Z_NULL, 0);
    const Bytef *b = p;
    while (n > 0) { /* zlib takes uInt lengths */
        uInt chunk = n > (1u << 30) ? (1u << 30) : (uInt)n;
        c = crc32(c, b, chunk);
        b += chunk;
        n -= chunk;
    }
    return (int32_t)(c & 0x7FFFFFFF);
}

/* Java hashes UTF-16 code units; decode UTF-8 and feed surrogate pairs for non-BMP.
 * Invalid bytes count as U+FFFD, as Java's decoder would produce. */
int32_t cm_java_hash(const char *s, size_t n)
{
    uint32_t h = 0;
    const uint8_t *p = (const uint8_t *)s, *e = p + n;
    while (p < e) {
        uint32_t c = *p++;
        int more = 0;
        if (c >= 0xF0 && c < 0xF8) { c &= 0x07; more = 3; }
        else if (c >= 0xE0) { c &= 0x0F; more = 2; }
        else if (c >= 0xC0) { c &= 0x1F; more = 1; }
        else if (c >= 0x80) { c = 0xFFFD; }
        if (c >= 0xF8 && more == 0 && c != 0xFFFD)
            c = 0xFFFD;
        for (int i = 0; i < more; i++) {
            if (p >= e || (*p & 0xC0) != 0x80) { c = 0xFFFD; more = 0; break; }
            c = (c << 6) | (*p++ & 0x3F);
        }
        if (c >= 0x10000) {
            c -= 0x10000;
            h = 31 * h + (0xD800 + (c >> 10));
            h = 31 * h + (0xDC00 + (c & 0x3FF));
        } else {
            h = 31 * h + c;
        }
    }
    return (int32_t)h;
}

char *cm_strdup(const char *s) { return s ? strdup(s) : NULL; }
char *cm_strndup(const char *s, size_t n) { return strndup(s, n); }

int cm_mkdirs(const char *path)
{
    char tmp[4096];
    size_t n = strlen(path);
    if (n == 0 || n >= sizeof tmp)
        return CM_ERANGE;
    memcpy(tmp, path, n + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p == '/') {
            *p = 0;
            if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
                return CM_EIO;
            *p = '/';
        }
    }
    if (mkdir(tmp, 0755) != 0 && errno != EEXIST)
        return CM_EIO;
    return 0;
}

int cm_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return errno == ENOENT ? CM_ENOENT : CM_EIO;
    cm_buf_t b;
    cm_buf_init(&b);
    char chunk[65536];
    size_t n;
    int rc = 0;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        if (cm_buf_append(&b, chunk, n)) { rc = CM_ENOMEM; break; }
    if (ferror(f))
        rc = CM_EIO;
    fclose(f);
    if (rc) {
        cm_buf_free(&b);
        return rc;
    }
    *len = b.len;
    *out = cm_buf_steal(&b);
    return 0;
}

int cm_write_file_safe(const char *path, const void *data, size_t len)
{
    char tmp[4096], bak[4096];
    if (snprintf(tmp, sizeof tmp, "%s.tmp", path) >= (int)sizeof tmp ||
        snprintf(bak, sizeof bak, "%s.bak", path) >= (int)sizeof bak)
        return CM_ERANGE;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0)
        return CM_EIO;
    const char *p = data;
    size_t left = len;
    while (left > 0) {
        ssize_t w = write(fd, p, left);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            close(fd);
            unlink(tmp);
            return CM_EIO;
        }
        p += w;
        left -= (size_t)w;
    }
    if (fdatasync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return CM_EIO;
    }
    close(fd);
    /* Keep the previous version as .bak (a hard link keeps it atomic), then swap in the new one. */
    unlink(bak);
    if (link(path, bak) != 0 && errno != ENOENT)
        return CM_EIO;
    if (rename(tmp, path) != 0)
        return CM_EIO;
    return 0;
}
