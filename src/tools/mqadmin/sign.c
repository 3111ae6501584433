/* sign.c: mqadmin signs its requests with tools.yml's keys (acl spec §2.5). Not written yet
 * (issue 14): requests go unsigned. */
#include "mqadmin.h"

int ma_sign(rm_cmd_t *req)
{
    (void)req;
    return 0;
}
