/* test_version.c: the library's version and error texts. */
#include <errno.h>
#include "libmigr.h"
#include "unit.h"

int main(void)
{
	CHECK_STR(migr_version(), MIGR_VERSION_STRING);
	CHECK_STR(migr_strerror(-ENOMEM), "Cannot allocate memory");
	CHECK(strstr(migr_strerror(-MIGR_E_ABORTED), "source") != NULL);
	CHECK(strstr(migr_strerror(-MIGR_E_UNDECIDED), "migr resolve") != NULL);
	return unit_done("test_version");
}
