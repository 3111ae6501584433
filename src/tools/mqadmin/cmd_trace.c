/* cmd_trace.c: queryMsgTraceById (acl spec §5.4). Not written yet (issue 14): it says so. */
#include <stdio.h>

#include "mqadmin.h"

int cmd_query_msg_trace_by_id(int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(stderr, "mqadmin: queryMsgTraceById is not implemented yet\n");
    return 1;
}
