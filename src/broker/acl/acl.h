/* acl subsystem: RocketMQ's plain ACL on every request the broker receives (acl.c), with the
 * engine of src/acl/ (acl/acl.h). Depends on the core only. */
#ifndef LOULAN_BR_ACL_H
#define LOULAN_BR_ACL_H

#include "acl/acl.h"
#include "broker/core/core.h"

/* The subsystem (acl.c): on with aclEnable=true. */
extern const br_subsys_t br_acl_subsys;

/* ---- the ACL admin requests 50-53 (admin.c, acl spec §3) ---- */
#define BR_ACL_NADMIN 4
extern const rm_handler_t br_acl_admin_handlers[BR_ACL_NADMIN];
/* acl.c: admin.c wrote an ACL file: reload now and call done(arg, ok) on the loop once the
 * new table is in use (ok 1) or the load failed (ok 0); called even if the subsystem stops. */
void br_acl_sys_reload(br_broker_t *b, void (*done)(void *arg, int ok), void *arg);
/* admin.c: the subsystem is being released; requests in flight answer nobody's broker. */
void br_acl_admin_release(br_broker_t *b);

/* ---- plain_acl.yml edited and written back (write.c, acl spec §3.2) ----
 * A file as a tree (comments are not kept, every key is), edited, and written as block-style
 * YAML. Any thread; the file functions block (off the loop). */
typedef struct br_acl_doc br_acl_doc_t;
/* The first document of text; an empty file is an empty mapping. NULL with the reason in err
 * (malformed YAML, an alias, a top level that is not a mapping, over 4 MiB). */
br_acl_doc_t *br_acl_doc_parse(const char *text, size_t len, char *err, size_t errlen);
void br_acl_doc_free(br_acl_doc_t *d);
/* Append the document as YAML to out. 0, or -1 with err. */
int br_acl_doc_emit(const br_acl_doc_t *d, cm_buf_t *out, char *err, size_t errlen);
/* UPDATE_AND_CREATE_ACL_CONFIG's fields (NULL: absent; the lists comma-joined). */
typedef struct br_acl_update {
    const char *accessKey, *secretKey, *whiteRemoteAddress, *defaultTopicPerm, *defaultGroupPerm;
    const char *topicPerms, *groupPerms;
    int admin;
} br_acl_update_t;
/* 1 if an entry of `accounts` has this accessKey. */
int br_acl_doc_has_account(const br_acl_doc_t *d, const char *accessKey);
/* Update the account in place as RocketMQ does (secretKey and the default perms when non-empty,
 * whiteRemoteAddress and the lists when present, admin always), or append it. 0, or -1 (memory). */
int br_acl_doc_put_account(br_acl_doc_t *d, const br_acl_update_t *u);
/* Remove every entry of the accessKey; how many. */
int br_acl_doc_delete_account(br_acl_doc_t *d, const char *accessKey);
/* globalWhiteRemoteAddresses = the comma list, split as Java's String.split(","). */
int br_acl_doc_set_global(br_acl_doc_t *d, const char *list);
/* dataVersion[0]: 1 with its counter and timestamp, 0 when absent or not numbers. */
int br_acl_doc_version(const br_acl_doc_t *d, int64_t *counter, int64_t *timestamp);
/* dataVersion = [{counter: old + 1, timestamp: now_ms}]; the new counter in *counter. */
int br_acl_doc_bump(br_acl_doc_t *d, int64_t now_ms, int64_t *counter);
/* The file (at most 4 MiB) in *text (NUL-terminated, caller frees): 0, 1 when it does not
 * exist (*text NULL), -1 with err. */
int br_acl_file_read(const char *path, char **text, size_t *len, char *err, size_t errlen);
/* Replace the file with text: a temporary file beside it (mode 0600), fsync, rename, then the
 * directory synced. Readers see the old file or the new one. 0, or -1 with err. */
int br_acl_file_write(const char *path, const char *text, size_t len, char *err, size_t errlen);

#endif
