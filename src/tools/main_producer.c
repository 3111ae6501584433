/* bin/producer: the quick-start producer, like RocketMQ's
 * `tools.sh org.apache.rocketmq.example.quickstart.Producer`. Sends N messages with tag TagA and
 * body "Hello RocketMQ <i>" and prints each SendResult exactly as Java's toString() does.
 * Usage: producer [-n namesrv | -n count] [-c count] [-t topic] [-g group]
 * (-n takes a name server list "host:port;..." or, if it is a plain number, the count;
 * without a name server NAMESRV_ADDR is used). Exit status 1 if any send failed. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "loulan/client.h"

static void usage(void)
{
    fprintf(stderr, "usage: producer [-n namesrv|count] [-c count] [-t topic] [-g group]\n");
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
    const char *namesrv = NULL, *topic = "TopicTest", *group = "please_rename_unique_group_name";
    long count = 1000;
    int opt;
    while ((opt = getopt(argc, argv, "n:c:t:g:h")) != -1) {
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
        default: usage();
        }
    }
    lc_producer_t *p;
    int rc = lc_producer_create(group, namesrv, &p);
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
        lc_message_t m = {.topic = topic, .tags = "TagA", .body = body, .body_len = (size_t)blen};
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
