/* Logging: one line per event, "date time,ms LEVEL module - message", like RocketMQ's logback
 * layout, to <logdir>/<name>.log and optionally to stderr. A mutex keeps lines whole when
 * several threads log. */
#include "common.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

static FILE *g_file;
static int g_stderr = 1;
static cm_log_level_t g_level = CM_LOG_INFO;
static pthread_mutex_t g_mu = PTHREAD_MUTEX_INITIALIZER;

int cm_log_open(const char *dir, const char *name, int to_stderr)
{
    g_stderr = to_stderr;
    if (!dir)
        return 0;
    if (cm_mkdirs(dir) != 0)
        return CM_EIO;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.log", dir, name);
    FILE *f = fopen(path, "a");
    if (!f)
        return CM_EIO;
    setvbuf(f, NULL, _IOLBF, 0);
    pthread_mutex_lock(&g_mu);
    if (g_file)
        fclose(g_file);
    g_file = f;
    pthread_mutex_unlock(&g_mu);
    return 0;
}

void cm_log_set_level(cm_log_level_t lvl) { g_level = lvl; }

void cm_log_close(void)
{
    pthread_mutex_lock(&g_mu);
    if (g_file)
        fclose(g_file);
    g_file = NULL;
    pthread_mutex_unlock(&g_mu);
}

void cm_log(cm_log_level_t lvl, const char *module, const char *fmt, ...)
{
    static const char *names[] = {"DEBUG", "INFO ", "WARN ", "ERROR"};
    if (lvl < g_level)
        return;
    char line[2048];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    localtime_r(&tv.tv_sec, &tm);
    int n = (int)strftime(line, sizeof line, "%Y-%m-%d %H:%M:%S", &tm);
    n += snprintf(line + n, sizeof line - (size_t)n, ",%03d %s %s - ", (int)(tv.tv_usec / 1000),
                  names[lvl], module);
    va_list ap;
    va_start(ap, fmt);
    int m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    va_end(ap);
    if (m < 0)
        m = 0;
    n = n + m < (int)sizeof line - 2 ? n + m : (int)sizeof line - 2;
    line[n++] = '\n';
    line[n] = 0;
    pthread_mutex_lock(&g_mu);
    if (g_file)
        fputs(line, g_file);
    if (g_stderr)
        fputs(line, stderr);
    pthread_mutex_unlock(&g_mu);
}
