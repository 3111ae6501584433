/* bin/consumer: the quick-start push consumer, like RocketMQ's
 * `tools.sh org.apache.rocketmq.example.quickstart.Consumer`: subscribes (default TopicTest, "*"),
 * starts from the first offset of a new group, and prints every message the way the Java
 * example does: "<thread> Receive New Messages: [MessageExt [...]] ".
 * Usage: consumer [-n namesrv] [-t topic] [-g group] [-s subExpression] [-c count] [-T seconds]
 *                 [--access-key AK --secret-key SK] [--trace] [--trace-topic topic]
 * -c: exit 0 after that many messages; -T: give up after that many seconds (exit 1 if -c was
 * not reached, 0 otherwise). NAMESRV_ADDR is used without -n. With both keys every request is
 * signed (RocketMQ's plain ACL); --trace records SubBefore/SubAfter traces of each message in
 * RMQ_SYS_TRACE_TOPIC (or --trace-topic).
 * TLS as RocketMQ's tools: JAVA_OPT="-Dtls.enable=true" (and other -Dtls.* settings). */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "loulan/client.h"
#include "loulan/tls.h"

static volatile sig_atomic_t g_stop;
static long g_received;
static long g_want;

static void on_signal(int sig) { (void)sig; g_stop = 1; }

static lc_consume_status_t on_messages(const lc_consume_ctx_t *ctx, lc_message_ext_t *const *msgs, size_t n, void *arg)
{
    for (size_t i = 0; i < n; i++) {
        char *s = lc_message_ext_to_string(msgs[i]);
        flockfile(stdout);
        printf("%s Receive New Messages: [%s] \n", ctx->thread_name, s ? s : "?");
        fflush(stdout);
        funlockfile(stdout);
        free(s);
    }
    long got = __atomic_add_fetch(&g_received, (long)n, __ATOMIC_RELAXED);
    if (g_want > 0 && got >= g_want)
        g_stop = 1;
    return LC_CONSUME_SUCCESS;
}

int main(int argc, char **argv)
{
    const char *namesrv = NULL, *topic = "TopicTest", *group = "please_rename_unique_group_name_4", *sub = "*";
    const char *ak = NULL, *sk = NULL, *trace_topic = NULL;
    int trace = 0;
    long timeout = 0;
    int opt;
    static const struct option longs[] = {{"access-key", required_argument, NULL, 'A'},
                                          {"secret-key", required_argument, NULL, 'S'},
                                          {"trace", no_argument, NULL, 'R'},
                                          {"trace-topic", required_argument, NULL, 'P'},
                                          {NULL, 0, NULL, 0}};
    while ((opt = getopt_long(argc, argv, "n:t:g:s:c:T:h", longs, NULL)) != -1) {
        switch (opt) {
        case 'n': namesrv = optarg; break;
        case 't': topic = optarg; break;
        case 'g': group = optarg; break;
        case 's': sub = optarg; break;
        case 'c': g_want = atol(optarg); break;
        case 'T': timeout = atol(optarg); break;
        case 'A': ak = optarg; break;
        case 'S': sk = optarg; break;
        case 'R': trace = 1; break;
        case 'P': trace = 1, trace_topic = optarg; break;
        default:
            fprintf(stderr, "usage: consumer [-n namesrv] [-t topic] [-g group] [-s subExpression] [-c count] [-T seconds]\n"
                            "                [--access-key AK --secret-key SK] [--trace] [--trace-topic topic]\n");
            return 2;
        }
    }
    if (lc_tls_from_env() != 0) { /* JAVA_OPT="-Dtls.enable=true ...", as RocketMQ's tools take it */
        fprintf(stderr, "consumer: %s\n", lc_tls_error());
        return 1;
    }
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    lc_push_consumer_t *c;
    int rc = lc_push_consumer_create(group, namesrv, &c);
    if (rc == 0) {
        lc_push_consumer_set_consume_from(c, LC_FROM_FIRST_OFFSET);
        lc_push_consumer_set_listener(c, on_messages, NULL);
        rc = lc_push_consumer_set_credentials(c, ak, sk);
        if (rc == 0)
            rc = lc_push_consumer_set_trace(c, trace, trace_topic);
        if (rc == 0)
            rc = lc_push_consumer_subscribe(c, topic, sub);
    }
    if (rc == 0)
        rc = lc_push_consumer_start(c);
    if (rc) {
        fprintf(stderr, "consumer: cannot start: %s (set NAMESRV_ADDR or use -n host:port)\n", lc_strerror(rc));
        lc_push_consumer_destroy(c);
        return 1;
    }
    printf("Consumer Started.\n");
    fflush(stdout);
    struct timespec start;
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (!g_stop) {
        struct timespec now, nap = {0, 50 * 1000000L};
        nanosleep(&nap, NULL);
        clock_gettime(CLOCK_MONOTONIC, &now);
        if (timeout > 0 && now.tv_sec - start.tv_sec >= timeout)
            break;
    }
    lc_push_consumer_destroy(c);
    long got = __atomic_load_n(&g_received, __ATOMIC_RELAXED);
    if (g_want > 0 && got < g_want) {
        fprintf(stderr, "consumer: received %ld of %ld messages\n", got, g_want);
        return 1;
    }
    return 0;
}
