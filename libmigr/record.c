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

#define RECORD_MAX 4096
#define RECORD_MAGIC "migr-record 1"

/* Creates dir and its missing parents, mode 0700 for what it creates. */
static int mkdir_p(const char *dir)
{
	char path[4096];
	size_t i, n = strlen(dir);

	if (!n || n >= sizeof(path))
		return -EINVAL;
	memcpy(path, dir, n + 1);
	for (i = 1; i <= n; i++) {
		if (path[i] != '/' && path[i] != '\0')
			continue;
		path[i] = '\0';
		if (mkdir(path, 0700) < 0 && errno != EEXIST)
			return -errno;
		path[i] = i < n ? '/' : '\0';
	}
	return 0;
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

/* Parses a record's text (NUL-terminated) into *r_r; -EBADMSG if anything is off. */
static int parse_record(char *text, struct migr_record *r_r)
{
	struct migr_record r;
	unsigned int seen = 0;
	char *line, *save = NULL;
	bool first = true;

	memset(&r, 0, sizeof(r));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ' ');
		uint64_t v;
		unsigned int bit;

		if (first) {
			if (strcmp(line, RECORD_MAGIC))
				return -EBADMSG;
			first = false;
			continue;
		}
		if (!val)
			return -EBADMSG;
		*val++ = '\0';
		if (!value_ok(val))
			return -EBADMSG;
		if (!strcmp(line, "id")) {
			bit = 1;
			if (migr_id_from_hex(val, &r.id))
				return -EBADMSG;
		} else if (!strcmp(line, "outcome")) {
			bit = 2;
			for (r.outcome = 0; r.outcome <= MIGR_OUTCOME_DESTROYED; r.outcome++)
				if (!strcmp(val, migr_outcome_name(r.outcome)))
					break;
			if (r.outcome > MIGR_OUTCOME_DESTROYED)
				return -EBADMSG;
		} else if (!strcmp(line, "domid")) {
			bit = 4;
			if (parse_u64(val, 0x7fef, &v))
				return -EBADMSG;
			r.domid = (uint32_t)v;
		} else if (!strcmp(line, "name")) {
			bit = 8;
			if (strlen(val) >= sizeof(r.name))
				return -EBADMSG;
			strcpy(r.name, val);
		} else if (!strcmp(line, "source")) {
			bit = 16;
			if (strlen(val) >= sizeof(r.source))
				return -EBADMSG;
			strcpy(r.source, val);
		} else if (!strcmp(line, "updated")) {
			bit = 32;
			if (parse_u64(val, UINT64_MAX, &r.updated))
				return -EBADMSG;
		} else {
			continue;   /* a later version's key */
		}
		if (seen & bit)
			return -EBADMSG;
		seen |= bit;
	}
	/* id and outcome are what RESOLVE needs; the rest is informative. */
	if ((seen & 3) != 3)
		return -EBADMSG;
	*r_r = r;
	return 0;
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
	             "target %s\npeer %s\ntarget-host %s\nupdated %llu\n", hex,
	             migr_src_phase_name(r->phase), r->domid, r->name, r->target, r->peer,
	             migr_id_is_zero(&r->target_host) ? "-" : host,
	             (unsigned long long)r->updated);
	if (n < 0 || n >= (int)sizeof(text))
		return -EINVAL;
	return write_text(dir, hex, text, (size_t)n);
}

static int parse_src(char *text, struct migr_src_record *r_r)
{
	struct migr_src_record r;
	unsigned int seen = 0;
	char *line, *save = NULL;
	bool first = true;

	memset(&r, 0, sizeof(r));
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *val = strchr(line, ' ');
		uint64_t v;
		unsigned int bit;

		if (first) {
			if (strcmp(line, SRC_MAGIC))
				return -EBADMSG;
			first = false;
			continue;
		}
		if (!val)
			return -EBADMSG;
		*val++ = '\0';
		if (!value_ok(val))
			return -EBADMSG;
		if (!strcmp(line, "id")) {
			bit = 1;
			if (migr_id_from_hex(val, &r.id))
				return -EBADMSG;
		} else if (!strcmp(line, "phase")) {
			bit = 2;
			for (r.phase = 0; r.phase <= MIGR_SRC_DONE; r.phase++)
				if (!strcmp(val, migr_src_phase_name(r.phase)))
					break;
			if (r.phase > MIGR_SRC_DONE)
				return -EBADMSG;
		} else if (!strcmp(line, "domid")) {
			bit = 4;
			if (parse_u64(val, 0x7fef, &v))
				return -EBADMSG;
			r.domid = (uint32_t)v;
		} else if (!strcmp(line, "name")) {
			bit = 8;
			if (strlen(val) >= sizeof(r.name))
				return -EBADMSG;
			strcpy(r.name, val);
		} else if (!strcmp(line, "target")) {
			bit = 16;
			if (strlen(val) >= sizeof(r.target))
				return -EBADMSG;
			strcpy(r.target, val);
		} else if (!strcmp(line, "peer")) {
			bit = 32;
			if (strlen(val) >= sizeof(r.peer))
				return -EBADMSG;
			strcpy(r.peer, val);
		} else if (!strcmp(line, "target-host")) {
			bit = 64;
			if (strcmp(val, "-") && migr_id_from_hex(val, &r.target_host))
				return -EBADMSG;
		} else if (!strcmp(line, "updated")) {
			bit = 128;
			if (parse_u64(val, UINT64_MAX, &r.updated))
				return -EBADMSG;
		} else {
			continue;
		}
		if (seen & bit)
			return -EBADMSG;
		seen |= bit;
	}
	/* id, phase, domid and name are what recovery acts on */
	if ((seen & 15) != 15)
		return -EBADMSG;
	*r_r = r;
	return 0;
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
