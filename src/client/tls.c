/* TLS for the client library (include/loulan/tls.h): RocketMQ's client-side tls.* settings
 * built into remoting's process-wide client context. The library's connections all come from
 * rm_conn_connect, which follows that process-wide switch: nothing else in the client knows. */
#include <stdio.h>
#include <stdlib.h>

#include "loulan/tls.h"
#include "remoting/remoting.h"

static char g_err[512];

/* Build the client context from tc and switch to tc->enable. */
static int apply(rm_tls_conf_t *tc)
{
    char err[400] = "";
    if (rm_tls_conf_load_file(tc, err, sizeof err) != 0 || rm_tls_client_setup(tc, err, sizeof err) != 0) {
        snprintf(g_err, sizeof g_err, "TLS: %s", err);
        return LC_EINVAL;
    }
    return 0;
}

int lc_tls_enable(const char *tls_config_file)
{
    rm_tls_conf_t tc;
    rm_tls_conf_init(&tc);
    g_err[0] = 0;
    int rc = 0;
    if (tls_config_file && rm_tls_conf_set(&tc, "tls.config.file", tls_config_file) != 0)
        rc = LC_ENOMEM;
    tc.enable = 1;
    if (rc == 0)
        rc = apply(&tc);
    rm_tls_conf_free(&tc);
    return rc;
}

int lc_tls_from_env(void)
{
    const char *opt = getenv("JAVA_OPT");
    rm_tls_conf_t tc;
    rm_tls_conf_init(&tc);
    g_err[0] = 0;
    int rc = 0;
    char err[400] = "";
    if (rm_tls_conf_java_opt(&tc, opt, err, sizeof err) != 0) {
        snprintf(g_err, sizeof g_err, "TLS: %s", err);
        rc = LC_EINVAL;
    } else if (tc.enable) { /* the default file is read only when TLS is asked for */
        rc = apply(&tc);
    }
    rm_tls_conf_free(&tc);
    return rc;
}

void lc_tls_disable(void) { rm_tls_client_enable(0); }
int lc_tls_enabled(void) { return rm_tls_client_enabled(); }
const char *lc_tls_error(void) { return g_err; }
