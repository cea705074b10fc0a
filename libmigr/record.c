/*
 * record.c: the target's durable record of each incoming migration (migr/proto.h,
 * docs/protocol.md "The record").
 *
 * Entry points: migr_record_write(), migr_record_read(), migr_record_transition(),
 * migr_record_remove(), migr_record_list().
 *
 * One text file per migration id, DIR/<32 hex digits>, so an operator can read it:
 *
 *   migr-record 1
 *   id 5f0c...
 *   outcome running
 *   domid 7
 *   name web1
 *   source 192.0.2.10:40112
 *   updated 1764374400
 *
 * A write goes to DIR/ID.tmp, is fsync'd, renamed over DIR/ID, and DIR is fsync'd: after
 * migr_record_write() returns, a crash of the target leaves either the old or the new
 * record, never a torn one. Reading is strict (a record is small; anything odd is
 * -EBADMSG) because RESOLVE answers decide which host runs a guest.
 */
#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "libmigr.h"
#include "util.h"
#include "buf.h"

#define RECORD_MAX 4096
#define RECORD_MAGIC "migr-record 1"

/* Creates dir and its missing parents, mode 0700 for what it creates. */
static int mkdir_p(const char *dir)
{
	return migr__mkdir_p(dir, 0700);
}

/* A value the record may hold: printable, no newline; "" is fine. */
static bool value_ok(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return false;
	return true;
}


static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;

	if (fd < 0)
		return -errno;
	if (fsync(fd) < 0)
		rc = -errno;
	close(fd);
	return rc;
}

/* Writes text as DIR/NAME durably: DIR/NAME.tmp, fsync, rename, fsync of DIR. */
static int write_text(const char *dir, const char *name, const char *text, size_t n)
{
	char path[4200], tmp[4210];
	int fd, rc;

	rc = mkdir_p(dir);
	if (rc)
		return rc;
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return -errno;
	rc = migr__write_all(fd, text, n);
	if (!rc && fsync(fd) < 0)
		rc = -errno;
	if (close(fd) < 0 && !rc)
		rc = -errno;
	if (!rc && rename(tmp, path) < 0)
		rc = -errno;
	if (rc) {
		unlink(tmp);
		return rc;
	}
	return fsync_dir(dir);
}

int migr_record_write(const char *dir, struct migr_record *r)
{
	char hex[MIGR_ID_HEX], text[RECORD_MAX];
	int n;

	if (migr_id_is_zero(&r->id) || r->outcome > MIGR_OUTCOME_DESTROYED ||
	    !value_ok(r->name) || !value_ok(r->source) ||
	    strnlen(r->name, sizeof(r->name)) == sizeof(r->name) ||
	    strnlen(r->source, sizeof(r->source)) == sizeof(r->source))
		return -EINVAL;
	migr_id_to_hex(&r->id, hex);
	r->updated = (uint64_t)time(NULL);
	n = snprintf(text, sizeof(text), RECORD_MAGIC "\nid %s\noutcome %s\ndomid %u\nname %s\n"
	             "source %s\nupdated %llu\n", hex, migr_outcome_name(r->outcome), r->domid,
	             r->name, r->source, (unsigned long long)r->updated);
	if (n < 0 || n >= (int)sizeof(text))
		return -EINVAL;
	return write_text(dir, hex, text, (size_t)n);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *v_r)
{
	char *end;
	unsigned long long v;

	if (*s < '0' || *s > '9')
		return -EBADMSG;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return -EBADMSG;
	*v_r = v;
	return 0;
}

/* One key of a record's text: where its value goes and how it is read. */
enum key_kind { K_ID, K_ID_OR_DASH, K_DOMID, K_U64, K_STR, K_ENUM };

struct key {
	const char *name;
	enum key_kind kind;
	size_t off, size;                    /* in the record struct; K_STR: buffer size */
	const char *(*enum_name)(uint32_t);  /* K_ENUM: the names, 0..enum_max */
	uint32_t enum_max;
};

#define KEY(st, n, kind, m) { n, kind, offsetof(st, m), sizeof(((st *)0)->m), NULL, 0 }
#define KEY_ENUM(st, n, m, names, max) \
	{ n, K_ENUM, offsetof(st, m), sizeof(((st *)0)->m), names, max }

static int parse_value(const struct key *k, const char *val, void *dst)
{
	uint8_t *p = (uint8_t *)dst + k->off;
	uint64_t v;
	uint32_t e;

	switch (k->kind) {
	case K_ID_OR_DASH:
		if (!strcmp(val, "-")) {
			memset(p, 0, sizeof(struct migr_id));
			return 0;
		}
		/* fall through */
	case K_ID:
		return migr_id_from_hex(val, (struct migr_id *)p) ? -EBADMSG : 0;
	case K_DOMID:
		if (parse_u64(val, 0x7fef, &v))
			return -EBADMSG;
		e = (uint32_t)v;
		memcpy(p, &e, sizeof(e));
		return 0;
	case K_U64:
		if (parse_u64(val, UINT64_MAX, &v))
			return -EBADMSG;
		memcpy(p, &v, sizeof(v));
		return 0;
	case K_STR:
		if (strlen(val) >= k->size)
			return -EBADMSG;
		strcpy((char *)p, val);
		return 0;
	case K_ENUM:
		for (e = 0; e <= k->enum_max; e++)
			if (!strcmp(val, k->enum_name(e))) {
				memcpy(p, &e, sizeof(e));
				return 0;
			}
		return -EBADMSG;
	}
	return -EBADMSG;
}

/*
 * Parses a record's text (NUL-terminated; its first line must be magic) into dst by the
 * key table; every key in need_mask (bits by table index) must be there, none twice.
 * Unknown keys (a later version's) are skipped. -EBADMSG if anything is off.
 */
static int parse_keys(char *text, const char *magic, const struct key *keys, unsigned int n,
		      unsigned int need_mask, void *dst)
{
	unsigned int seen = 0;
	char *line, *save = NULL;
	bool first = true;

	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ' ');
		unsigned int i;

		if (first) {
			if (strcmp(line, magic))
				return -EBADMSG;
			first = false;
			continue;
		}
		if (!val)
			return -EBADMSG;
		*val++ = '\0';
		if (!value_ok(val))
			return -EBADMSG;
		for (i = 0; i < n && strcmp(line, keys[i].name); i++)
			;
		if (i == n)
			continue;   /* a later version's key */
		if ((seen & (1u << i)) || parse_value(&keys[i], val, dst))
			return -EBADMSG;
		seen |= 1u << i;
	}
	return (seen & need_mask) == need_mask ? 0 : -EBADMSG;
}

static const char *target_outcome_name(uint32_t o)
{
	return migr_outcome_name(o);
}

static const struct key record_keys[] = {
	KEY(struct migr_record, "id", K_ID, id),
	KEY_ENUM(struct migr_record, "outcome", outcome, target_outcome_name,
		 MIGR_OUTCOME_DESTROYED),
	KEY(struct migr_record, "domid", K_DOMID, domid),
	KEY(struct migr_record, "name", K_STR, name),
	KEY(struct migr_record, "source", K_STR, source),
	KEY(struct migr_record, "updated", K_U64, updated),
};

/* Parses a target record's text into *r_r: id and outcome are what RESOLVE needs; the
 * rest is informative. */
static int parse_record(char *text, struct migr_record *r_r)
{
	struct migr_record r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = parse_keys(text, RECORD_MAGIC, record_keys, sizeof(record_keys) / sizeof(record_keys[0]),
			0x3, &r);
	if (!rc)
		*r_r = r;
	return rc;
}

/* Reads a small text file whole (NUL-terminated into text[RECORD_MAX + 1]); -EBADMSG
 * when it is too long or holds a NUL. */
static int read_text(const char *path, char text[RECORD_MAX + 1])
{
	size_t got = 0;
	int fd, rc = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0)
		return -errno;
	while (got < RECORD_MAX + 1) {
		ssize_t n = read(fd, text + got, RECORD_MAX + 1 - got);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			rc = -errno;
			break;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (rc)
		return rc;
	if (got > RECORD_MAX || memchr(text, '\0', got))
		return -EBADMSG;
	text[got] = '\0';
	return 0;
}

static int read_path(const char *path, struct migr_record *r_r)
{
	char text[RECORD_MAX + 1];
	int rc = read_text(path, text);

	return rc ? rc : parse_record(text, r_r);
}

int migr_record_read(const char *dir, const struct migr_id *id, struct migr_record *r_r)
{
	char hex[MIGR_ID_HEX], path[4200];
	struct migr_record r;
	int rc;

	migr_id_to_hex(id, hex);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	rc = read_path(path, &r);
	if (rc)
		return rc;
	if (!migr_id_equal(&r.id, id))
		return -EBADMSG;
	*r_r = r;
	return 0;
}

int migr_record_transition(const char *dir, uint32_t from, struct migr_record *r,
                           uint32_t *now_r)
{
	char hex[MIGR_ID_HEX], path[4200];
	struct migr_record cur;
	uint32_t now;
	int fd, rc;

	rc = mkdir_p(dir);
	if (rc)
		return rc;
	migr_id_to_hex(&r->id, hex);
	snprintf(path, sizeof(path), "%s/%s.lock", dir, hex);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX) < 0) {
		if (errno != EINTR) {
			rc = -errno;
			goto out;
		}
	}
	rc = migr_record_read(dir, &r->id, &cur);
	if (rc == -ENOENT)
		now = MIGR_OUTCOME_UNKNOWN;
	else if (rc)
		goto out;
	else
		now = cur.outcome;
	if (now != from) {
		if (now_r)
			*now_r = now;
		rc = -ESTALE;
		goto out;
	}
	rc = migr_record_write(dir, r);
out:
	close(fd);              /* drops the lock */
	return rc;
}

int migr_record_remove(const char *dir, const struct migr_id *id)
{
	char hex[MIGR_ID_HEX], path[4200];
	int rc;

	migr_id_to_hex(id, hex);
	snprintf(path, sizeof(path), "%s/%s.lock", dir, hex);
	unlink(path);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	if (unlink(path) < 0)
		return errno == ENOENT ? 0 : -errno;
	rc = fsync_dir(dir);
	return rc == -ENOENT ? 0 : rc;
}

int migr_record_list(const char *dir, int (*fn)(const struct migr_record *r, void *opaque),
                     void *opaque)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		struct migr_record r;
		struct migr_id id;
		char path[4200];

		if (migr_id_from_hex(e->d_name, &id))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (read_path(path, &r) || !migr_id_equal(&r.id, &id))
			continue;
		rc = fn(&r, opaque);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

/* ---- the source's records --------------------------------------------------------- */

#define SRC_MAGIC "migr-sent 1"

const char *migr_src_phase_name(uint32_t phase)
{
	static const char *const n[] = { "started", "go", "done" };

	return phase < sizeof(n) / sizeof(n[0]) ? n[phase] : "invalid";
}

int migr_src_record_write(const char *dir, struct migr_src_record *r)
{
	char hex[MIGR_ID_HEX], host[MIGR_ID_HEX], text[RECORD_MAX];
	int n;

	if (migr_id_is_zero(&r->id) || r->phase > MIGR_SRC_DONE || !value_ok(r->name) ||
	    !value_ok(r->target) || !value_ok(r->peer) ||
	    strnlen(r->name, sizeof(r->name)) == sizeof(r->name) ||
	    strnlen(r->target, sizeof(r->target)) == sizeof(r->target) ||
	    strnlen(r->peer, sizeof(r->peer)) == sizeof(r->peer))
		return -EINVAL;
	migr_id_to_hex(&r->id, hex);
	migr_id_to_hex(&r->target_host, host);
	r->updated = (uint64_t)time(NULL);
	n = snprintf(text, sizeof(text), SRC_MAGIC "\nid %s\nphase %s\ndomid %u\nname %s\n"
	             "target %s\npeer %s\ntarget-host %s\nthrottled %llu\ncap-before %llu\n"
	             "updated %llu\n", hex,
	             migr_src_phase_name(r->phase), r->domid, r->name, r->target, r->peer,
	             migr_id_is_zero(&r->target_host) ? "-" : host,
	             (unsigned long long)r->throttled, (unsigned long long)r->cap_before,
	             (unsigned long long)r->updated);
	if (n < 0 || n >= (int)sizeof(text))
		return -EINVAL;
	return write_text(dir, hex, text, (size_t)n);
}

static const struct key src_keys[] = {
	KEY(struct migr_src_record, "id", K_ID, id),
	KEY_ENUM(struct migr_src_record, "phase", phase, migr_src_phase_name, MIGR_SRC_DONE),
	KEY(struct migr_src_record, "domid", K_DOMID, domid),
	KEY(struct migr_src_record, "name", K_STR, name),
	KEY(struct migr_src_record, "target", K_STR, target),
	KEY(struct migr_src_record, "peer", K_STR, peer),
	KEY(struct migr_src_record, "target-host", K_ID_OR_DASH, target_host),
	KEY(struct migr_src_record, "throttled", K_U64, throttled),
	KEY(struct migr_src_record, "cap-before", K_U64, cap_before),
	KEY(struct migr_src_record, "updated", K_U64, updated),
};

/* Parses a source record's text: id, phase, domid and name are what recovery acts on. */
static int parse_src(char *text, struct migr_src_record *r_r)
{
	struct migr_src_record r;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = parse_keys(text, SRC_MAGIC, src_keys, sizeof(src_keys) / sizeof(src_keys[0]), 0xf,
			&r);
	if (!rc)
		*r_r = r;
	return rc;
}

int migr_src_record_read(const char *dir, const struct migr_id *id, struct migr_src_record *r_r)
{
	char hex[MIGR_ID_HEX], path[4200], text[RECORD_MAX + 1];
	struct migr_src_record r;
	int rc;

	migr_id_to_hex(id, hex);
	snprintf(path, sizeof(path), "%s/%s", dir, hex);
	rc = read_text(path, text);
	if (!rc)
		rc = parse_src(text, &r);
	if (!rc && !migr_id_equal(&r.id, id))
		rc = -EBADMSG;
	if (!rc)
		*r_r = r;
	return rc;
}

int migr_src_record_list(const char *dir,
                         int (*fn)(const struct migr_src_record *r, void *opaque), void *opaque)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		struct migr_src_record r;
		struct migr_id id;

		if (migr_id_from_hex(e->d_name, &id) || migr_src_record_read(dir, &id, &r))
			continue;
		rc = fn(&r, opaque);
		if (rc)
			break;
	}
	closedir(d);
	return rc;
}

/* ---- the host id ------------------------------------------------------------------ */

static int host_id_read(const char *dir, struct migr_id *id_r)
{
	char path[4200], text[RECORD_MAX + 1], *nl;
	struct migr_id id;
	int rc;

	snprintf(path, sizeof(path), "%s/host-id", dir);
	rc = read_text(path, text);
	if (rc)
		return rc;
	nl = strchr(text, '\n');
	if (nl)
		*nl = '\0';
	if (migr_id_from_hex(text, &id) || migr_id_is_zero(&id))
		return -EBADMSG;
	*id_r = id;
	return 0;
}

int migr_host_id(const char *dir, struct migr_id *id_r)
{
	char text[MIGR_ID_HEX + 1];
	struct migr_id id;
	int rc;

	rc = host_id_read(dir, id_r);
	if (rc != -ENOENT)
		return rc;
	rc = migr_id_new(&id);
	if (rc)
		return rc;
	migr_id_to_hex(&id, text);
	strcat(text, "\n");
	rc = write_text(dir, "host-id", text, strlen(text));
	/* two first users at once: whichever rename came last is the id */
	return rc ? rc : host_id_read(dir, id_r);
}

int migr_src_record_lock(const char *dir, const struct migr_id *id)
{
	char hex[MIGR_ID_HEX], path[4200];
	int fd, rc;

	rc = mkdir_p(dir);
	if (rc)
		return rc;
	migr_id_to_hex(id, hex);
	snprintf(path, sizeof(path), "%s/%s.lock", dir, hex);
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -errno;
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		if (errno == EINTR)
			continue;
		rc = errno == EWOULDBLOCK ? -EBUSY : -errno;
		close(fd);
		return rc;
	}
	return fd;
}
