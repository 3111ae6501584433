/* mqshutdown namesrv|broker: stop the local Loulan name server or broker(s) cleanly, as
 * RocketMQ's script does: SIGTERM to every matching process of this user, then wait (bounded)
 * until they are gone. The processes flush, unregister and exit 0 on SIGTERM. */
#include <dirent.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <unistd.h>

#define WAIT_MS 15000

/* Pids of this user's processes whose executable name is `prog`. */
static int find(const char *prog, pid_t *out, int max)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    int n = 0;
    if (!d)
        return 0;
    while ((e = readdir(d)) && n < max) {
        char *end;
        long pid = strtol(e->d_name, &end, 10);
        if (*end || pid <= 1 || pid == getpid())
            continue;
        char path[64], comm[64] = "";
        snprintf(path, sizeof path, "/proc/%ld/comm", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        if (fgets(comm, sizeof comm, f))
            comm[strcspn(comm, "\n")] = 0;
        fclose(f);
        if (strcmp(comm, prog) == 0 && kill((pid_t)pid, 0) == 0)
            out[n++] = (pid_t)pid;
    }
    closedir(d);
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2 || (strcmp(argv[1], "namesrv") != 0 && strcmp(argv[1], "broker") != 0)) {
        fprintf(stderr, "usage: mqshutdown namesrv|broker\n");
        return 2;
    }
    const char *prog = strcmp(argv[1], "namesrv") == 0 ? "mqnamesrv" : "mqbroker";
    pid_t pids[256];
    int n = find(prog, pids, 256);
    if (n == 0) {
        printf("No %s running.\n", prog);
        return 1;
    }
    for (int i = 0; i < n; i++) {
        printf("The %s(%d) is running...\n", prog, (int)pids[i]);
        kill(pids[i], SIGTERM);
    }
    for (int waited = 0; waited < WAIT_MS; waited += 50) {
        int alive = 0;
        for (int i = 0; i < n; i++)
            alive += kill(pids[i], 0) == 0;
        if (!alive) {
            for (int i = 0; i < n; i++)
                printf("Send shutdown request to %s(%d) OK\n", prog, (int)pids[i]);
            return 0;
        }
        usleep(50000);
    }
    fprintf(stderr, "mqshutdown: %s still running after %d s\n", prog, WAIT_MS / 1000);
    return 1;
}
