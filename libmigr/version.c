/* version.c: library version and error texts. */
#include <string.h>
#include "libmigr.h"

const char *migr_version(void)
{
	return MIGR_VERSION_STRING;
}

const char *migr_strerror(int err)
{
	switch (-err) {
	case MIGR_E_PROTO:       return "peer broke the migration protocol";
	case MIGR_E_AUTH:        return "authentication failed";
	case MIGR_E_ABORTED:     return "aborted cleanly; the guest keeps running on the source";
	case MIGR_E_UNSUPPORTED: return "this guest cannot be migrated on this host";
	case MIGR_E_UNDECIDED:   return "outcome unknown; resolve with the target (migr resolve)";
	case MIGR_E_CRASHED:     return "crash injected; nothing was cleaned up";
	}
	return strerror(err < 0 ? -err : err);
}
