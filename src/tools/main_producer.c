/* bin/producer: the quick-start producer, like RocketMQ's
 * `tools.sh org.apache.rocketmq.example.quickstart.Producer`. Sends N messages with tag TagA and
 * body "Hello RocketMQ <i>" and prints each SendResult exactly as Java's toString() does.
 * Usage: producer [-n namesrv | -n count] [-c count] [-t topic] [-g group] [-k keys]
 *                 [--access-key AK --secret-key SK] [--trace] [--trace-topic topic]
 * (-n takes a name server list "host:port;..." or, if it is a plain number, the count;
 * without a name server NAMESRV_ADDR is used). -k sets the messages' KEYS. With both keys every
 * request is signed (RocketMQ's plain ACL); --trace records a Pub trace of each send in
 * RMQ_SYS_TRACE_TOPIC (or --trace-topic). Exit status 1 if any send failed.
 * TLS as RocketMQ's tools: JAVA_OPT="-Dtls.enable=true" (and other -Dtls.* settings). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loulan/client.h"
#include "loulan/tls.h"

static void usage(void)
{
    fprintf(stderr, "usage: producer [-n namesrv|count] [-c count] [-t topic] [-g group] [-k keys]\n"
                    "                [--access-key AK --secret-key SK] [--trace] [--trace-topic topic]\n");
    exit(2);
}

static int is_number(const char *s)
{
    if (!*s)
        return 0;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return 0;
    return 1;
}

int main(int argc, char **argv)
{
    const char *namesrv = NULL, *topic = "TopicTest", *group = "please_rename_unique_group_name", *keys = NULL;
    const char *ak = NULL, *sk = NULL, *trace_topic = NULL;
    int trace = 0;
    long count = 1000;
    int opt;
    static const struct option longs[] = {{"access-key", required_argument, NULL, 'A'},
                                          {"secret-key", required_argument, NULL, 'S'},
                                          {"trace", no_argument, NULL, 'R'},
                                          {"trace-topic", required_argument, NULL, 'P'},
                                          {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "n:c:t:g:k:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'n':
            if (is_number(optarg))
                count = atol(optarg);
            else
                namesrv = optarg;
            break;
        case 'c': count = atol(optarg); break;
        case 't': topic = optarg; break;
        case 'g': group = optarg; break;
        case 'k': keys = optarg; break;
        case 'A': ak = optarg; break;
        case 'S': sk = optarg; break;
        case 'R': trace = 1; break;
        case 'P': trace = 1, trace_topic = optarg; break;
        default: usage();
        }
    }
    if (lc_tls_from_env() != 0) { /* JAVA_OPT="-Dtls.enable=true ...", as RocketMQ's tools take it */
        fprintf(stderr, "producer: %s\n", lc_tls_error());
        return 1;
    }
    lc_producer_t *p;
    int rc = lc_producer_create(group, namesrv, &p);
    if (rc == 0)
        rc = lc_producer_set_credentials(p, ak, sk);
    if (rc == 0)
        rc = lc_producer_set_trace(p, trace, trace_topic);
    if (rc == 0)
        rc = lc_producer_start(p);
    if (rc) {
        fprintf(stderr, "producer: cannot start: %s (set NAMESRV_ADDR or use -n host:port)\n", lc_strerror(rc));
        lc_producer_destroy(p);
        return 1;
    }
    long failed = 0;
    for (long i = 0; i < count; i++) {
        char body[64];
        int blen = snprintf(body, sizeof body, "Hello RocketMQ %ld", i);
        lc_message_t m = {.topic = topic, .tags = "TagA", .keys = keys, .body = body, .body_len = (size_t)blen};
        lc_send_result_t res;
        rc = lc_producer_send_sync(p, &m, &res);
        if (rc == 0) {
            char line[1024];
            lc_send_result_format(&res, line, sizeof line);
            printf("%s\n", line);
        } else {
            fprintf(stderr, "send %ld failed: %s: %s\n", i, lc_strerror(rc), res.error);
            failed++;
        }
        lc_send_result_clear(&res);
    }
    fflush(stdout);
    lc_producer_destroy(p);
    return failed ? 1 : 0;
}
