/* Loulan client: TLS to the name servers and brokers, as RocketMQ's tls.enable.
 *
 * The switch is process-wide, as in RocketMQ (a JVM system property there): once on, every
 * connection the client library opens afterwards - to name servers and to brokers, from every
 * producer and consumer of the process - uses TLS. Connections already open are kept as they
 * are. Call these before creating clients, from any thread.
 *
 * Settings are RocketMQ's (tls.test.mode.enable, tls.client.authServer,
 * tls.client.trustCertPath, tls.client.certPath, tls.client.keyPath, tls.client.keyPassword);
 * by default (test mode) any server certificate is trusted, as the Java client does. The host
 * name is never checked, also as Java: with tls.client.authServer=true only the chain is. */
#ifndef LOULAN_TLS_H
#define LOULAN_TLS_H

#include "client.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Switch TLS on with the tls.* settings of a properties file (RocketMQ's tls.config.file;
 * NULL: the defaults). 0, or LC_EINVAL when a setting is bad (lc_tls_error says which key). */
int lc_tls_enable(const char *tls_config_file);

/* Read TLS settings the way RocketMQ's tools take them: -Dtls.*=value words in the environment
 * variable JAVA_OPT, then the file of -Dtls.config.file (if set; its values override all but
 * tls.enable). Switches TLS on when -Dtls.enable=true; nothing set: nothing changes. 0, or
 * LC_EINVAL (lc_tls_error says why). */
int lc_tls_from_env(void);

/* Connections opened from now on are plain. */
void lc_tls_disable(void);

/* Non-zero when connections opened now would use TLS. */
int lc_tls_enabled(void);

/* The reason of the last LC_EINVAL from these functions ("" if none). Not thread-safe. */
const char *lc_tls_error(void);

#ifdef __cplusplus
}
#endif

#endif
