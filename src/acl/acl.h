/* acl: RocketMQ 4.9's plain ACL (acl spec §1-§3) as a library the broker and the name server
 * share: accounts and white lists from plain_acl.yml-format files, and the decision on each
 * request, signature included (remoting/sign.c). An immutable table built from the files
 * (load.c; blocking reads, so off the loop), remote-address patterns (pattern.c) and the
 * decision (decide.c), all pure: any thread, no state but the table. */
#ifndef LOULAN_ACL_H
#define LOULAN_ACL_H

#include <stddef.h>
#include <stdint.h>

#include <uv.h>

#include "remoting/remoting.h"

/* Permission bits (spec §1.4). */
enum { ACL_DENY = 1, ACL_ANY = 2, ACL_PUB = 4, ACL_SUB = 8 };

/* ---- remote address patterns (pattern.c, spec §1.5) ---- */
typedef struct acl_pattern acl_pattern_t;
/* Parse a pattern; NULL with the reason in err for a bad one. A blank pattern parses and never
 * matches. Free with acl_pattern_free. */
acl_pattern_t *acl_pattern_parse(const char *text, char *err, size_t errlen);
void acl_pattern_free(acl_pattern_t *p);
/* ip: the client's address without the port, IPv4 dotted or IPv6 (an IPv4-mapped IPv6 address
 * counts as its IPv4 form). */
int acl_pattern_match(const acl_pattern_t *p, const char *ip);

/* ---- the table (load.c, spec §1.2, §1.3) ---- */
typedef struct acl_perm {
    char *resource;             /* a topic, or "%RETRY%" + group for groupPerms */
    int perm;
} acl_perm_t;

typedef struct acl_account {
    char *accessKey, *secretKey;
    acl_pattern_t *white;    /* whiteRemoteAddress; NULL: none */
    int admin;
    int defaultTopicPerm, defaultGroupPerm;
    acl_perm_t *perms;       /* topicPerms then groupPerms, in file order */
    size_t nperms;
    int hasExplicit;            /* any topicPerms or groupPerms at all (spec §1.7 step 9) */
    int unsorted;               /* perms could not be sorted (memory): looked up in order */
    rm_sign_key_t *key;         /* secretKey prepared for verification (NULL: use secretKey) */
    const char *file;           /* the file it came from */
} acl_account_t;

typedef struct acl_table {
    acl_pattern_t **global;  /* globalWhiteRemoteAddresses of every file */
    size_t nglobal;
    acl_account_t *accounts; /* the first file that names an accessKey owns it */
    size_t naccounts;
    char **files;               /* the files read, in the order read */
    size_t nfiles;
    uint64_t stamp;             /* acl_stamp of the files when they were read */
} acl_table_t;

/* A perm string ("DENY", "PUB", "SUB", "PUB|SUB", "SUB|PUB", trimmed); anything else is DENY. */
int acl_perm_parse(const char *s);
/* Add the YAML text of one file (named `file`) to acl. 0, or -1 with the reason in err (the
 * whole load fails, as RocketMQ's). Keys shorter than 7 characters, a bad pattern, or a
 * resource entry that is not "name=PERM" are errors. */
int acl_load_text(acl_table_t *acl, const char *file, const char *text, size_t len, char *err, size_t errlen);
/* Load a table from files. With one_file 0, `where` is a home folder laid out as RocketMQ's
 * broker reads it: <home>/conf/plain_acl.yml and every *.yml / *.yaml under <home>/conf/acl/
 * (recursively, but conf/acl/tools.yml); with one_file 1, `where` is the one file (the name
 * server's). A missing default file is an empty table. Blocking file reads: call off the loop.
 * NULL with the reason in err. */
acl_table_t *acl_load(const char *where, int one_file, char *err, size_t errlen);
void acl_free(acl_table_t *acl);
/* A fingerprint of the file set acl_load reads (paths, sizes, modification times): different
 * from the table's stamp when a reload is due. Blocking (stat): off the loop. */
int acl_stamp(const char *where, int one_file, uint64_t *out, char *err, size_t errlen);

/* ---- watching the files (watch.c): the table in use, reloaded when the files change ---- */
typedef struct acl_watch acl_watch_t;
/* Load now (blocking: call before serving), then every 5 s check the files on libuv's thread
 * pool and swap in a new table when they changed (RocketMQ's watcher interval); a file that
 * fails to load keeps the table in use and is logged (under `who`) once per change. 0, or -1
 * with the reason in err. */
int acl_watch_start(uv_loop_t *loop, const char *where, int one_file, const char *who, acl_watch_t **out, char *err,
                    size_t errlen);
/* The table in use (loop thread); valid until the loop next runs a reload's completion. */
const acl_table_t *acl_watch_table(const acl_watch_t *w);
/* Reload now, whether or not the files look changed (after an edit of them), and call
 * done(arg, ok) on the loop once the new table is in use (ok 1) or the load failed (ok 0). */
void acl_watch_reload(acl_watch_t *w, void (*done)(void *arg, int ok), void *arg);
/* Stop watching; the memory goes once the timer closed and any reload in flight ended. */
void acl_watch_stop(acl_watch_t *w);
/* What the account owns of a resource: its entry (the last one for it in the file), else the
 * default for topics or, for "%RETRY%" + group, for groups. Logarithmic. */
int acl_perm_of(const acl_account_t *a, const char *resource);
const acl_account_t *acl_account(const acl_table_t *acl, const char *accessKey);

/* ---- the decision (decide.c, spec §1.6-§1.8) ---- */
/* One resource a request needs: a topic or "%RETRY%" + group, and PUB or SUB. */
typedef struct acl_need {
    char resource[300];         /* a topic (<= 127) or "%RETRY%" + a group (<= 255), cut there */
    int perm;
} acl_need_t;
#define ACL_MAX_NEEDS 64
/* What request code `code` needs from its header fields (not HEART_BEAT's body: the caller
 * adds those). How many (at most ACL_MAX_NEEDS), and *admin_only for the admin-only codes. */
int acl_needs(const rm_cmd_t *req, acl_need_t *needs, int *admin_only);
/* The decision in RocketMQ 4.9.5's order: NULL to accept, else the AclException message
 * (static storage or `msg`). ip: the client's address without the port. */
const char *acl_decide(const acl_table_t *acl, const rm_cmd_t *req, const char *ip, const acl_need_t *needs,
                          int nneeds, int admin_only, char *msg, size_t msglen);

/* The same, but with `verify` the signature is not checked: *verify is then the account whose
 * secretKey the caller must check it with (rm_sign_verify, e.g. on the thread pool for a large
 * body), or NULL when a white list let the request in. The account lives as long as the table. */
const char *acl_decide_later(const acl_table_t *acl, const rm_cmd_t *req, const char *ip, const acl_need_t *needs,
                             int nneeds, int admin_only, const acl_account_t **verify, char *msg, size_t msglen);
/* HEART_BEAT's needs, once its body is decoded (spec §1.6): SUB on "%RETRY%" + each consumer
 * group and on each subscribed topic, for the request whose signature acl_decide already
 * verified (ak: its AccessKey). NULL to accept, else the AclException message. */
const char *acl_decide_subscribe(const acl_table_t *acl, const char *ak, const char *ip, const char *const *groups,
                                    size_t ngroups, const char *const *topics, size_t ntopics, char *msg,
                                    size_t msglen);

#endif
