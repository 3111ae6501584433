/* TLS on the remoting protocol (tls spec §4): RocketMQ's tls.* settings, the process-wide server
 * and client SSL contexts, and a per-connection engine over two memory BIOs.
 *
 * conn.c reads ciphertext from the socket, feeds it in (rm_tls_feed), takes plaintext out
 * (rm_tls_read) for its frame decoder, and sends whatever ciphertext the engine has produced
 * (rm_tls_take_output): handshake messages and encrypted frames, in order. Nothing here touches
 * a socket, blocks or starts a thread, so the fuzz target drives the same code from memory.
 *
 * The contexts are built once at start (or when a test calls setup again) under a mutex: client
 * library processes run loops on several threads, and SSL_CTX is reference-counted, so an
 * engine keeps the context it was made with. */
#include "remoting.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/provider.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

struct rm_tls {
    SSL *ssl;
    BIO *rbio;          /* ciphertext from the peer, waiting for SSL */
    BIO *wbio;          /* ciphertext SSL produced, waiting for conn.c */
    int done;           /* handshake finished */
    cm_buf_t early;     /* plaintext written before the handshake finished */
    char err[160];
};

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static SSL_CTX *g_server_ctx, *g_client_ctx;
static int g_mode = RM_TLS_PERMISSIVE;
static int g_client_on;

/* ---- settings ---- */

void rm_tls_conf_init(rm_tls_conf_t *tc)
{
    memset(tc, 0, sizeof *tc);
    tc->server_mode = RM_TLS_PERMISSIVE;
    tc->test_mode = 1;
    tc->need_client_auth = RM_TLS_AUTH_NONE;
}

void rm_tls_conf_free(rm_tls_conf_t *tc)
{
    char **s[] = {&tc->server_cert_path, &tc->server_key_path, &tc->server_key_password,
                  &tc->server_trust_cert_path, &tc->client_cert_path, &tc->client_key_path,
                  &tc->client_key_password, &tc->client_trust_cert_path, &tc->config_file};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        free(*s[i]);
        *s[i] = NULL;
    }
}

/* RocketMQ reads an unknown mode as permissive and an unknown client-auth as none
 * (TlsMode.parse, ClientAuth by name): not errors. */
static int parse_mode(const char *v)
{
    if (strcasecmp(v, "disabled") == 0)
        return RM_TLS_DISABLED;
    if (strcasecmp(v, "enforcing") == 0)
        return RM_TLS_ENFORCING;
    return RM_TLS_PERMISSIVE;
}

static int parse_auth(const char *v)
{
    if (strcasecmp(v, "optional") == 0)
        return RM_TLS_AUTH_OPTIONAL;
    if (strcasecmp(v, "require") == 0)
        return RM_TLS_AUTH_REQUIRE;
    return RM_TLS_AUTH_NONE;
}

const char *rm_tls_mode_name(int mode)
{
    return mode == RM_TLS_DISABLED ? "disabled" : mode == RM_TLS_ENFORCING ? "enforcing" : "permissive";
}

static int set_str(char **dst, const char *val)
{
    char *s = val && val[0] ? cm_strdup(val) : NULL;
    if (val && val[0] && !s)
        return -2;
    free(*dst);
    *dst = s;
    return 0;
}

int rm_tls_conf_set(rm_tls_conf_t *tc, const char *key, const char *val)
{
    struct { const char *key; char **dst; } strs[] = {
        {"tls.server.certPath", &tc->server_cert_path},
        {"tls.server.keyPath", &tc->server_key_path},
        {"tls.server.keyPassword", &tc->server_key_password},
        {"tls.server.trustCertPath", &tc->server_trust_cert_path},
        {"tls.client.certPath", &tc->client_cert_path},
        {"tls.client.keyPath", &tc->client_key_path},
        {"tls.client.keyPassword", &tc->client_key_password},
        {"tls.client.trustCertPath", &tc->client_trust_cert_path},
        {"tls.config.file", &tc->config_file},
    };
    struct { const char *key; int *dst; } bools[] = {
        {"tls.test.mode.enable", &tc->test_mode},
        {"tls.server.authClient", &tc->server_auth_client},
        {"tls.client.authServer", &tc->client_auth_server},
        {"tls.enable", &tc->enable},
    };
    if (strncmp(key, "tls.", 4) != 0)
        return -1;
    if (!val)
        val = "";
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++)
        if (strcmp(key, strs[i].key) == 0)
            return set_str(strs[i].dst, val);
    for (size_t i = 0; i < sizeof bools / sizeof bools[0]; i++)
        if (strcmp(key, bools[i].key) == 0)
            return cm_parse_bool(val, bools[i].dst) == 0 ? 0 : -2;
    if (strcmp(key, "tls.server.mode") == 0) {
        tc->server_mode = parse_mode(val);
        return 0;
    }
    if (strcmp(key, "tls.server.need.client.auth") == 0) {
        tc->need_client_auth = parse_auth(val);
        return 0;
    }
    return -1;
}

/* Words separated by blanks; each "-Dtls.x=v" sets tls.x. */
int rm_tls_conf_java_opt(rm_tls_conf_t *tc, const char *java_opt, char *err, size_t errlen)
{
    const char *p = java_opt;
    while (p && *p) {
        while (*p == ' ' || *p == '\t' || *p == '\n')
            p++;
        const char *end = p;
        while (*end && *end != ' ' && *end != '\t' && *end != '\n')
            end++;
        if (end - p > 6 && strncmp(p, "-Dtls.", 6) == 0) {
            char word[1024];
            size_t n = (size_t)(end - p - 2) < sizeof word - 1 ? (size_t)(end - p - 2) : sizeof word - 1;
            memcpy(word, p + 2, n);
            word[n] = 0;
            char *eq = strchr(word, '=');
            if (eq)
                *eq = 0;
            if (rm_tls_conf_set(tc, word, eq ? eq + 1 : "") == -2) {
                snprintf(err, errlen, "bad value for %s in JAVA_OPT: '%s'", word, eq ? eq + 1 : "");
                return -1;
            }
        }
        p = end;
    }
    return 0;
}

int rm_tls_conf_load_file(rm_tls_conf_t *tc, char *err, size_t errlen)
{
    const char *path = tc->config_file ? tc->config_file : RM_TLS_CONFIG_FILE_DEFAULT;
    cm_props_t p = {0};
    int rc = cm_props_load(&p, path);
    if (rc != 0) {
        cm_props_free(&p);
        if (!tc->config_file && access(path, F_OK) != 0)
            return 0; /* RocketMQ runs without the default file */
        snprintf(err, errlen, "tls.config.file: cannot read %s", path);
        return -1;
    }
    int mode = tc->server_mode, enable = tc->enable; /* the two the file may not change */
    for (size_t i = 0; i < p.n; i++) {
        const char *k = p.items[i].key;
        if (strcmp(k, "tls.config.file") == 0)
            continue;
        if (rm_tls_conf_set(tc, k, p.items[i].val) == -2) {
            snprintf(err, errlen, "bad value for %s in %s: '%s'", k, path, p.items[i].val);
            cm_props_free(&p);
            return -1;
        }
    }
    tc->server_mode = mode;
    tc->enable = enable;
    cm_props_free(&p);
    return 0;
}

/* ---- contexts ---- */

static void ssl_reason(char *err, size_t errlen, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[200] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(err, errlen, "%s%s%s", what, buf[0] ? ": " : "", buf);
}

static int accept_any(int ok, X509_STORE_CTX *x) { (void)ok; (void)x; return 1; }

/* A fresh self-signed certificate on an EC P-256 key (fast to make, unlike RSA), as Netty's
 * SelfSignedCertificate gives RocketMQ's test mode. Java clients in test mode trust anything. */
static int use_self_signed(SSL_CTX *ctx)
{
    EVP_PKEY *key = EVP_EC_gen("P-256");
    X509 *x = X509_new();
    int ok = 0;
    if (!key || !x)
        goto out;
    X509_set_version(x, 2);
    ASN1_INTEGER_set(X509_get_serialNumber(x), (long)(getpid() ^ time(NULL)) & 0x7fffffff);
    X509_gmtime_adj(X509_getm_notBefore(x), -86400);
    X509_gmtime_adj(X509_getm_notAfter(x), 365L * 86400);
    X509_NAME *name = X509_get_subject_name(x);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"localhost", -1, -1, 0);
    X509_set_issuer_name(x, name);
    X509_set_pubkey(x, key);
    ok = X509_sign(x, key, EVP_sha256()) > 0 && SSL_CTX_use_certificate(ctx, x) == 1 &&
         SSL_CTX_use_PrivateKey(ctx, key) == 1;
out:
    X509_free(x);
    EVP_PKEY_free(key);
    return ok ? 0 : -1;
}

/* The documented key setup (PBE-SHA1-RC4-128 PKCS#8) needs OpenSSL 3's legacy provider. */
static OSSL_PROVIDER *g_legacy, *g_default; /* unloaded by rm_tls_cleanup */

static pthread_mutex_t g_prov_lock = PTHREAD_MUTEX_INITIALIZER;

static void load_legacy_provider(void)
{
    pthread_mutex_lock(&g_prov_lock);
    if (!g_legacy)
        g_legacy = OSSL_PROVIDER_load(NULL, "legacy");
    if (g_legacy && !g_default) /* loading one provider explicitly drops the implicit default */
        g_default = OSSL_PROVIDER_load(NULL, "default");
    pthread_mutex_unlock(&g_prov_lock);
}

/* Hands OpenSSL the configured password, never a terminal prompt. */
static int give_password(char *buf, int size, int rwflag, void *u)
{
    (void)rwflag;
    const char *pw = u;
    int n = pw ? (int)strlen(pw) : 0;
    if (n > size)
        n = size;
    memcpy(buf, pw ? pw : "", (size_t)n);
    return n;
}

/* A PEM private key (PKCS#8, encrypted or not, or traditional), NULL if it does not load. */
static EVP_PKEY *read_key(const char *path, const char *password)
{
    BIO *b = BIO_new_file(path, "r");
    if (!b)
        return NULL;
    EVP_PKEY *pk = PEM_read_bio_PrivateKey(b, NULL, give_password, (void *)password);
    BIO_free(b);
    return pk;
}

/* Certificate chain and key from PEM files, the key possibly encrypted with `password`. */
static int use_files(SSL_CTX *ctx, const char *side, const char *cert, const char *key,
                     const char *password, char *err, size_t errlen)
{
    char what[128];
    if (!cert || !key) {
        snprintf(err, errlen, "tls.%s.%s is not set (needed when tls.test.mode.enable=false)", side,
                 cert ? "keyPath" : "certPath");
        return -1;
    }
    if (access(cert, R_OK) != 0) {
        snprintf(err, errlen, "tls.%s.certPath: cannot read %s", side, cert);
        return -1;
    }
    if (access(key, R_OK) != 0) {
        snprintf(err, errlen, "tls.%s.keyPath: cannot read %s", side, key);
        return -1;
    }
    if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
        snprintf(what, sizeof what, "tls.%s.certPath: no PEM certificate in %s", side, cert);
        ssl_reason(err, errlen, what);
        return -1;
    }
    EVP_PKEY *pk = read_key(key, password);
    if (!pk) {
        ERR_clear_error();
        load_legacy_provider();
        pk = read_key(key, password);
    }
    if (!pk) {
        snprintf(what, sizeof what, "tls.%s.keyPath: cannot load the key in %s (%s)", side, key,
                 password ? "wrong password?" : "encrypted? set the password");
        ssl_reason(err, errlen, what);
        return -1;
    }
    int ok = X509_check_private_key(SSL_CTX_get0_certificate(ctx), pk) == 1;
    if (!ok)
        snprintf(err, errlen, "tls.%s.keyPath: the key in %s does not match the certificate in %s", side, key, cert);
    else if (SSL_CTX_use_PrivateKey(ctx, pk) != 1)
        ssl_reason(err, errlen, "cannot use the key"), ok = 0;
    ERR_clear_error();
    EVP_PKEY_free(pk);
    return ok ? 0 : -1;
}

static int use_trust(SSL_CTX *ctx, const char *key, const char *path, char *err, size_t errlen)
{
    char what[128];
    if (!path) /* Java falls back to the JDK's trust store: ours is the system's */
        return SSL_CTX_set_default_verify_paths(ctx) == 1 ? 0 : -1;
    if (access(path, R_OK) != 0) {
        snprintf(err, errlen, "%s: cannot read %s", key, path);
        return -1;
    }
    if (SSL_CTX_load_verify_locations(ctx, path, NULL) != 1) {
        snprintf(what, sizeof what, "%s: no PEM certificate in %s", key, path);
        ssl_reason(err, errlen, what);
        return -1;
    }
    return 0;
}

static SSL_CTX *ctx_new(int server, char *err, size_t errlen)
{
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    if (!ctx) {
        ssl_reason(err, errlen, "cannot make an SSL context");
        return NULL;
    }
    SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
    SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS); /* idle connections hold no record buffers */
    if (server)
        SSL_CTX_set_num_tickets(ctx, 0); /* no resumption: RocketMQ clients do not use it */
    return ctx;
}

/* ALPN: a client that offers "h2" (gRPC clients, src/grpc) gets it; remoting clients offer
 * nothing and see no change. gRPC clients refuse a TLS connection without ALPN h2. */
static int select_h2(SSL *s, const unsigned char **out, unsigned char *outlen, const unsigned char *in,
                     unsigned int inlen, void *arg)
{
    static const unsigned char h2[] = {2, 'h', '2'};
    (void)s; (void)arg;
    if (SSL_select_next_proto((unsigned char **)out, outlen, h2, sizeof h2, in, inlen) == OPENSSL_NPN_NEGOTIATED)
        return SSL_TLSEXT_ERR_OK;
    return SSL_TLSEXT_ERR_NOACK;
}

static SSL_CTX *server_ctx(const rm_tls_conf_t *tc, char *err, size_t errlen)
{
    SSL_CTX *ctx = ctx_new(1, err, errlen);
    if (!ctx)
        return NULL;
    SSL_CTX_set_alpn_select_cb(ctx, select_h2, NULL);
    if (tc->test_mode) {
        if (use_self_signed(ctx) != 0) {
            ssl_reason(err, errlen, "tls.test.mode.enable: cannot make a self-signed certificate");
            goto err;
        }
        /* Netty's test mode asks for a client certificate, requires none, trusts any. */
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, accept_any);
        return ctx;
    }
    if (use_files(ctx, "server", tc->server_cert_path, tc->server_key_path, tc->server_key_password, err, errlen))
        goto err;
    int mode = tc->need_client_auth == RM_TLS_AUTH_REQUIRE ? SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
             : tc->need_client_auth == RM_TLS_AUTH_OPTIONAL ? SSL_VERIFY_PEER : SSL_VERIFY_NONE;
    if (mode != SSL_VERIFY_NONE && tc->server_auth_client) {
        if (use_trust(ctx, "tls.server.trustCertPath", tc->server_trust_cert_path, err, errlen))
            goto err;
        SSL_CTX_set_verify(ctx, mode, NULL);
    } else {
        SSL_CTX_set_verify(ctx, mode, mode != SSL_VERIFY_NONE ? accept_any : NULL);
    }
    return ctx;
err:
    SSL_CTX_free(ctx);
    return NULL;
}

static SSL_CTX *client_ctx(const rm_tls_conf_t *tc, char *err, size_t errlen)
{
    SSL_CTX *ctx = ctx_new(0, err, errlen);
    if (!ctx)
        return NULL;
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL); /* authServer=false and test mode: trust any */
    if (tc->test_mode)
        return ctx;
    if ((tc->client_cert_path || tc->client_key_path) &&
        use_files(ctx, "client", tc->client_cert_path, tc->client_key_path, tc->client_key_password, err, errlen))
        goto err;
    if (tc->client_auth_server) {
        /* The chain only: Java never checks the host name, nor sends SNI. */
        if (use_trust(ctx, "tls.client.trustCertPath", tc->client_trust_cert_path, err, errlen))
            goto err;
        SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
    }
    return ctx;
err:
    SSL_CTX_free(ctx);
    return NULL;
}

int rm_tls_server_setup(const rm_tls_conf_t *tc, char *err, size_t errlen)
{
    SSL_CTX *ctx = NULL;
    if (tc->server_mode != RM_TLS_DISABLED && !(ctx = server_ctx(tc, err, errlen)))
        return -1;
    pthread_mutex_lock(&g_lock);
    SSL_CTX *old = g_server_ctx;
    g_server_ctx = ctx;
    g_mode = tc->server_mode;
    pthread_mutex_unlock(&g_lock);
    SSL_CTX_free(old);
    return 0;
}

int rm_tls_client_setup(const rm_tls_conf_t *tc, char *err, size_t errlen)
{
    SSL_CTX *ctx = client_ctx(tc, err, errlen);
    if (!ctx)
        return -1;
    pthread_mutex_lock(&g_lock);
    SSL_CTX *old = g_client_ctx;
    g_client_ctx = ctx;
    g_client_on = tc->enable;
    pthread_mutex_unlock(&g_lock);
    SSL_CTX_free(old);
    return 0;
}

void rm_tls_set_server_mode(int mode)
{
    pthread_mutex_lock(&g_lock);
    g_mode = mode;
    pthread_mutex_unlock(&g_lock);
}

int rm_tls_server_mode(void)
{
    pthread_mutex_lock(&g_lock);
    int m = g_mode;
    pthread_mutex_unlock(&g_lock);
    return m;
}

void rm_tls_client_enable(int on)
{
    pthread_mutex_lock(&g_lock);
    g_client_on = on;
    pthread_mutex_unlock(&g_lock);
}

int rm_tls_client_enabled(void)
{
    pthread_mutex_lock(&g_lock);
    int on = g_client_on;
    pthread_mutex_unlock(&g_lock);
    return on;
}

void rm_tls_cleanup(void)
{
    pthread_mutex_lock(&g_lock);
    SSL_CTX *s = g_server_ctx, *c = g_client_ctx;
    g_server_ctx = g_client_ctx = NULL;
    g_mode = RM_TLS_PERMISSIVE;
    g_client_on = 0;
    pthread_mutex_unlock(&g_lock);
    SSL_CTX_free(s);
    SSL_CTX_free(c);
    pthread_mutex_lock(&g_prov_lock);
    if (g_legacy)
        OSSL_PROVIDER_unload(g_legacy);
    if (g_default)
        OSSL_PROVIDER_unload(g_default);
    g_legacy = g_default = NULL;
    pthread_mutex_unlock(&g_prov_lock);
}

/* The context an engine of that side gets, with a reference of its own; a client switched on
 * without setup gets a test-mode one. */
static SSL_CTX *ctx_ref(int server)
{
    pthread_mutex_lock(&g_lock);
    if (!server && !g_client_ctx) {
        rm_tls_conf_t tc;
        char err[256];
        rm_tls_conf_init(&tc);
        g_client_ctx = client_ctx(&tc, err, sizeof err);
    }
    SSL_CTX *ctx = server ? g_server_ctx : g_client_ctx;
    if (ctx)
        SSL_CTX_up_ref(ctx);
    pthread_mutex_unlock(&g_lock);
    return ctx;
}

/* ---- the engine ---- */

int rm_tls_sniff(int mode, uint8_t first)
{
    if (first == 0x16) /* a TLS handshake record; no plain frame is that long */
        return mode == RM_TLS_DISABLED ? RM_SNIFF_REFUSE : RM_SNIFF_TLS;
    return mode == RM_TLS_ENFORCING ? RM_SNIFF_REFUSE : RM_SNIFF_PLAIN;
}

static int fail(rm_tls_t *t, const char *what)
{
    unsigned long e = ERR_peek_last_error();
    char buf[120] = "";
    if (e)
        ERR_error_string_n(e, buf, sizeof buf);
    ERR_clear_error();
    snprintf(t->err, sizeof t->err, "%s%s%s", what, buf[0] ? ": " : "", buf);
    return RM_ETLS;
}

static int drive_handshake(rm_tls_t *t);

rm_tls_t *rm_tls_new(int server)
{
    SSL_CTX *ctx = ctx_ref(server);
    if (!ctx)
        return NULL;
    rm_tls_t *t = calloc(1, sizeof *t);
    if (!t)
        goto err;
    cm_buf_init(&t->early);
    t->ssl = SSL_new(ctx);
    t->rbio = BIO_new(BIO_s_mem());
    t->wbio = BIO_new(BIO_s_mem());
    if (!t->ssl || !t->rbio || !t->wbio) {
        BIO_free(t->rbio);
        BIO_free(t->wbio);
        t->rbio = t->wbio = NULL;
        rm_tls_free(t);
        t = NULL;
        goto err;
    }
    /* An empty BIO means "more later", not end of stream. */
    BIO_set_mem_eof_return(t->rbio, -1);
    BIO_set_mem_eof_return(t->wbio, -1);
    SSL_set_bio(t->ssl, t->rbio, t->wbio); /* SSL owns them now */
    if (server) {
        SSL_set_accept_state(t->ssl);
    } else {
        SSL_set_connect_state(t->ssl);
        drive_handshake(t); /* the ClientHello, waiting in wbio */
    }
err:
    SSL_CTX_free(ctx); /* SSL_new took its own reference */
    return t;
}

void rm_tls_free(rm_tls_t *t)
{
    if (!t)
        return;
    SSL_free(t->ssl);
    cm_buf_free(&t->early);
    free(t);
}

/* Encrypt without queueing: the handshake is done. */
static int seal(rm_tls_t *t, const void *p, size_t n)
{
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        ERR_clear_error();
        int w = SSL_write(t->ssl, p, chunk);
        if (w <= 0)
            return fail(t, "TLS write failed");
        p = (const uint8_t *)p + w;
        n -= (size_t)w;
    }
    return 0;
}

static int drive_handshake(rm_tls_t *t)
{
    if (t->done)
        return 0;
    ERR_clear_error();
    int r = SSL_do_handshake(t->ssl);
    if (r != 1) {
        int e = SSL_get_error(t->ssl, r);
        if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
            return 0;
        return fail(t, "TLS handshake failed");
    }
    t->done = 1;
    if (t->early.len) { /* what the application wrote meanwhile, in order */
        int rc = seal(t, t->early.data, t->early.len);
        cm_buf_free(&t->early);
        cm_buf_init(&t->early);
        return rc;
    }
    return 0;
}

int rm_tls_feed(rm_tls_t *t, const uint8_t *in, size_t n)
{
    while (n > 0) {
        int chunk = n > (1u << 30) ? 1 << 30 : (int)n;
        int w = BIO_write(t->rbio, in, chunk);
        if (w <= 0)
            return fail(t, "out of memory for TLS input");
        in += w;
        n -= (size_t)w;
    }
    return drive_handshake(t);
}

int rm_tls_read(rm_tls_t *t, uint8_t *buf, size_t cap)
{
    if (!t->done)
        return 0;
    ERR_clear_error();
    int r = SSL_read(t->ssl, buf, cap > INT32_MAX ? INT32_MAX : (int)cap);
    if (r > 0)
        return r;
    switch (SSL_get_error(t->ssl, r)) {
    case SSL_ERROR_WANT_READ:
    case SSL_ERROR_WANT_WRITE:
        return 0;
    case SSL_ERROR_ZERO_RETURN:
        return RM_ECLOSED;
    default:
        return fail(t, "TLS record failed");
    }
}

int rm_tls_write(rm_tls_t *t, const void *p, size_t n)
{
    if (n == 0)
        return 0;
    if (!t->done)
        return cm_buf_append(&t->early, p, n) == 0 ? 0 : RM_ENOMEM;
    return seal(t, p, n);
}

char *rm_tls_take_output(rm_tls_t *t, size_t *len)
{
    size_t n = BIO_ctrl_pending(t->wbio);
    *len = 0;
    if (n == 0)
        return NULL;
    char *p = malloc(n);
    if (!p)
        return NULL;
    int r = BIO_read(t->wbio, p, n > INT32_MAX ? INT32_MAX : (int)n);
    if (r <= 0) {
        free(p);
        return NULL;
    }
    *len = (size_t)r;
    return p;
}

int rm_tls_handshake_done(const rm_tls_t *t) { return t->done; }
const char *rm_tls_last_error(const rm_tls_t *t) { return t->err[0] ? t->err : "no error"; }

/* ---- certificate hot reload ---- */

#define WATCH_MS 500

typedef struct watch {
    uv_timer_t timer;
    uv_work_t work;                   /* the look at the files runs on libuv's thread pool */
    int busy, closed;                 /* a look in flight; the timer has closed */
    rm_tls_conf_t tc;                 /* a copy: the paths and passwords a rebuild needs */
    const char *paths[3];             /* cert, key, trust (NULL: not watched) */
    unsigned char hash[3][32];
    int known[3];                     /* hash[i] holds the file's digest */
    int cert_changed, key_changed;
} watch_t;

static watch_t *g_watch; /* the pointer: loop thread; the state behind it: one look at a time */

/* SHA-256 of a (small) file; 0, or -1 when it cannot be read (mid-rewrite: try next tick).
 * Thread pool (watch_work), or at start. */
static int file_digest(const char *path, unsigned char out[32])
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    unsigned char buf[8192];
    size_t n;
    int ok = md && EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1;
    while (ok && (n = fread(buf, 1, sizeof buf, f)) > 0)
        ok = EVP_DigestUpdate(md, buf, n) == 1;
    ok = ok && !ferror(f) && EVP_DigestFinal_ex(md, out, NULL) == 1;
    EVP_MD_CTX_free(md);
    fclose(f);
    return ok ? 0 : -1;
}

/* Did file i change since the last look? The first readable look only records it. */
static int file_changed(watch_t *w, int i)
{
    unsigned char h[32];
    if (!w->paths[i] || file_digest(w->paths[i], h) != 0)
        return 0;
    int changed = w->known[i] && memcmp(h, w->hash[i], sizeof h) != 0;
    memcpy(w->hash[i], h, sizeof h);
    w->known[i] = 1;
    return changed;
}

static void reload(watch_t *w, const char *why)
{
    char err[512];
    SSL_CTX *ctx = server_ctx(&w->tc, err, sizeof err);
    if (!ctx) {
        LOG_E("remoting", "TLS: %s changed but the new files do not make a context, keeping the old one: %s", why, err);
        return;
    }
    pthread_mutex_lock(&g_lock);
    SSL_CTX *old = g_server_ctx;
    g_server_ctx = ctx;
    pthread_mutex_unlock(&g_lock);
    SSL_CTX_free(old);
    LOG_I("remoting", "TLS: server certificate reloaded (%s changed)", why);
}

/* RocketMQ's rule: the trust file alone reloads; cert and key only as a pair, so that a
 * rotation writing one file, then the other, is never half applied. Thread pool: reading files
 * and building a context may block, so never on the loop; one look at a time. */
static void watch_work(uv_work_t *req)
{
    watch_t *w = req->data;
    if (file_changed(w, 2))
        reload(w, "tls.server.trustCertPath");
    w->cert_changed |= file_changed(w, 0);
    w->key_changed |= file_changed(w, 1);
    if (w->cert_changed && w->key_changed) {
        w->cert_changed = w->key_changed = 0;
        reload(w, "tls.server.certPath and tls.server.keyPath");
    }
}

static void watch_free(watch_t *w)
{
    rm_tls_conf_free(&w->tc);
    free(w);
}

static void watch_after(uv_work_t *req, int status)
{
    (void)status;
    watch_t *w = req->data;
    w->busy = 0;
    if (w->closed) /* stopped meanwhile */
        watch_free(w);
}

static void on_watch(uv_timer_t *t)
{
    watch_t *w = t->data;
    if (w->busy)
        return;
    w->work.data = w;
    w->busy = uv_queue_work(t->loop, &w->work, watch_work, watch_after) == 0;
}

static int copy_conf(rm_tls_conf_t *dst, const rm_tls_conf_t *src)
{
    *dst = *src;
    char **d[] = {&dst->server_cert_path, &dst->server_key_path, &dst->server_key_password,
                  &dst->server_trust_cert_path, &dst->client_cert_path, &dst->client_key_path,
                  &dst->client_key_password, &dst->client_trust_cert_path, &dst->config_file};
    int rc = 0;
    for (size_t i = 0; i < sizeof d / sizeof d[0]; i++)
        if (*d[i] && !(*d[i] = cm_strdup(*d[i])))
            rc = RM_ENOMEM;
    return rc;
}

int rm_tls_watch_start(uv_loop_t *loop, const rm_tls_conf_t *tc)
{
    if (g_watch || tc->server_mode == RM_TLS_DISABLED || tc->test_mode)
        return 0;
    watch_t *w = calloc(1, sizeof *w);
    if (!w)
        return RM_ENOMEM;
    if (copy_conf(&w->tc, tc) != 0) {
        rm_tls_conf_free(&w->tc);
        free(w);
        return RM_ENOMEM;
    }
    w->paths[0] = w->tc.server_cert_path;
    w->paths[1] = w->tc.server_key_path;
    w->paths[2] = w->tc.server_trust_cert_path;
    for (int i = 0; i < 3; i++)
        file_changed(w, i); /* the files as the context was built from them */
    uv_timer_init(loop, &w->timer);
    w->timer.data = w;
    uv_timer_start(&w->timer, on_watch, WATCH_MS, WATCH_MS);
    uv_unref((uv_handle_t *)&w->timer); /* the watch alone never keeps a process running */
    g_watch = w;
    return 0;
}

static void on_watch_closed(uv_handle_t *h)
{
    watch_t *w = h->data;
    w->closed = 1;
    if (!w->busy) /* else the look in flight frees it when it ends */
        watch_free(w);
}

void rm_tls_watch_stop(void)
{
    if (!g_watch)
        return;
    uv_close((uv_handle_t *)&g_watch->timer, on_watch_closed);
    g_watch = NULL;
}
