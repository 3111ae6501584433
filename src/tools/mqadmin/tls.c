/* tls.c: mqadmin's TLS client settings (tls spec §4.2), taken as RocketMQ's mqadmin takes them:
 * -Dtls.enable=true and the other -Dtls.* words in the environment variable JAVA_OPT, plus the
 * file of -Dtls.config.file (default /etc/rocketmq/tls.properties, read when TLS is on). Once
 * on, every connection mqadmin opens (name servers, brokers) uses TLS. */
#include "mqadmin.h"

#include "loulan/tls.h"

int ma_tls_init(void)
{
    if (lc_tls_from_env() != 0) {
        fprintf(stderr, "mqadmin: %s\n", lc_tls_error());
        return -1;
    }
    return 0;
}
