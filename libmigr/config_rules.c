/*
 * config_rules.c: the target's rules over a received libxl domain configuration
 * (migr/config_rules.h; the field-by-field table and its reasons are in
 * docs/target-rules.md).
 *
 * Entry points: migr_target_rules_init(), _dispose(), _option(), _help(),
 * migr_config_apply_rules().
 *
 * The received JSON is untrusted. It is checked for shape (one object, nesting capped,
 * no key given twice: libxl's parser takes the first of two, so a checker that looked at
 * the second would be fooled), parsed with yajl's tree parser, and walked against a table
 * per libxl type. What goes out is *written anew* from the tree with yajl_gen, holding
 * only the fields of those tables that the rules let through: a field this file does not
 * know never reaches libxl. A keyed union (b_info's "type.pv", ...) may appear once only:
 * libxl's JSON parser asserts when it meets two.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <yajl/yajl_gen.h>
#include <yajl/yajl_tree.h>

#include "libmigr.h"

#define JSON_DEPTH   24        /* libxl_domain_config nests 9 deep (vsnds) */
#define MAX_KEYS     512       /* per object; libxl's largest struct has about 80 */
#define MAX_VCPUS    8192      /* Xen's limit for PV; libxl sizes bitmaps by it */
#define SHOW_VALUE   60        /* value characters quoted in a message */
#define SCRIPT_MAX   64

/* ---- the rules ---------------------------------------------------------------------- */

void migr_target_rules_init(struct migr_target_rules *r)
{
	memset(r, 0, sizeof(*r));
}

static void free_list(char **l, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		free(l[i]);
	free(l);
}

void migr_target_rules_dispose(struct migr_target_rules *r)
{
	if (!r)
		return;
	free_list(r->bridges, r->n_bridges);
	free_list(r->storage, r->n_storage);
	free_list(r->boot_dirs, r->n_boot_dirs);
	for (unsigned int i = 0; i < r->n_maps; i++) {
		free(r->maps[i].src);
		free(r->maps[i].dst);
	}
	free(r->maps);
	free(r->scripts_dir);
	migr_target_rules_init(r);
}

static int push(char ***l, unsigned int *n, const char *s, size_t len)
{
	char **nl, *c;

	if (*n >= 256)
		return -E2BIG;
	c = strndup(s, len);
	if (!c)
		return -ENOMEM;
	nl = realloc(*l, (*n + 1) * sizeof(**l));
	if (!nl) {
		free(c);
		return -ENOMEM;
	}
	nl[(*n)++] = c;
	*l = nl;
	return 0;
}

/* Absolute, and no component is "." or "..". */
static bool path_clean(const char *p)
{
	const char *s = p, *e;

	if (!p || p[0] != '/')
		return false;
	while (*s) {
		size_t n;

		while (*s == '/')
			s++;
		e = strchrnul(s, '/');
		n = (size_t)(e - s);
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return false;
		s = e;
	}
	return true;
}

/* Length of prefix p without its trailing slashes ("/" stays 1). */
static size_t prefix_len(const char *p)
{
	size_t n = strlen(p);

	while (n > 1 && p[n - 1] == '/')
		n--;
	return n;
}

/* Whether path lies under prefix, component-wise ("/a/b" covers "/a/b" and "/a/b/c",
 * not "/a/bc"); *rest_r: what follows the prefix in path. */
static bool under(const char *path, const char *prefix, const char **rest_r)
{
	size_t n = prefix_len(prefix);

	if (n == 1 && prefix[0] == '/') {
		*rest_r = path;
		return path[0] == '/';
	}
	if (strncmp(path, prefix, n) || (path[n] && path[n] != '/'))
		return false;
	*rest_r = path + n;
	return true;
}

/* Interface names: what the kernel accepts, less what a shell would read. */
static bool ifname_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > 15)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
			return false;
	return true;
}

static const struct { const char *name; unsigned int bit; } allow_names[] = {
	{ "pci", MIGR_ALLOW_PCI }, { "iomem", MIGR_ALLOW_IOMEM },
	{ "ioports", MIGR_ALLOW_IOPORTS }, { "irqs", MIGR_ALLOW_IRQS },
	{ "device-model", MIGR_ALLOW_DEVICE_MODEL }, { "backend", MIGR_ALLOW_BACKEND },
	{ "bootloader", MIGR_ALLOW_BOOTLOADER }, { "disk-format", MIGR_ALLOW_DISK_FORMAT },
};

static int bad(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -EINVAL;
}

int migr_target_rules_option(struct migr_target_rules *r, const char *name,
			     const char *value, char *err, size_t errlen)
{
	const char *s, *e;
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!name || !value)
		return bad(err, errlen, "option without a value");
	if (!strcmp(name, "allow-bridge") || !strcmp(name, "allow")) {
		bool bridges = name[5] == '-';

		for (s = value; ; s = e + 1) {
			size_t n;

			e = strchrnul(s, ',');
			n = (size_t)(e - s);
			if (bridges) {
				char b[16];

				if (n >= sizeof(b))
					return bad(err, errlen, "bridge name too long: %.*s", (int)n, s);
				memcpy(b, s, n);
				b[n] = '\0';
				if (!ifname_ok(b))
					return bad(err, errlen, "not a bridge name: \"%s\"", b);
				if ((rc = push(&r->bridges, &r->n_bridges, s, n)))
					return rc;
			} else {
				unsigned int i;

				for (i = 0; i < sizeof(allow_names) / sizeof(allow_names[0]); i++)
					if (strlen(allow_names[i].name) == n &&
					    !strncmp(allow_names[i].name, s, n))
						break;
				if (i == sizeof(allow_names) / sizeof(allow_names[0]))
					return bad(err, errlen, "--allow takes pci, iomem, ioports, "
						   "irqs, device-model, backend, bootloader, "
						   "disk-format; not \"%.*s\"", (int)(n > 40 ? 40 : n), s);
				r->allow |= allow_names[i].bit;
			}
			if (!*e)
				return 0;
		}
	}
	if (!strcmp(name, "storage") || !strcmp(name, "boot-dir")) {
		if (!path_clean(value))
			return bad(err, errlen, "--%s takes an absolute path without . or .. "
				   "components, not \"%s\"", name, value);
		return name[0] == 's' ? push(&r->storage, &r->n_storage, value, strlen(value))
				      : push(&r->boot_dirs, &r->n_boot_dirs, value, strlen(value));
	}
	if (!strcmp(name, "storage-map")) {
		struct migr_storage_map *nm;
		char *src, *dst;

		e = strchr(value, '=');
		if (!e)
			return bad(err, errlen, "--storage-map takes SRC=DST, not \"%s\"", value);
		src = strndup(value, (size_t)(e - value));
		dst = strdup(e + 1);
		if (!src || !dst) {
			free(src);
			free(dst);
			return -ENOMEM;
		}
		if (!path_clean(src) || !path_clean(dst) || r->n_maps >= 256) {
			free(src);
			free(dst);
			return bad(err, errlen, "--storage-map takes SRC=DST, two absolute paths "
				   "without . or .. components, not \"%s\"", value);
		}
		nm = realloc(r->maps, (r->n_maps + 1) * sizeof(*nm));
		if (!nm) {
			free(src);
			free(dst);
			return -ENOMEM;
		}
		nm[r->n_maps].src = src;
		nm[r->n_maps].dst = dst;
		r->n_maps++;
		r->maps = nm;
		return 0;
	}
	if (!strcmp(name, "scripts-dir")) {
		char *d;

		if (!path_clean(value))
			return bad(err, errlen, "--scripts-dir takes an absolute path without . or "
				   ".. components, not \"%s\"", value);
		d = strndup(value, prefix_len(value));
		if (!d)
			return -ENOMEM;
		free(r->scripts_dir);
		r->scripts_dir = d;
		return 0;
	}
	return -ENOENT;
}

const char *migr_target_rules_help(void)
{
	return
"What a received guest may use here. A configuration asking for anything else is\n"
"refused before anything is created, its fields named in the log and to a migr source\n"
"(docs/target-rules.md has every field and what happens to it):\n"
"  --allow-bridge B[,B]  bridges its vifs may join (repeatable; default: xenbr0 only;\n"
"                        once given, only the bridges named)\n"
"  --storage PREFIX      disks may be paths under PREFIX (repeatable; default: none,\n"
"                        so a guest with a disk is refused)\n"
"  --storage-map SRC=DST a disk path under SRC on the source is DST... here (repeatable;\n"
"                        the first match applies)\n"
"  --boot-dir DIR        keep the guest's kernel, ramdisk and PVH shim paths if under\n"
"                        DIR (repeatable); else they are dropped: a restore does not\n"
"                        read them, only a later rebuild of the guest here would\n"
"  --scripts-dir DIR     the hotplug scripts a guest may name (default "
MIGR_DEFAULT_SCRIPTS_DIR ";\n"
"                        it must be libxl's script directory)\n"
"  --allow WHAT[,WHAT]   also allow: pci (PCI passthrough), iomem, ioports, irqs,\n"
"                        device-model (device model overrides, qemu arguments, vfb, vkb,\n"
"                        channels), backend (backend domains other than dom0),\n"
"                        bootloader (by name, run in dom0 at a rebuild), disk-format\n"
"                        (formats other than raw)\n";
}

/* ---- the walk ------------------------------------------------------------------------ */

struct walk {
	const struct migr_target_rules *r;
	const char *scripts_dir;
	yajl_gen g;
	int err;                        /* -ENOMEM: stop */
	char *msg;                      /* the refusals, as many as fit */
	size_t msglen, used;
	unsigned int refused, shown;
	bool full;
	char drops[512];                /* the fields dropped, as many as fit */
	size_t dused;
	unsigned int dropped, dshown;
	bool have_max_mem;
	unsigned long long max_memkb;
};

static const char REFUSED[] = "refused by the target's rules: ";
static const char DROPPED[] = "dropped by the target's rules: ";

/* Keys come from the peer too: no control characters into logs. */
static void printable(char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7f)
			*s = '?';
}

/* Appends one refusal "PATH VALUE WHY" if it fits with room for "(and N more)". */
static void refuse(struct walk *w, const char *path, yajl_val v, const char *fmt, ...)
{
	char item[512], val[SHOW_VALUE + 16];
	size_t n, need;
	va_list ap;
	int k;

	w->refused++;
	if (w->full || !w->msg || !w->msglen)
		return;
	val[0] = '\0';
	if (YAJL_IS_STRING(v)) {
		const char *s = YAJL_GET_STRING(v);
		size_t i, o = 0;

		val[o++] = ' ';
		val[o++] = '"';
		for (i = 0; s[i] && i < SHOW_VALUE; i++)
			val[o++] = (unsigned char)s[i] < 0x20 || (unsigned char)s[i] >= 0x7f ||
				   s[i] == '"' ? '?' : s[i];
		if (s[i])
			o += (size_t)snprintf(val + o, sizeof(val) - o, "...");
		val[o++] = '"';
		val[o] = '\0';
	} else if (YAJL_IS_NUMBER(v)) {
		snprintf(val, sizeof(val), " %.24s", v->u.number.r);
	} else if (YAJL_IS_TRUE(v)) {
		snprintf(val, sizeof(val), " true");
	} else if (YAJL_IS_ARRAY(v)) {
		snprintf(val, sizeof(val), " [%zu entr%s]", v->u.array.len,
			 v->u.array.len == 1 ? "y" : "ies");
	} else if (YAJL_IS_OBJECT(v)) {
		snprintf(val, sizeof(val), " {...}");
	}
	k = snprintf(item, sizeof(item), "%s%s ", path, val);
	if (k < 0 || (size_t)k >= sizeof(item))
		k = (int)sizeof(item) - 1;
	va_start(ap, fmt);
	vsnprintf(item + k, sizeof(item) - (size_t)k, fmt, ap);
	va_end(ap);

	printable(item);
	n = strlen(item);
	need = (w->shown ? 2 : sizeof(REFUSED) - 1) + n + 24;   /* 24: " (and NNNN more)" */
	if (w->used + need >= w->msglen) {
		w->full = true;
		return;
	}
	w->used += (size_t)snprintf(w->msg + w->used, w->msglen - w->used, "%s%s",
				    w->shown ? "; " : REFUSED, item);
	w->shown++;
}

static void note_drop(struct walk *w, const char *path)
{
	size_t n = strlen(path);

	w->dropped++;
	if (w->dused + n + 24 >= sizeof(w->drops))
		return;
	w->dused += (size_t)snprintf(w->drops + w->dused, sizeof(w->drops) - w->dused, "%s%s",
				     w->dshown ? ", " : "", path);
	printable(w->drops);
	w->dshown++;
}

/* A generator failure is an allocation failure: the tree it writes is well-formed. */
static void gen_check(struct walk *w, yajl_gen_status st)
{
	if (st != yajl_gen_status_ok && !w->err)
		w->err = -ENOMEM;
}

/* A string, key or value (yajl_gen tells them apart by position). */
static void gen_str(struct walk *w, const char *s)
{
	if (!w->err)
		gen_check(w, yajl_gen_string(w->g, (const unsigned char *)s, strlen(s)));
}

#define gen_key gen_str

/* Writes v as it came (a field known to describe the guest only). */
static void copy(struct walk *w, yajl_val v)
{
	if (w->err)
		return;
	switch (v->type) {
	case yajl_t_string:
		gen_str(w, v->u.string);
		break;
	case yajl_t_number:
		gen_check(w, yajl_gen_number(w->g, v->u.number.r, strlen(v->u.number.r)));
		break;
	case yajl_t_object:
		gen_check(w, yajl_gen_map_open(w->g));
		for (size_t i = 0; i < v->u.object.len; i++) {
			gen_key(w, v->u.object.keys[i]);
			copy(w, v->u.object.values[i]);
		}
		gen_check(w, yajl_gen_map_close(w->g));
		break;
	case yajl_t_array:
		gen_check(w, yajl_gen_array_open(w->g));
		for (size_t i = 0; i < v->u.array.len; i++)
			copy(w, v->u.array.values[i]);
		gen_check(w, yajl_gen_array_close(w->g));
		break;
	case yajl_t_true:
		gen_check(w, yajl_gen_bool(w->g, 1));
		break;
	case yajl_t_false:
		gen_check(w, yajl_gen_bool(w->g, 0));
		break;
	default:
		gen_check(w, yajl_gen_null(w->g));
		break;
	}
}

static void keep(struct walk *w, const char *key, yajl_val v)
{
	gen_key(w, key);
	copy(w, v);
}

/* Unset: absent, null, false, 0, "", an empty list or object. */
static bool is_off(yajl_val v)
{
	if (!v || YAJL_IS_NULL(v) || YAJL_IS_FALSE(v))
		return true;
	if (YAJL_IS_INTEGER(v))
		return YAJL_GET_INTEGER(v) == 0;
	if (YAJL_IS_STRING(v))
		return !v->u.string[0];
	if (YAJL_IS_ARRAY(v))
		return v->u.array.len == 0;
	if (YAJL_IS_OBJECT(v))
		return v->u.object.len == 0;
	return false;
}

/* A libxl defbool that is unset or off: also its spellings "<default>" and "False" (which
 * for a string field would be a name, hence not in is_off()). */
static bool is_off_bool(yajl_val v)
{
	return is_off(v) || (YAJL_IS_STRING(v) && (!strcmp(v->u.string, "<default>") ||
						   !strcmp(v->u.string, "False")));
}

static yajl_val get(yajl_val obj, const char *key)
{
	if (!YAJL_IS_OBJECT(obj))
		return NULL;
	for (size_t i = 0; i < obj->u.object.len; i++)
		if (!strcmp(obj->u.object.keys[i], key))
			return obj->u.object.values[i];
	return NULL;
}

/* What to do with a field. */
enum act {
	A_KEEP,        /* describes the guest: written as received */
	A_DROP,        /* the target's business: not written, noted */
	A_QUIET,       /* not written, not noted (c_info.domid) */
	A_OFF,         /* written if off; otherwise refused unless `flag` is allowed */
	A_OFFB,        /* the same for a defbool */
	A_ENUM,        /* written if absent or one of `vals`; else as A_OFF */
	A_FN,          /* `fn` decides */
};

struct field;
typedef void field_fn(struct walk *w, const char *path, const char *key, yajl_val v,
		      const struct field *f);

struct field {
	const char *key;
	enum act act;
	unsigned int flag;                 /* MIGR_ALLOW_* that lets it through; 0: none */
	const char *why;                   /* the refusal's reason */
	const char *const *vals;           /* A_ENUM: accepted values (any case) */
	field_fn *fn;                      /* A_FN */
	const struct field *sub;           /* for fn: a table to walk (objects, arrays) */
	const char *detail;                /* for fn: a key to name in a device's refusal */
};

static const char *allow_name(unsigned int bit)
{
	for (unsigned int i = 0; i < sizeof(allow_names) / sizeof(allow_names[0]); i++)
		if (allow_names[i].bit == bit)
			return allow_names[i].name;
	return "?";
}

static void refuse_field(struct walk *w, const char *path, yajl_val v, const struct field *f)
{
	if (f->flag)
		refuse(w, path, v, "%s (--allow %s)", f->why,
		       allow_name(f->flag));
	else
		refuse(w, path, v, "%s", f->why);
}

static bool allowed(struct walk *w, unsigned int flag)
{
	return flag && (w->r->allow & flag) == flag;
}

static void walk_object(struct walk *w, const char *path, yajl_val obj,
			const struct field *tab);

static void field_apply(struct walk *w, const char *path, const char *key, yajl_val v,
			const struct field *f)
{
	switch (f->act) {
	case A_KEEP:
		keep(w, key, v);
		break;
	case A_DROP:
		note_drop(w, path);
		break;
	case A_QUIET:
		break;
	case A_ENUM:
		if (!v || YAJL_IS_NULL(v)) {
			keep(w, key, v);
			break;
		}
		if (YAJL_IS_STRING(v))
			for (const char *const *a = f->vals; *a; a++)
				if (!strcasecmp(v->u.string, *a)) {
					keep(w, key, v);
					return;
				}
		/* fall through */
	case A_OFF:
	case A_OFFB:
		if ((f->act == A_OFF && is_off(v)) || (f->act == A_OFFB && is_off_bool(v)) ||
		    allowed(w, f->flag))
			keep(w, key, v);
		else
			refuse_field(w, path, v, f);
		break;
	case A_FN:
		f->fn(w, path, key, v, f);
		break;
	}
}

/* A table's key matches itself, or with a final '*' every key it begins. */
static bool key_match(const char *pat, const char *k)
{
	size_t n = strlen(pat);

	return n && pat[n - 1] == '*' ? !strncmp(pat, k, n - 1) : !strcmp(pat, k);
}

/* Walks obj against tab, writing what is kept; keys not in tab are dropped. */
static void walk_object(struct walk *w, const char *path, yajl_val obj,
			const struct field *tab)
{
	gen_check(w, yajl_gen_map_open(w->g));
	for (size_t i = 0; i < obj->u.object.len && !w->err; i++) {
		const char *k = obj->u.object.keys[i];
		const struct field *f;
		char p[256];

		snprintf(p, sizeof(p), "%s%s%.48s", path, path[0] ? "." : "", k);
		for (f = tab; f->key && !key_match(f->key, k); f++)
			;
		if (f->key)
			field_apply(w, p, k, obj->u.object.values[i], f);
		else
			note_drop(w, p);
	}
	gen_check(w, yajl_gen_map_close(w->g));
}

/* ---- field checks -------------------------------------------------------------------- */

static void fn_object(struct walk *w, const char *path, const char *key, yajl_val v,
		      const struct field *f)
{
	if (!YAJL_IS_OBJECT(v)) {
		refuse(w, path, v, "is not an object");
		return;
	}
	gen_key(w, key);
	walk_object(w, path, v, f->sub);
}

/* What libxl would choose for a field left out must be allowed too: a vif without a
 * bridge joins xenbr0; a disk without a format gets whatever its backend guesses. */
static void absent_fields(struct walk *w, const char *key, const char *path, yajl_val e,
			  const struct field *tab)
{
	char p[300];

	if (!strcmp(key, "nics") && !get(e, "bridge"))
		tab[0].fn(w, path, NULL, NULL, &tab[0]);     /* fn_bridge */
	if (!strcmp(key, "disks") && !get(e, "format") && !allowed(w, MIGR_ALLOW_DISK_FORMAT)) {
		snprintf(p, sizeof(p), "%s.format", path);
		refuse(w, p, NULL, "(absent) lets the backend guess the image format "
		       "(--allow disk-format)");
	}
}

/* An array of objects of one libxl type (disks, nics). */
static void fn_objects(struct walk *w, const char *path, const char *key, yajl_val v,
		       const struct field *f)
{
	if (!YAJL_IS_ARRAY(v)) {
		refuse(w, path, v, "is not a list");
		return;
	}
	gen_key(w, key);
	gen_check(w, yajl_gen_array_open(w->g));
	for (size_t i = 0; i < v->u.array.len && !w->err; i++) {
		yajl_val e = v->u.array.values[i];
		char p[256];

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!YAJL_IS_OBJECT(e)) {
			refuse(w, p, e, "is not an object");
			continue;
		}
		absent_fields(w, key, p, e, f->sub);
		walk_object(w, p, e, f->sub);
	}
	gen_check(w, yajl_gen_array_close(w->g));
}

/* A backend domain, a device's only link to a domain other than dom0. */
static void fn_backend(struct walk *w, const char *path, const char *key, yajl_val v,
		       const struct field *f)
{
	if (is_off(v) || allowed(w, MIGR_ALLOW_BACKEND))
		keep(w, key, v);
	else
		refuse(w, path, v, "is a backend domain other than dom0 (--allow backend)");
}

/*
 * Devices the target does not build from a received configuration unless allowed: a
 * non-empty list is refused, naming each device (and f->detail, its most telling field).
 * When allowed, each is written as received, its backend domain still checked, and a
 * channel's socket path still refused (a file libxl's device model creates in dom0).
 */
static void fn_devices(struct walk *w, const char *path, const char *key, yajl_val v,
		       const struct field *f)
{
	bool ok = allowed(w, f->flag);

	if (is_off(v)) {
		keep(w, key, v);
		return;
	}
	if (!YAJL_IS_ARRAY(v)) {
		refuse(w, path, v, "is not a list");
		return;
	}
	for (size_t i = 0; i < v->u.array.len; i++) {
		yajl_val e = v->u.array.values[i], d;
		unsigned int unions = 0;
		char p[256];

		snprintf(p, sizeof(p), "%s[%zu]", path, i);
		if (!ok) {
			d = f->detail ? get(e, f->detail) : NULL;
			if (d) {
				char pd[300];

				snprintf(pd, sizeof(pd), "%s.%s", p, f->detail);
				refuse_field(w, pd, d, f);
			} else {
				refuse_field(w, p, e, f);
			}
			continue;
		}
		if (!YAJL_IS_OBJECT(e)) {
			refuse(w, p, e, "is not an object");
			continue;
		}
		for (size_t j = 0; j < e->u.object.len; j++) {
			const char *k = e->u.object.keys[j];
			yajl_val x = e->u.object.values[j];
			char pk[320];

			snprintf(pk, sizeof(pk), "%s.%.48s", p, k);
			if ((!strcmp(k, "backend_domid") || !strcmp(k, "backend_domname")) &&
			    !is_off(x) && !allowed(w, MIGR_ALLOW_BACKEND))
				refuse(w, pk, x, "is a backend domain other than dom0 "
				       "(--allow backend)");
			if (!strncmp(k, "connection.", 11) && ++unions == 2)
				refuse(w, pk, x, "is a second connection type");
			if (!strcmp(k, "connection.socket"))
				refuse(w, pk, x, "is a socket the device model would create in "
				       "dom0");
		}
	}
	if (ok)
		keep(w, key, v);
}

static unsigned long long uint_val(yajl_val v, bool *ok)
{
	*ok = YAJL_IS_INTEGER(v) && YAJL_GET_INTEGER(v) >= 0;
	return *ok ? (unsigned long long)YAJL_GET_INTEGER(v) : 0;
}

/* Memory Xen takes from the host beside the guest's own (shadow, IOMMU, video): no more
 * than the guest's maximum. */
static void fn_memcap(struct walk *w, const char *path, const char *key, yajl_val v,
		      const struct field *f)
{
	bool ok;
	unsigned long long kb = uint_val(v, &ok);

	if (YAJL_IS_NULL(v) || (ok && w->have_max_mem && kb <= w->max_memkb))
		keep(w, key, v);
	else
		refuse(w, path, v, "is not a memory size up to b_info.max_memkb");
}

static void fn_vcpus(struct walk *w, const char *path, const char *key, yajl_val v,
		     const struct field *f)
{
	bool ok;
	unsigned long long n = uint_val(v, &ok);

	if (ok && n >= 1 && n <= MAX_VCPUS)
		keep(w, key, v);
	else
		refuse(w, path, v, "is not a vCPU count from 1 to %d", MAX_VCPUS);
}

/* A libxl bitmap: the numbers of the bits set; libxl sizes it by the largest. */
static void fn_vcpu_map(struct walk *w, const char *path, const char *key, yajl_val v,
			const struct field *f)
{
	bool ok = YAJL_IS_ARRAY(v);

	for (size_t i = 0; ok && i < v->u.array.len; i++) {
		unsigned long long b = uint_val(v->u.array.values[i], &ok);

		ok = ok && b < MAX_VCPUS;
	}
	if (ok)
		keep(w, key, v);
	else
		refuse(w, path, v, "is not a list of vCPU numbers below %d", MAX_VCPUS);
}

static void fn_uuid(struct walk *w, const char *path, const char *key, yajl_val v,
		    const struct field *f)
{
	const char *s = YAJL_GET_STRING(v);
	bool ok = s && strlen(s) == 36;

	for (int i = 0; ok && i < 36; i++)
		ok = (i == 8 || i == 13 || i == 18 || i == 23) ? s[i] == '-'
			: !!strchr("0123456789abcdefABCDEF", s[i]) && s[i];
	if (ok)
		keep(w, key, v);
	else
		refuse(w, path, v, "is not a UUID");
}

static void fn_string(struct walk *w, const char *path, const char *key, yajl_val v,
		      const struct field *f)
{
	if (YAJL_IS_STRING(v) && v->u.string[0])
		keep(w, key, v);
	else
		refuse(w, path, v, "is not a non-empty string");
}

/* nics[].bridge: one of the allowed bridges (absent: libxl's xenbr0; key NULL then). */
static void fn_bridge(struct walk *w, const char *path, const char *key, yajl_val v,
		      const struct field *f)
{
	const struct migr_target_rules *r = w->r;
	const char *b = key ? YAJL_GET_STRING(v) : MIGR_DEFAULT_BRIDGE;
	bool ok = false;
	char p[300];

	if (b && !r->n_bridges)
		ok = !strcmp(b, MIGR_DEFAULT_BRIDGE);
	for (unsigned int i = 0; b && i < r->n_bridges; i++)
		ok = ok || !strcmp(b, r->bridges[i]);
	if (ok) {
		if (key)
			keep(w, key, v);
		return;
	}
	if (!key) {
		snprintf(p, sizeof(p), "%s.bridge", path);
		refuse(w, p, NULL, "(absent: libxl's default %s) is not a bridge allowed here "
		       "(--allow-bridge)", MIGR_DEFAULT_BRIDGE);
	} else {
		refuse(w, path, v, "is not a bridge allowed here (allowed: %s%s)",
		       r->n_bridges ? r->bridges[0] : MIGR_DEFAULT_BRIDGE,
		       r->n_bridges > 1 ? ", ..." : "");
	}
}

/* nics[].ip: addresses handed to the hotplug script, nothing else. */
static void fn_ip(struct walk *w, const char *path, const char *key, yajl_val v,
		  const struct field *f)
{
	const char *s = YAJL_GET_STRING(v);

	if (!v || YAJL_IS_NULL(v) ||
	    (s && strlen(s) <= 256 && strspn(s, "0123456789abcdefABCDEF.:/ ") == strlen(s)))
		keep(w, key, v);
	else
		refuse(w, path, v, "is not a list of IP addresses");
}

static bool script_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (!n || n > SCRIPT_MAX || s[0] == '.' || s[0] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._+-", s[i])))
			return false;
	return true;
}

static bool script_exists_stat(const char *dir, const char *name, void *arg)
{
	char path[512];
	struct stat st;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >= (int)sizeof(path))
		return false;
	return !stat(path, &st) && S_ISREG(st.st_mode) && (st.st_mode & 0111);
}

/*
 * A hotplug script, which libxl runs as root: a bare name of a script in the target's
 * scripts directory, or that directory's path to it (libxl writes its default,
 * SCRIPTS_DIR/vif-bridge, into every vif's configuration, so that is what sources send).
 */
static void fn_script(struct walk *w, const char *path, const char *key, yajl_val v,
		      const struct field *f)
{
	const struct migr_target_rules *r = w->r;
	const char *s = YAJL_GET_STRING(v), *name = s, *rest;
	bool ok;

	if (!v || YAJL_IS_NULL(v)) {
		keep(w, key, v);
		return;
	}
	if (s && s[0] == '/' && under(s, w->scripts_dir, &rest) && rest[0] == '/')
		name = rest + 1;
	if (s && !strncmp(path, "nics[", 5) && (!strcmp(s, "migr-vif-bridge") ||
		  (strlen(s) > 16 && !strcmp(s + strlen(s) - 16, "/migr-vif-bridge")))) {
		/* migr's own fast helper, left named in the guest's configuration by a
		 * receiver that died before it put the stock script back: it stands for the
		 * stock vif-bridge (and this target substitutes its own helper again) */
		char stock[600];

		snprintf(stock, sizeof(stock), "%s/vif-bridge", w->scripts_dir);
		gen_str(w, key);
		gen_str(w, stock);
		return;
	}
	ok = name && script_name_ok(name) &&
	     (r->script_exists ? r->script_exists : script_exists_stat)(w->scripts_dir, name,
									r->script_arg);
	if (ok)
		keep(w, key, v);
	else
		refuse(w, path, v, "is not a hotplug script of this host (a name in %s)",
		       w->scripts_dir);
}

/* disks[].pdev_path: rewritten by the storage map, else under an allowed prefix. */
static void fn_storage(struct walk *w, const char *path, const char *key, yajl_val v,
		       const struct field *f)
{
	const struct migr_target_rules *r = w->r;
	const char *s = YAJL_GET_STRING(v), *rest;
	char out[4096];

	if (!v || YAJL_IS_NULL(v) || (s && !s[0])) {   /* an empty drive */
		keep(w, key, v);
		return;
	}
	if (!s || !path_clean(s)) {
		refuse(w, path, v, "is not an absolute path without . or .. components");
		return;
	}
	for (unsigned int i = 0; i < r->n_maps; i++) {
		size_t dl = prefix_len(r->maps[i].dst);
		int n;

		if (!under(s, r->maps[i].src, &rest))
			continue;
		if (dl == 1 && r->maps[i].dst[0] == '/')
			dl = 0;
		n = snprintf(out, sizeof(out), "%.*s%s", (int)dl, r->maps[i].dst, rest);
		if (n <= 0 || (size_t)n >= sizeof(out)) {
			refuse(w, path, v, "is too long once mapped");
			return;
		}
		if (!out[0])
			strcpy(out, "/");
		gen_key(w, key);
		gen_str(w, out);
		return;
	}
	for (unsigned int i = 0; i < r->n_storage; i++)
		if (under(s, r->storage[i], &rest)) {
			keep(w, key, v);
			return;
		}
	if (r->n_storage)
		refuse(w, path, v, "is outside the allowed storage (allowed: %s%s)",
		       r->storage[0], r->n_storage > 1 ? ", ..." : "");
	else
		refuse(w, path, v, "is outside the allowed storage (none allowed here: "
		       "--storage, --storage-map)");
}

/* kernel, ramdisk, device_tree, the PVH shim: paths in dom0 that a restore does not read
 * but that a later rebuild of the guest here would: kept under a boot directory, else
 * dropped. */
static void fn_boot(struct walk *w, const char *path, const char *key, yajl_val v,
		    const struct field *f)
{
	const char *s = YAJL_GET_STRING(v), *rest;

	if (is_off(v)) {
		keep(w, key, v);
		return;
	}
	for (unsigned int i = 0; s && path_clean(s) && i < w->r->n_boot_dirs; i++)
		if (under(s, w->r->boot_dirs[i], &rest)) {
			keep(w, key, v);
			return;
		}
	note_drop(w, path);
}

/* The bootloader runs as root in dom0 when the guest is rebuilt: only by bare name (libxl
 * then looks in its own directory), and only if allowed. */
static void fn_bootloader(struct walk *w, const char *path, const char *key, yajl_val v,
			  const struct field *f)
{
	const char *s = YAJL_GET_STRING(v);

	if (is_off(v)) {
		keep(w, key, v);
	} else if (!allowed(w, MIGR_ALLOW_BOOTLOADER)) {
		refuse(w, path, v, "is a program run in dom0 (--allow bootloader)");
	} else if (!s || !script_name_ok(s)) {
		refuse(w, path, v, "is not a bare program name");
	} else {
		keep(w, key, v);
	}
}

/* ---- the tables (docs/target-rules.md gives the reasons) ----------------------------- */

static const char *const enum_passthrough[] = { "default", "disabled", NULL };
static const char *const enum_tee[] = { "none", NULL };
static const char *const enum_altp2m[] = { "disabled", NULL };
static const char *const enum_format[] = { "raw", "empty", NULL };

#define KEEP(k)          { k, A_KEEP, 0, NULL, NULL, NULL, NULL, NULL }
#define DROP(k)          { k, A_DROP, 0, NULL, NULL, NULL, NULL, NULL }
#define OFF(k, fl, why)  { k, A_OFF, fl, why, NULL, NULL, NULL, NULL }
#define OFFB(k, fl, why) { k, A_OFFB, fl, why, NULL, NULL, NULL, NULL }
#define ENUM(k, fl, v, why) { k, A_ENUM, fl, why, v, NULL, NULL, NULL }
#define FN(k, fn)        { k, A_FN, 0, NULL, NULL, fn, NULL, NULL }
#define SUB(k, fn, tab)  { k, A_FN, 0, NULL, NULL, fn, tab, NULL }
#define DEVS(k, fl, detail, why) { k, A_FN, fl, why, NULL, fn_devices, NULL, detail }
#define END              { NULL, A_KEEP, 0, NULL, NULL, NULL, NULL, NULL }

#define XSM "is a security label of the host's XSM policy"
#define DM  "is a device model setting (a process in dom0)"
#define COLO "is a COLO replication setting (a peer host, or files in dom0)"

static const struct field c_info_fields[] = {
	KEEP("type"),                /* checked against b_info's union first */
	KEEP("hap"), KEEP("oos"),
	OFF("ssidref", 0, XSM), OFF("ssid_label", 0, XSM),
	FN("name", fn_string),
	{ "domid", A_QUIET, 0, NULL, NULL, NULL, NULL, NULL },
	FN("uuid", fn_uuid),
	OFF("xsdata", 0, "are xenstore nodes libxl would write for the guest"),
	OFF("platformdata", 0, "are xenstore nodes libxl would write for the guest"),
	DROP("poolid"), DROP("pool_name"), KEEP("run_hotplug_scripts"),
	OFFB("driver_domain", MIGR_ALLOW_BACKEND, "makes the guest a driver domain"),
	ENUM("passthrough", MIGR_ALLOW_PCI, enum_passthrough, "sets up passthrough"),
	KEEP("xend_suspend_evtchn_compat"),
	END
};

static const struct field pv_fields[] = {
	FN("kernel", fn_boot), KEEP("slack_memkb"), FN("bootloader", fn_bootloader),
	FN("bootloader_args", fn_bootloader), KEEP("cmdline"), FN("ramdisk", fn_boot),
	OFFB("e820_host", MIGR_ALLOW_PCI, "gives the guest the host's memory map"),
	END          /* "features" is const: libxl neither reads nor writes it */
};

static const struct field pvh_fields[] = {
	KEEP("pvshim"), FN("pvshim_path", fn_boot), KEEP("pvshim_cmdline"),
	KEEP("pvshim_extra"),
	END
};

static const struct field b_info_fields[] = {
	FN("max_vcpus", fn_vcpus), FN("avail_vcpus", fn_vcpu_map),
	DROP("cpumap"), DROP("nodemap"), DROP("vcpu_hard_affinity"), DROP("vcpu_soft_affinity"),
	KEEP("numa_placement"), KEEP("tsc_mode"), KEEP("max_memkb"), KEEP("target_memkb"),
	FN("video_memkb", fn_memcap), FN("shadow_memkb", fn_memcap),
	FN("iommu_memkb", fn_memcap), KEEP("rtc_timeoffset"),
	OFF("exec_ssidref", 0, XSM), OFF("exec_ssid_label", 0, XSM),
	KEEP("localtime"), KEEP("disable_migrate"), KEEP("cpuid"), KEEP("blkdev_start"),
	OFF("vnuma_nodes", 0, "places guest memory on the host's NUMA nodes"),
	KEEP("max_grant_frames"), KEEP("max_maptrack_frames"), KEEP("max_grant_version"),
	KEEP("device_model_version"),
	OFFB("device_model_stubdomain", MIGR_ALLOW_DEVICE_MODEL, DM),
	OFF("stubdomain_memkb", MIGR_ALLOW_DEVICE_MODEL, DM),
	OFF("stubdomain_kernel", MIGR_ALLOW_DEVICE_MODEL, DM),
	OFF("stubdomain_cmdline", MIGR_ALLOW_DEVICE_MODEL, DM),
	OFF("stubdomain_ramdisk", MIGR_ALLOW_DEVICE_MODEL, DM),
	OFF("device_model", MIGR_ALLOW_DEVICE_MODEL, "is a program run in dom0"),
	OFF("device_model_ssidref", 0, XSM), OFF("device_model_ssid_label", 0, XSM),
	OFF("device_model_user", MIGR_ALLOW_DEVICE_MODEL, DM),
	OFF("extra", MIGR_ALLOW_DEVICE_MODEL, "are arguments of a process in dom0"),
	OFF("extra_pv", MIGR_ALLOW_DEVICE_MODEL, "are arguments of a process in dom0"),
	OFF("extra_hvm", MIGR_ALLOW_DEVICE_MODEL, "are arguments of a process in dom0"),
	KEEP("sched_params"),
	OFF("ioports", MIGR_ALLOW_IOPORTS, "are I/O ports of the host"),
	OFF("irqs", MIGR_ALLOW_IRQS, "are interrupts of the host"),
	OFF("iomem", MIGR_ALLOW_IOMEM, "is machine memory of the host"),
	KEEP("claim_mode"), KEEP("event_channels"),
	FN("kernel", fn_boot), KEEP("cmdline"), FN("ramdisk", fn_boot),
	FN("device_tree", fn_boot),
	KEEP("acpi"),
	FN("bootloader", fn_bootloader), FN("bootloader_args", fn_bootloader),
	KEEP("timer_mode"),
	OFFB("nested_hvm", 0, "is outside Xen's security support"),
	KEEP("apic"), KEEP("dm_restrict"),
	ENUM("tee", 0, enum_tee, "gives the guest the host's trusted execution environment"),
	SUB("type.pv", fn_object, pv_fields), SUB("type.pvh", fn_object, pvh_fields),
	KEEP("arch_arm"), KEEP("arch_x86"),
	ENUM("altp2m", 0, enum_altp2m, "is outside Xen's security support"),
	OFF("vmtrace_buf_kb", 0, "takes host memory for processor trace buffers"),
	OFFB("vpmu", 0, "is outside Xen's security support"),
	END          /* type.hvm and type.invalid are refused before the walk */
};

static const struct field disk_fields[] = {
	FN("backend_domid", fn_backend), FN("backend_domname", fn_backend),
	FN("pdev_path", fn_storage), KEEP("vdev"), KEEP("backend"),
	ENUM("format", MIGR_ALLOW_DISK_FORMAT, enum_format,
	     "is an image format whose header the backend would follow"),
	FN("script", fn_script), KEEP("removable"), KEEP("readwrite"), KEEP("is_cdrom"),
	KEEP("direct_io_safe"), KEEP("discard_enable"), KEEP("specification"),
	KEEP("transport"), KEEP("irq"), KEEP("base"),
	OFFB("colo_enable", 0, COLO), OFFB("colo_restore_enable", 0, COLO),
	OFF("colo_*", 0, COLO), OFF("active_disk", 0, COLO), OFF("hidden_disk", 0, COLO),
	KEEP("trusted"),
	END
};

/* absent_fields() calls the first entry for a vif without a bridge. */
static const struct field nic_fields[] = {
	FN("bridge", fn_bridge),
	FN("backend_domid", fn_backend), FN("backend_domname", fn_backend),
	KEEP("devid"), KEEP("mtu"), KEEP("model"), KEEP("mac"), FN("ip", fn_ip),
	DROP("ifname"), FN("script", fn_script), KEEP("nictype"),
	KEEP("rate_bytes_per_interval"), KEEP("rate_interval_usecs"),
	OFF("gatewaydev", 0, "is an interface of the host"),
	OFF("colo_*", 0, COLO), OFF("coloft_forwarddev", 0, COLO),
	KEEP("trusted"),
	END
};

static const struct field top_fields[] = {
	SUB("c_info", fn_object, c_info_fields), SUB("b_info", fn_object, b_info_fields),
	SUB("disks", fn_objects, disk_fields), SUB("nics", fn_objects, nic_fields),
	DEVS("pcidevs", MIGR_ALLOW_PCI, "name", "is a PCI device of the host"),
	DEVS("rdms", MIGR_ALLOW_PCI, NULL, "is reserved device memory of the host"),
	DEVS("dtdevs", 0, "path", "is a device of the host's device tree"),
	DEVS("vfbs", MIGR_ALLOW_DEVICE_MODEL, NULL, "is a framebuffer served from dom0"),
	DEVS("vkbs", MIGR_ALLOW_DEVICE_MODEL, NULL, "is a keyboard served from dom0"),
	DEVS("vtpms", 0, NULL, "is a vTPM whose state stays with its domain on the source"),
	DEVS("p9s", 0, "path", "is a dom0 directory shared with the guest"),
	DEVS("pvcallsifs", 0, NULL, "gives the guest dom0's network stack"),
	DEVS("vdispls", 0, NULL, "is a display served from dom0"),
	DEVS("vsnds", 0, NULL, "is a sound device served from dom0"),
	DEVS("channels", MIGR_ALLOW_DEVICE_MODEL, "name", "is a channel served from dom0"),
	DEVS("usbctrls", 0, NULL, "is a USB controller served from dom0"),
	DEVS("usbdevs", 0, NULL, "is a USB device of the host"),
	KEEP("on_poweroff"), KEEP("on_reboot"), KEEP("on_watchdog"), KEEP("on_crash"),
	KEEP("on_soft_reset"),
	END
};

/* ---- checks before the walk ---------------------------------------------------------- */

/* No key twice in one object, no object beyond MAX_KEYS, anywhere. */
static const char *dup_key(yajl_val v)
{
	const char *d;

	if (YAJL_IS_OBJECT(v)) {
		if (v->u.object.len > MAX_KEYS)
			return "";
		for (size_t i = 0; i < v->u.object.len; i++) {
			for (size_t j = 0; j < i; j++)
				if (!strcmp(v->u.object.keys[i], v->u.object.keys[j]))
					return v->u.object.keys[i];
			if ((d = dup_key(v->u.object.values[i])))
				return d;
		}
	} else if (YAJL_IS_ARRAY(v)) {
		for (size_t i = 0; i < v->u.array.len; i++)
			if ((d = dup_key(v->u.array.values[i])))
				return d;
	}
	return NULL;
}

/* The guest type: c_info.type and exactly one of b_info's "type.pv" / "type.pvh". */
static void check_type(struct walk *w, yajl_val c_info, yajl_val b_info)
{
	static const char *const keys[] = { "type.pv", "type.pvh", "type.hvm", "type.invalid" };
	yajl_val ct = get(c_info, "type");
	const char *have = NULL;
	unsigned int n = 0;

	for (unsigned int i = 0; i < 4; i++) {
		yajl_val u = get(b_info, keys[i]);
		char p[64];

		if (!u)
			continue;
		snprintf(p, sizeof(p), "b_info.%s", keys[i]);
		if (++n > 1)
			refuse(w, p, NULL, "is a second guest type (libxl takes one)");
		else if (i >= 2)
			refuse(w, p, NULL, "is not a guest type received here (PV and PVH are: "
			       "an HVM guest needs a device model in dom0)");
		else
			have = keys[i] + 5;
	}
	if (!n)
		refuse(w, "b_info", NULL, "names no guest type (type.pv or type.pvh)");
	if (!YAJL_IS_STRING(ct))
		refuse(w, "c_info.type", ct, "is not a guest type");
	else if (have && strcasecmp(ct->u.string, have))
		refuse(w, "c_info.type", ct, "is not the type b_info describes (%s)", have);
}

/* ---- the entry point ----------------------------------------------------------------- */

static int msgf(char *msg, size_t msglen, int rc, const char *fmt, ...)
{
	va_list ap;

	if (msg && msglen) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return rc;
}

int migr_config_apply_rules(const char *json, const struct migr_target_rules *rules,
			    char **json_r, char *msg, size_t msglen)
{
	struct migr_target_rules defaults;
	struct walk w;
	yajl_val root = NULL, c_info, b_info, max;
	const unsigned char *buf;
	const char *d;
	char err[128], *out = NULL;
	size_t len, blen;
	int rc;

	migr_target_rules_init(&defaults);
	memset(&w, 0, sizeof(w));
	w.r = rules ? rules : &defaults;
	w.scripts_dir = w.r->scripts_dir ? w.r->scripts_dir : MIGR_DEFAULT_SCRIPTS_DIR;
	w.msg = msg;
	w.msglen = msglen;
	if (msg && msglen)
		msg[0] = '\0';

	len = json ? strlen(json) : 0;
	if (!len || len > MIGR_CONFIG_MAX || migr_json_check(json, len, JSON_DEPTH))
		return msgf(msg, msglen, -EINVAL, "domain configuration is not well-formed JSON "
			    "(nesting at most %d, at most %d bytes)", JSON_DEPTH, MIGR_CONFIG_MAX);
	root = yajl_tree_parse(json, err, sizeof(err));
	if (!root) {
		/* yajl's message on a failed allocation is indistinguishable; both refuse */
		return msgf(msg, msglen, -EINVAL, "domain configuration is not JSON: %.80s", err);
	}
	if ((d = dup_key(root))) {
		if (d[0])
			rc = msgf(msg, msglen, -EINVAL, "domain configuration gives key "
				  "\"%.40s\" twice in one object", d);
		else
			rc = msgf(msg, msglen, -EINVAL, "domain configuration has an object of "
				  "more than %d keys", MAX_KEYS);
		goto out;
	}
	c_info = get(root, "c_info");
	b_info = get(root, "b_info");
	if (!YAJL_IS_OBJECT(root) || !YAJL_IS_OBJECT(c_info) || !YAJL_IS_OBJECT(b_info)) {
		rc = msgf(msg, msglen, -EINVAL, "domain configuration is not a libxl domain "
			  "configuration (an object with objects c_info and b_info)");
		goto out;
	}
	max = get(b_info, "max_memkb");
	w.max_memkb = uint_val(max, &w.have_max_mem);

	w.g = yajl_gen_alloc(NULL);
	if (!w.g) {
		rc = -ENOMEM;
		goto out;
	}
	check_type(&w, c_info, b_info);
	if (!get(c_info, "name"))
		refuse(&w, "c_info.name", NULL, "is missing");
	walk_object(&w, "", root, top_fields);
	if (w.err) {
		rc = w.err;
		goto out;
	}
	if (w.refused) {
		if (w.refused > w.shown && msg && msglen)
			snprintf(msg + w.used, msglen - w.used, "%s(and %u more)",
				 w.shown ? " " : REFUSED, w.refused - w.shown);
		rc = -EPERM;
		goto out;
	}
	if (yajl_gen_get_buf(w.g, &buf, &blen) != yajl_gen_status_ok ||
	    !(out = malloc(blen + 1))) {
		rc = -ENOMEM;
		goto out;
	}
	memcpy(out, buf, blen);
	out[blen] = '\0';
	if (w.dropped)
		msgf(msg, msglen, 0, "%s%s%s", DROPPED, w.drops,
		     w.dropped > w.dshown ? " and more" : "");
	*json_r = out;
	rc = 0;
out:
	if (w.g)
		yajl_gen_free(w.g);
	yajl_tree_free(root);
	return rc;
}

/* ---- the devices, for the restore estimate ------------------------------------------ */

static bool text_set(yajl_val v)
{
	return YAJL_IS_STRING(v) && v->u.string[0];
}

int migr_config_devices(const char *json, struct migr_restore_devices *d_r)
{
	struct migr_restore_devices d = { 0, 0, 0 };
	char err[64];
	yajl_val root = json ? yajl_tree_parse(json, err, sizeof(err)) : NULL;
	yajl_val nics, disks;

	if (!YAJL_IS_OBJECT(root)) {
		yajl_tree_free(root);
		return -EINVAL;
	}
	nics = get(root, "nics");
	disks = get(root, "disks");
	if (YAJL_IS_ARRAY(nics))
		for (size_t i = 0; i < nics->u.array.len && d.vifs_fast + d.vifs_stock < 64; i++) {
			yajl_val n = nics->u.array.values[i], script = get(n, "script");
			const char *sc = YAJL_IS_STRING(script) ? script->u.string : "";
			const char *base = strrchr(sc, '/') ? strrchr(sc, '/') + 1 : sc;

			if (!YAJL_IS_OBJECT(n))
				continue;
			if (text_set(get(n, "ip")) || text_set(get(n, "ifname")) ||
			    (base[0] && strcmp(base, "vif-bridge")))
				d.vifs_stock++;
			else
				d.vifs_fast++;
		}
	if (YAJL_IS_ARRAY(disks))
		for (size_t i = 0; i < disks->u.array.len && d.disks < 64; i++)
			d.disks += YAJL_IS_OBJECT(disks->u.array.values[i]);
	yajl_tree_free(root);
	*d_r = d;
	return 0;
}
