/*
 * migr/config_rules.h: the target builds the guest from its own rules.
 *
 * The libxl domain configuration a source sends (libxl_domain_config as JSON, as xl sends
 * it) describes the guest; what the guest may touch on the target (bridges, storage,
 * hotplug scripts, devices of the host, programs run in dom0) is the target's decision.
 * migr_config_apply_rules() reads the received JSON and writes a new one holding only
 * what the rules let through, or refuses the whole configuration with a message naming
 * every offending field and its value. docs/target-rules.md lists every field of Xen
 * 4.17's libxl_domain_config and what happens to it.
 *
 * Pure: no Xen headers, no I/O except the existence check of a hotplug script (a
 * callback, stat() by default).
 *
 * Entry points:
 *   migr_target_rules_init() / _dispose()   built-in defaults / free what options added
 *   migr_target_rules_option()              one command-line option or config-file key
 *   migr_target_rules_help()                the options' help text, for the programs
 *   migr_config_apply_rules()               check and rewrite one received configuration
 */
#ifndef MIGR_CONFIG_RULES_H
#define MIGR_CONFIG_RULES_H

#include <stdbool.h>
#include <stddef.h>

/* What the target allows beyond the defaults (struct migr_target_rules.allow). */
#define MIGR_ALLOW_PCI          (1u << 0)  /* pcidevs, rdms, c_info.passthrough, e820_host */
#define MIGR_ALLOW_IOMEM        (1u << 1)  /* b_info.iomem: host machine frames */
#define MIGR_ALLOW_IOPORTS      (1u << 2)  /* b_info.ioports: host I/O ports */
#define MIGR_ALLOW_IRQS         (1u << 3)  /* b_info.irqs: host interrupts */
#define MIGR_ALLOW_DEVICE_MODEL (1u << 4)  /* device_model*, qemu arguments, stub domains,
                                              vfbs, vkbs, channels: processes in dom0 */
#define MIGR_ALLOW_BACKEND      (1u << 5)  /* backend domains other than dom0, and
                                              c_info.driver_domain */
#define MIGR_ALLOW_BOOTLOADER   (1u << 6)  /* b_info.bootloader by bare name, its args */
#define MIGR_ALLOW_DISK_FORMAT  (1u << 7)  /* disk formats other than raw (qcow2, vhd,
                                              ...: their headers name backing files) */

#define MIGR_DEFAULT_BRIDGE      "xenbr0"            /* libxl's default, and ours */
#define MIGR_DEFAULT_SCRIPTS_DIR "/etc/xen/scripts"  /* libxl's XEN_SCRIPT_DIR on Debian */

struct migr_storage_map {
	char *src, *dst;                   /* path prefixes: SRC... becomes DST... */
};

/*
 * The target's rules. Initialise with migr_target_rules_init() and fill with
 * migr_target_rules_option() (which copies strings); migr_target_rules_dispose() frees.
 * Paths are compared as text, component by component: the directories named here must
 * hold no links that lead elsewhere.
 */
struct migr_target_rules {
	char **bridges;                    /* bridges vifs may join; none given: xenbr0 */
	unsigned int n_bridges;
	char **storage;                    /* prefixes disks[].pdev_path may start with */
	unsigned int n_storage;
	struct migr_storage_map *maps;     /* rewrites of disks[].pdev_path, first match */
	unsigned int n_maps;
	char **boot_dirs;                  /* where kernel, ramdisk, device_tree and the PVH
	                                      shim may live; elsewhere they are dropped */
	unsigned int n_boot_dirs;
	char *scripts_dir;                 /* NULL: MIGR_DEFAULT_SCRIPTS_DIR */
	unsigned int allow;                /* MIGR_ALLOW_* */
	/* Whether dir/name is a hotplug script here; NULL: stat() says it is an executable
	 * regular file. A seam for the tests. */
	bool (*script_exists)(const char *dir, const char *name, void *arg);
	void *script_arg;
};

void migr_target_rules_init(struct migr_target_rules *r);
/* Frees what migr_target_rules_option() added; r is then as after _init(). NULL is fine. */
void migr_target_rules_dispose(struct migr_target_rules *r);

/*
 * migr_target_rules_option: applies one option, named as on the command line without the
 * dashes (migrd.conf's keys are these names with '_' for '-'):
 *   allow-bridge B[,B...]   storage PREFIX   storage-map SRC=DST   boot-dir DIR
 *   scripts-dir DIR   allow WHAT[,WHAT...] (pci, iomem, ioports, irqs, device-model,
 *   backend, bootloader, disk-format)
 * Returns 0, -ENOENT for a name that is not one of these, -EINVAL for a bad value (with
 * the reason in err), -ENOMEM.
 */
int migr_target_rules_option(struct migr_target_rules *r, const char *name,
			     const char *value, char *err, size_t errlen);

/* The struct option entries of the options above, all mapped to `code` (getopt.h). */
#define MIGR_TARGET_RULES_OPTIONS(code) \
	{ "allow-bridge", 1, 0, (code) }, { "storage", 1, 0, (code) }, \
	{ "storage-map", 1, 0, (code) }, { "boot-dir", 1, 0, (code) }, \
	{ "scripts-dir", 1, 0, (code) }, { "allow", 1, 0, (code) }

/* Help text for those options, lines of at most 90 columns, ending in a newline. */
const char *migr_target_rules_help(void);

/*
 * migr_config_apply_rules: checks the received configuration json against rules (NULL:
 * the built-in defaults) and writes the configuration to restore from into *json_r
 * (malloc'd, NUL-terminated): the fields that describe the guest as received, storage
 * paths rewritten by the map, c_info.domid and the fields that are the target's business
 * dropped. msg gets "" or the fields dropped beyond c_info.domid ("dropped by the
 * target's rules: ...").
 *
 * Nothing is let through in part: if any field breaks a rule, the whole configuration is
 * refused, -EPERM, and msg names every offending field with its value, as many as fit,
 * then "(and N more)". -EINVAL: not a JSON object of the expected shape (reason in msg).
 * -ENOMEM. *json_r is written only on success.
 */
int migr_config_apply_rules(const char *json, const struct migr_target_rules *rules,
			    char **json_r, char *msg, size_t msglen);

/*
 * migr_config_devices: the devices a libxl JSON configuration (untrusted) gives the guest,
 * for the first-reception estimate of the restore tail (migr/policy.h): vifs the fast
 * hotplug helper can bring up (no ip=, no vifname=, the stock vif-bridge or no script)
 * and the others, and disks. -EINVAL if it is not a JSON object; counts are capped at
 * 64 each.
 */
struct migr_restore_devices;
int migr_config_devices(const char *json, struct migr_restore_devices *d_r);

#endif /* MIGR_CONFIG_RULES_H */
