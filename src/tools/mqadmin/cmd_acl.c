/* cmd_acl.c: the ACL admin commands (acl spec §3.3). Not written yet (issue 14): each says so. */
#include <stdio.h>

#include "mqadmin.h"

static int missing(const char *name)
{
    fprintf(stderr, "mqadmin: %s is not implemented yet\n", name);
    return 1;
}
int cmd_update_acl_config(int argc, char **argv) { (void)argc, (void)argv; return missing("updateAclConfig"); }
int cmd_delete_acl_config(int argc, char **argv) { (void)argc, (void)argv; return missing("deleteAclConfig"); }
int cmd_cluster_acl_config_version(int argc, char **argv) { (void)argc, (void)argv; return missing("clusterAclConfigVersion"); }
int cmd_update_global_white_addr(int argc, char **argv) { (void)argc, (void)argv; return missing("updateGlobalWhiteAddr"); }
