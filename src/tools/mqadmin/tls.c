/* tls.c: mqadmin's TLS client settings (acl spec §4.2). Not written yet (issue 14): plain TCP. */
#include "mqadmin.h"

int ma_tls_init(void) { return 0; }
