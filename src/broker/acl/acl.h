/* acl subsystem: RocketMQ's plain ACL on every request the broker receives (acl.c), with the
 * engine of src/acl/ (acl/acl.h). Depends on the core only. */
#ifndef LOULAN_BR_ACL_H
#define LOULAN_BR_ACL_H

#include "acl/acl.h"
#include "broker/core/core.h"

/* The subsystem (acl.c): on with aclEnable=true. */
extern const br_subsys_t br_acl_subsys;

#endif
