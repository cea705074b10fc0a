/*
 * fuzz_config_rules.c: the target's rules (libmigr/config_rules.c) on hostile libxl
 * configurations. The first byte picks the rules (its bits: the MIGR_ALLOW_* flags, with
 * a storage prefix, a storage map, a boot directory and a second bridge always set); the
 * rest is the JSON. Whatever is accepted must be accepted again unchanged: the output is
 * a configuration within the same rules, so a second pass keeps every byte and drops
 * nothing. A refusal must write no output and a message that fits.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "libmigr.h"

static bool scripts(const char *dir, const char *name, void *arg)
{
	return !strcmp(name, "vif-bridge") || !strcmp(name, "block");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct migr_target_rules r;
	char msg[256], msg2[256], err[64], *json, *out = NULL, *out2 = NULL;
	int rc;

	if (size < 1)
		return 0;
	json = malloc(size);
	if (!json)
		return 0;
	memcpy(json, data + 1, size - 1);
	json[size - 1] = '\0';

	migr_target_rules_init(&r);
	r.allow = data[0];
	r.script_exists = scripts;
	if (migr_target_rules_option(&r, "storage", "/var/lib/xen/images", err, sizeof(err)) ||
	    migr_target_rules_option(&r, "storage-map", "/srv/a=/var/lib/xen/images/a", err,
				     sizeof(err)) ||
	    migr_target_rules_option(&r, "boot-dir", "/var/lib/xen/boot", err, sizeof(err)) ||
	    migr_target_rules_option(&r, "allow-bridge", "xenbr0,br1", err, sizeof(err)))
		abort();

	rc = migr_config_apply_rules(json, &r, &out, msg, sizeof(msg));
	if (strlen(msg) >= sizeof(msg))
		abort();
	if (rc == 0) {
		if (!out)
			abort();
		/* A second pass: accepted, the same bytes, nothing dropped (unless rewritten
		 * by the map, whose output lies under the allowed storage anyway). */
		if (migr_config_apply_rules(out, &r, &out2, msg2, sizeof(msg2)))
			abort();
		if (strcmp(out, out2) || msg2[0])
			abort();
	} else if (out || (rc != -EPERM && rc != -EINVAL && rc != -ENOMEM) || !msg[0]) {
		abort();
	}
	free(out);
	free(out2);
	free(json);
	migr_target_rules_dispose(&r);
	return 0;
}
