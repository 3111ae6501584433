/* libFuzzer target for the SQL92 filter: the input is an expression (NUL-terminated copy);
 * whatever compiles is evaluated against a fixed message, and nothing may crash or leak. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "filter/filter.h"

static const char *lookup(void *arg, const char *name, size_t *len)
{
    static const char *v[][2] = {{"a", "1"}, {"b", "x"}, {"TAGS", "TagA"}};
    for (size_t i = 0; i < 3; i++)
        if (!strcmp(v[i][0], name)) {
            *len = strlen(v[i][1]);
            return v[i][1];
        }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        return 0;
    memcpy(s, data, size);
    s[size] = 0;
    fl_expr_t *e;
    char err[128];
    if (fl_compile(s, &e, err, sizeof err) == 0) {
        (void)fl_eval(e, lookup, NULL);
        fl_free(e);
    }
    free(s);
    return 0;
}
