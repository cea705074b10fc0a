/*
 * hv_fake.c: an in-memory hypervisor behind struct migr_hv_ops, for the unit tests of the
 * drivers (migr/hv.h: migr_hv_fake_new()).
 *
 * It keeps a few domains with a state machine close to Xen's as far as migration sees it
 * (running, paused, suspended, destroyed), and moves a stand-in for the libxc stream:
 *   "FAKEXC01", then per batch a u64 page count and count * payload_bytes_per_page bytes,
 *   then a u64 of all ones.
 * Its save consults the precopy callback at the same two decision points as libxenguest
 * (call A with the round's dirty count, call B with -1 after the send), so the drivers'
 * policy glue runs as it does against Xen. Its restore reads the whole libxl v2 stream
 * (header, LIBXC_CONTEXT, the stand-in, END) and checks every byte of the framing, so a
 * framing mistake of the sender fails the tests. Faults can be injected (struct
 * migr_hv_fake_faults).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/stat.h>

#include "libmigr.h"
#include "fakes.h"
#include "util.h"        /* libmigr's own helpers (the fake links the library) */

#define F(h) ((struct migr_hv_fake *)(h))

static const char fake_magic[8] = "FAKEXC01";

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


static int read_all(int fd, void *buf, size_t len)
{
	uint8_t *p = buf;

	while (len) {
		ssize_t n = read(fd, p, len);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -ECONNRESET;
		p += n;
		len -= n;
	}
	return 0;
}

struct migr_fake_dom *migr_hv_fake_dom(struct migr_hv_fake *f, uint32_t domid)
{
	for (int i = 0; i < MIGR_FAKE_MAX_DOMS; i++)
		if (f->doms[i].used && f->doms[i].info.domid == domid)
			return &f->doms[i];
	return NULL;
}

unsigned int migr_hv_fake_count(struct migr_hv_fake *f)
{
	unsigned int n = 0;

	for (int i = 0; i < MIGR_FAKE_MAX_DOMS; i++)
		n += f->doms[i].used;
	return n;
}

static struct migr_fake_dom *fake_alloc(struct migr_hv_fake *f)
{
	for (int i = 0; i < MIGR_FAKE_MAX_DOMS; i++)
		if (!f->doms[i].used) {
			memset(&f->doms[i], 0, sizeof(f->doms[i]));
			f->doms[i].used = true;
			f->doms[i].info.domid = f->next_domid++;
			f->doms[i].console_fd = -1;
			return &f->doms[i];
		}
	return NULL;
}

static void fake_free(struct migr_hv_fake *f, struct migr_fake_dom *d)
{
	f->host.free_kib += d->info.mem_kib;
	free(d->config_json);
	if (d->console_fd >= 0)
		close(d->console_fd);
	memset(d, 0, sizeof(*d));
}

static void console_open(struct migr_hv_fake *f, struct migr_fake_dom *d);

uint32_t migr_hv_fake_add(struct migr_hv_fake *f, const char *name, enum migr_guest_type t,
			  uint64_t pages, uint64_t dirty_per_round)
{
	struct migr_fake_dom *d = fake_alloc(f);
	char json[320], uuid[37];

	if (!d)
		return ~0u;
	snprintf(d->info.name, sizeof(d->info.name), "%s", name);
	d->info.type = t;
	d->info.mem_kib = d->info.max_mem_kib = pages * 4;
	d->info.vcpus = 1;
	d->info.shutdown_reason = -1;
	d->pages = pages;
	d->dirty_per_round = dirty_per_round;
	/* a handle of its own (as xl's), in its config as libxl keeps it */
	for (unsigned int i = 0; i < sizeof(d->info.uuid); i++)
		d->info.uuid[i] = (uint8_t)(0xa0 + i + d->info.domid);
	migr_uuid_format(d->info.uuid, uuid);
	snprintf(json, sizeof(json),
		 "{\"c_info\":{\"type\":\"%s\",\"name\":\"%s\",\"uuid\":\"%s\"},"
		 "\"b_info\":{\"max_memkb\":%llu,\"type.%s\":{}}}",
		 t == MIGR_GUEST_PV ? "pv" : "pvh", name, uuid,
		 (unsigned long long)pages * 4, t == MIGR_GUEST_PV ? "pv" : "pvh");
	d->config_json = strdup(json);
	console_open(f, d);
	f->host.free_kib -= f->host.free_kib >= d->info.mem_kib ? d->info.mem_kib : f->host.free_kib;
	return d->info.domid;
}

static int fake_find(struct migr_hv *h, const char *s, uint32_t *domid_r)
{
	struct migr_hv_fake *f = F(h);
	char *end;
	unsigned long v = strtoul(s, &end, 10);
	int rc = -ENOENT;

	pthread_mutex_lock(&f->lock);
	for (int i = 0; i < MIGR_FAKE_MAX_DOMS; i++) {
		struct migr_fake_dom *d = &f->doms[i];
		if (!d->used)
			continue;
		if ((!*end && *s && d->info.domid == v) || !strcmp(d->info.name, s)) {
			*domid_r = d->info.domid;
			rc = 0;
			break;
		}
	}
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fake_info(struct migr_hv *h, uint32_t domid, struct migr_dom_info *r)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(F(h), domid);

	if (!d)
		return -ENOENT;
	*r = d->info;
	return 0;
}

static int fake_list(struct migr_hv *h, uint32_t *ids, unsigned int max, unsigned int *n_r)
{
	struct migr_hv_fake *f = F(h);
	unsigned int n = 0;

	for (int i = 0; i < MIGR_FAKE_MAX_DOMS && n < max; i++)
		if (f->doms[i].used)
			ids[n++] = f->doms[i].info.domid;
	*n_r = n;
	return 0;
}

static int fake_host(struct migr_hv *h, struct migr_host_info *r)
{
	*r = F(h)->host;
	return 0;
}

static int fake_config(struct migr_hv *h, uint32_t domid, char **json_r, size_t *len_r)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(F(h), domid);
	char *j;

	if (!d)
		return -ENOENT;
	j = strdup(d->config_json);
	if (!j)
		return -ENOMEM;
	*json_r = j;
	*len_r = strlen(j) + 1;
	return 0;
}

/* The fake's configs are small: {"c_info":{"type":"pv","name":"NAME"},"b_info":{...}}. */
static int fake_config_info(struct migr_hv *h, const char *json, char name_r[MIGR_DOMNAME_MAX],
			    enum migr_guest_type *type_r, uint64_t *max_mem_kib_r)
{
	const char *n = strstr(json, "\"name\":\"");
	const char *mk = strstr(json, "\"max_memkb\":");
	size_t len;

	if (!n || !mk)
		return -EINVAL;
	n += 8;
	len = strcspn(n, "\"");
	if (!n[len] || len == 0 || len >= MIGR_DOMNAME_MAX)
		return -EINVAL;
	memcpy(name_r, n, len);
	name_r[len] = '\0';
	*type_r = strstr(json, "\"type\":\"pv\"") ? MIGR_GUEST_PV : MIGR_GUEST_PVH;
	*max_mem_kib_r = strtoull(mk + 12, NULL, 10);
	return 0;
}

/* A batch written in large pieces (at most 1 MiB, the count with the first), as
 * libxenguest writes a batch with one writev(): the pump then reads the stream in chunks as
 * large as the pipe holds, not one page's payload at a time. */
static int send_batch(struct migr_hv_fake *f, int fd, uint64_t pages)
{
	uint64_t left = pages * f->payload_bytes_per_page;
	size_t cap = (1u << 20) + sizeof(pages), len;
	uint8_t *buf = malloc(cap), *p;
	int rc = 0;

	if (!buf)
		return -ENOMEM;
	memset(buf, 0xa5, cap);          /* not zero: pages the stream must carry */
	memcpy(buf, &pages, sizeof(pages));
	p = buf;
	len = sizeof(pages) + (left < (1u << 20) ? left : (1u << 20));
	left -= len - sizeof(pages);
	for (;;) {
		rc = migr__write_all(fd, p, len);
		if (rc || !left)
			break;
		p = buf + sizeof(pages);
		len = left < (1u << 20) ? left : (1u << 20);
		left -= len;
	}
	free(buf);
	return rc;
}

static int fake_save(struct migr_hv *h, uint32_t domid, int fd, const struct migr_save_callbacks *cbs)
{
	struct migr_hv_fake *f = F(h);
	struct migr_fake_dom *d = migr_hv_fake_dom(f, domid);
	struct migr_precopy_stats st = { 0 };
	uint64_t end = ~0ull;
	int dec, rc;

	if (!d)
		return -ENOENT;
	if (d->info.shutdown || d->info.paused)
		return -EINVAL;
	atomic_store(&f->saving, true);
	rc = migr__write_all(fd, fake_magic, sizeof(fake_magic));
	if (rc)
		return rc;
	st.dirty_count = d->pages;
	for (;;) {
		d->clean_us = now_us();     /* a CLEAN */
		dec = cbs->precopy(&st, cbs->arg);
		if (dec == MIGR_PRECOPY_ABORT)
			return -MIGR_E_ABORTED;
		if (f->faults.save_fail_at_round >= 0 &&
		    st.iteration == (unsigned)f->faults.save_fail_at_round) {
			/* half a batch, then the failure: the target sees a cut stream */
			send_batch(f, fd, st.dirty_count / 2);
			return -EIO;
		}
		if (st.iteration == 0 && f->round0_ms) {
			uint64_t left = (uint64_t)st.dirty_count, part = left / 10;

			for (unsigned k = 0; k < 10 && !rc; k++) {
				rc = send_batch(f, fd, k < 9 ? part : left);
				left -= k < 9 ? part : left;
				usleep(f->round0_ms * 100u);
			}
		} else {
			rc = send_batch(f, fd, st.dirty_count);
		}
		if (rc)
			return rc;
		if (dec != MIGR_PRECOPY_CONTINUE)
			break;
		st.iteration++;
		st.total_written += st.dirty_count;
		st.dirty_count = -1;
		dec = cbs->precopy(&st, cbs->arg);
		if (dec == MIGR_PRECOPY_ABORT)
			return -MIGR_E_ABORTED;
		if (dec != MIGR_PRECOPY_CONTINUE)
			break;
		st.dirty_count = d->dirty_per_round < d->pages ? d->dirty_per_round : d->pages;
		if (d->cap) {   /* a capped guest dirties in proportion to the CPU it keeps */
			uint64_t full = 100 * (d->info.vcpus ? d->info.vcpus : 1);

			st.dirty_count = st.dirty_count * (d->cap < full ? d->cap : full) / full;
		}
	}
	rc = cbs->suspend(cbs->arg);
	if (rc)
		return rc;
	if (!d->info.shutdown || d->info.shutdown_reason != MIGR_SHUTDOWN_SUSPEND)
		return -EINVAL;
	rc = send_batch(f, fd, d->dirty_per_round < d->pages ? d->dirty_per_round : d->pages);
	if (!rc)
		rc = migr__write_all(fd, &end, sizeof(end));
	return rc;
}

static int fake_suspend(struct migr_hv *h, uint32_t domid, unsigned int timeout_ms)
{
	struct migr_hv_fake *f = F(h);
	struct migr_fake_dom *d = migr_hv_fake_dom(f, domid);

	if (!d)
		return -ENOENT;
	if (f->faults.suspend_fails)
		return -ETIMEDOUT;
	d->info.shutdown = true;
	d->info.shutdown_reason = MIGR_SHUTDOWN_SUSPEND;
	d->suspended_by_us = true;
	return 0;
}

static int fake_resume(struct migr_hv *h, uint32_t domid)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(F(h), domid);

	if (!d)
		return -ENOENT;
	d->info.shutdown = false;
	d->info.shutdown_reason = -1;
	d->suspended_by_us = false;
	d->resumes++;
	return 0;
}

static int fake_rename(struct migr_hv *h, uint32_t domid, const char *old, const char *new)
{
	struct migr_hv_fake *f = F(h);
	struct migr_fake_dom *d = migr_hv_fake_dom(f, domid);
	uint32_t other;

	if (!d)
		return -ENOENT;
	if (f->faults.rename_fails)
		return -EIO;
	if (old && strcmp(old, d->info.name))
		return -EINVAL;
	if (!fake_find(h, new, &other) && other != domid)
		return -EEXIST;
	snprintf(d->info.name, sizeof(d->info.name), "%s", new);
	return 0;
}

/* Reads and checks one libxl record header; returns its type. */
static int read_libxl_rec(int fd, uint32_t *type_r)
{
	uint32_t h[2];
	int rc = read_all(fd, h, sizeof(h));

	if (rc)
		return rc;
	if (h[1] != 0)             /* migr writes only bodiless records */
		return -EBADMSG;
	*type_r = h[0];
	return 0;
}

static int fake_restore(struct migr_hv *h, const struct migr_restore_opts *o,
			struct migr_restore_info *info_r)
{
	const char *json = o->config_json, *name = o->name, *u;
	int fd = o->fd;
	struct migr_hv_fake *f = F(h);
	struct migr_fake_dom *d;
	uint8_t hdr[16], buf[4096], magic[8];
	uint32_t type;
	uint64_t pages = 0, n;
	static const uint8_t want[16] = { 'L', 'i', 'b', 'x', 'l', 'F', 'm', 't',
					  0, 0, 0, 2, 0, 0, 0, 0 };
	const char *mk = strstr(json, "\"max_memkb\":");
	uint64_t kib = mk ? strtoull(mk + 12, NULL, 10) : 0;
	uint32_t dummy;
	int rc;

	f->stream_bytes_read = 0;
	f->restores++;
	if (!fake_find(h, name, &dummy))
		return -EEXIST;
	if (kib > f->host.free_kib)
		return -ENOMEM;
	/* As libxl's: the domain exists, paused, from the start of the restore. */
	pthread_mutex_lock(&f->lock);
	d = fake_alloc(f);
	if (d) {
		snprintf(d->info.name, sizeof(d->info.name), "%s", name);
		d->info.paused = true;
		d->info.shutdown_reason = -1;
	}
	pthread_mutex_unlock(&f->lock);
	if (!d)
		return -ENOSPC;
	rc = read_all(fd, hdr, sizeof(hdr));
	if (rc)
		goto fail;
	rc = -EBADMSG;
	if (memcmp(hdr, want, sizeof(want)))
		goto fail;
	rc = read_libxl_rec(fd, &type);
	if (rc)
		goto fail;
	rc = -EBADMSG;
	if (type != MIGR_LIBXL_REC_LIBXC_CONTEXT)
		goto fail;
	rc = read_all(fd, magic, sizeof(magic));
	if (rc)
		goto fail;
	rc = -EBADMSG;
	if (memcmp(magic, fake_magic, sizeof(magic)))
		goto fail;
	f->stream_bytes_read = 16 + 8 + 8;
	if (f->early_devices && o->devices_added)   /* as xen_hv.c's thread, while it comes */
		o->devices_added(o->devices_arg, d->info.domid);
	for (;;) {
		rc = read_all(fd, &n, sizeof(n));
		if (rc)
			goto fail;
		f->stream_bytes_read += 8;
		if (n == ~0ull)
			break;
		rc = -EBADMSG;
		if (n > (1u << 24))
			goto fail;
		for (uint64_t i = 0; i < n; i++) {
			rc = read_all(fd, buf, f->payload_bytes_per_page);
			if (rc)
				goto fail;
		}
		f->stream_bytes_read += n * f->payload_bytes_per_page;
		pages += n;
	}
	rc = read_libxl_rec(fd, &type);
	if (rc)
		goto fail;
	rc = -EBADMSG;
	if (type != MIGR_LIBXL_REC_END)
		goto fail;
	f->stream_bytes_read += 8;
	if (f->restore_delay_ms) {   /* the restore tail: libxl builds the domain's devices */
		struct timespec ts = { f->restore_delay_ms / 1000,
				       (long)(f->restore_delay_ms % 1000) * 1000000 };
		nanosleep(&ts, NULL);
	}
	rc = -ENOMEM;
	if (f->faults.restore_fails)
		goto fail;
	d->info.type = strstr(json, "\"pv\"") ? MIGR_GUEST_PV : MIGR_GUEST_PVH;
	if ((u = strstr(json, "\"uuid\":\"")) && strlen(u + 8) > 36) {
		/* libxl gives the restored domain the handle of its config */
		char text[37];

		memcpy(text, u + 8, 36);
		text[36] = '\0';
		if (migr_uuid_parse(text, d->info.uuid))
			memset(d->info.uuid, 0, sizeof(d->info.uuid));
	}
	d->info.mem_kib = d->info.max_mem_kib = kib;
	d->info.vcpus = 1;
	d->pages = kib / 4;
	d->config_json = strdup(json);
	f->host.free_kib -= kib;
	console_open(f, d);   /* the console connects during the restore's build */
	info_r->domid = d->info.domid;
	info_r->devices_us = f->devices_us;
	info_r->fast_vifs = 0;
	return 0;

fail:
	pthread_mutex_lock(&f->lock);
	fake_free(f, d);
	pthread_mutex_unlock(&f->lock);
	return rc;
}

static int fake_unpause(struct migr_hv *h, uint32_t domid)
{
	struct migr_hv_fake *f = F(h);
	struct migr_fake_dom *d = migr_hv_fake_dom(f, domid);

	if (!d)
		return -ENOENT;
	if (f->faults.unpause_fails)
		return -EIO;
	d->info.paused = false;
	return 0;
}

static int fake_destroy(struct migr_hv *h, uint32_t domid)
{
	struct migr_hv_fake *f = F(h);
	struct migr_fake_dom *d = migr_hv_fake_dom(f, domid);

	if (!d)
		return -ENOENT;
	fake_free(f, d);
	return 0;
}

static int fake_vcpu_run(struct migr_hv *h, uint32_t domid, uint64_t *run_ns_r,
			 unsigned int *online_r)
{
	struct migr_hv_fake *f = F(h);
	struct migr_fake_dom *d = migr_hv_fake_dom(f, domid);
	uint64_t now = now_us();
	unsigned int pct = atomic_load(&f->saving) ? f->precopy_run_pct : f->run_pct;

	if (!d)
		return -ENOENT;
	if (!f->run_pct && !f->precopy_run_pct)
		return -ENODATA;          /* a fake with no CPU figures: the guard stays off */
	f->vcpu_looks++;
	if (f->run_last_us)
		f->run_ns += (now - f->run_last_us) * 1000 * pct / 100;
	f->run_last_us = now;
	*run_ns_r = f->run_ns;
	*online_r = d->info.vcpus ? d->info.vcpus : 1;
	return 0;
}

static int fake_peek(struct migr_hv *h, uint32_t domid, uint64_t *dirty_r)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(F(h), domid);

	if (!d)
		return -ENOENT;
	F(h)->peeks++;
	/* Grows through a round as a steady guest's dirtying would: the round's whole set
	 * is dirty peek_full_us (5 s by default) after the CLEAN; a capped guest dirties in
	 * proportion to the CPU it keeps, as at the CLEAN. */
	uint64_t full_us = d->peek_full_us ? d->peek_full_us : 5000000;
	uint64_t el = now_us() - d->clean_us;
	uint64_t n = el >= full_us ? d->dirty_per_round : d->dirty_per_round * el / full_us;

	if (d->cap) {
		uint64_t full = 100 * (d->info.vcpus ? d->info.vcpus : 1);

		n = n * (d->cap < full ? d->cap : full) / full;
	}
	*dirty_r = n;
	return 0;
}

static int fake_announce(struct migr_hv *h, uint32_t domid, unsigned int *frames_r)
{
	struct migr_hv_fake *f = F(h);

	if (!migr_hv_fake_dom(f, domid))
		return -ENOENT;
	f->announces++;
	*frames_r = 1;
	return 0;
}

/* The fake xenconsoled opens a guest's log as Xen's create_console_log() does. */
static void console_open(struct migr_hv_fake *f, struct migr_fake_dom *d)
{
	char path[512];

	if (!f->consoled_dir || !f->consoled_guest_logs)
		return;
	snprintf(path, sizeof(path), "%s/guest-%s.log", f->consoled_dir, d->info.name);
	d->console_fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
}

int migr_hv_fake_console(struct migr_hv_fake *f, uint32_t domid, const char *text)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(f, domid);

	if (!d)
		return -ENOENT;
	if (d->console_fd < 0)
		return 0;
	return write(d->console_fd, text, strlen(text)) == (ssize_t)strlen(text) ? 0 : -EIO;
}

static int fake_consoled(struct migr_hv *h, struct migr_consoled *c_r)
{
	struct migr_hv_fake *f = F(h);

	if (!f->consoled_dir)
		return -ENOENT;
	memset(c_r, 0, sizeof(*c_r));
	c_r->guest_logs = f->consoled_guest_logs;
	snprintf(c_r->log_dir, sizeof(c_r->log_dir), "%s", f->consoled_dir);
	return 0;
}

/* handle_log_reload(): every guest's log closed and opened under its name now */
static int fake_consoled_reopen(struct migr_hv *h)
{
	struct migr_hv_fake *f = F(h);

	if (!f->consoled_dir)
		return -ESRCH;
	f->consoled_reopens++;
	if (f->consoled_deaf || !f->consoled_guest_logs)
		return 0;
	for (int i = 0; i < MIGR_FAKE_MAX_DOMS; i++) {
		struct migr_fake_dom *d = &f->doms[i];

		if (!d->used || d->console_fd < 0)
			continue;
		close(d->console_fd);
		d->console_fd = -1;
		console_open(f, d);
	}
	return 0;
}

static int fake_consoled_holds(struct migr_hv *h, uint64_t dev, uint64_t ino)
{
	struct migr_hv_fake *f = F(h);

	for (int i = 0; i < MIGR_FAKE_MAX_DOMS; i++) {
		struct stat st;

		if (f->doms[i].used && f->doms[i].console_fd >= 0 &&
		    !fstat(f->doms[i].console_fd, &st) && (uint64_t)st.st_dev == dev &&
		    (uint64_t)st.st_ino == ino)
			return 1;
	}
	return 0;
}

static int fake_settle(struct migr_hv *h, uint32_t domid, struct migr_settle *s_r)
{
	struct migr_hv_fake *f = F(h);

	memset(s_r, 0, sizeof(*s_r));
	if (!migr_hv_fake_dom(f, domid))
		return -ENOENT;
	s_r->vifs = 1;
	s_r->vifs_connected = f->net_back_us ? 1 : 0;
	s_r->net_back_us = f->net_back_us;
	s_r->first_frame_us = f->net_back_us ? f->net_back_us + 1000 : 0;
	f->settles++;
	f->announces_at_settle = f->announces;
	return 0;
}

static void fake_close(struct migr_hv *h)
{
	struct migr_hv_fake *f = F(h);

	for (int i = 0; i < MIGR_FAKE_MAX_DOMS; i++)
		if (f->doms[i].used)
			fake_free(f, &f->doms[i]);
	free(f);
}

static int fake_cpu_cap(struct migr_hv *h, uint32_t domid, const unsigned int *set,
			unsigned int *cap_r)
{
	struct migr_fake_dom *d = migr_hv_fake_dom(F(h), domid);

	if (!d)
		return -ENOENT;
	*cap_r = d->cap;
	if (set) {
		d->cap = *set;
		if (*set && (!d->cap_max || *set < d->cap_max))
			d->cap_max = *set;
	}
	return 0;
}

static int fake_nics(struct migr_hv *h, uint32_t domid, struct migr_hv_nic *v,
		     unsigned int max, unsigned int *n_r)
{
	struct migr_hv_fake *f = F(h);

	if (!migr_hv_fake_dom(f, domid))
		return -ENOENT;
	if (!f->with_nics || !max) {
		*n_r = 0;
		return 0;
	}
	memset(v, 0, sizeof(*v));
	memcpy(v->mac, "\x00\x16\x3e\x00\x00", 5);
	v->mac[5] = (uint8_t)domid;
	strcpy(v->bridge, "xenbr0");
	snprintf(v->vif, sizeof(v->vif), "vif%u.0", domid);
	if (!f->nics_no_ip)
		snprintf(v->ip, sizeof(v->ip), "10.0.0.%u", domid & 0xff);
	*n_r = 1;
	return 0;
}

static const struct migr_hv_ops fake_ops = {
	.domain_find = fake_find,
	.domain_info = fake_info,
	.domain_list = fake_list,
	.host_info = fake_host,
	.domain_config = fake_config,
	.config_info = fake_config_info,
	.save = fake_save,
	.suspend = fake_suspend,
	.resume = fake_resume,
	.rename = fake_rename,
	.restore = fake_restore,
	.unpause = fake_unpause,
	.destroy = fake_destroy,
	.peek_dirty = fake_peek,
	.vcpu_run = fake_vcpu_run,
	.announce = fake_announce,
	.settle = fake_settle,
	.cpu_cap = fake_cpu_cap,
	.nics = fake_nics,
	.consoled = fake_consoled,
	.consoled_reopen = fake_consoled_reopen,
	.consoled_holds = fake_consoled_holds,
	.close = fake_close,
};

int migr_hv_fake_new(uint64_t free_kib, struct migr_hv_fake **fake_r)
{
	struct migr_hv_fake *f = calloc(1, sizeof(*f));

	if (!f)
		return -ENOMEM;
	f->hv.ops = &fake_ops;
	pthread_mutex_init(&f->lock, NULL);
	f->host.xen_major = 4;
	f->host.xen_minor = 17;
	snprintf(f->host.xen_extra, sizeof(f->host.xen_extra), ".7");
	f->host.total_kib = free_kib;
	f->host.free_kib = free_kib;
	f->host.cap_pv = f->host.cap_hvm = f->host.cap_hap = true;
	f->host.cap_shadow = false;
	f->faults.save_fail_at_round = -1;
	f->next_domid = 1;
	f->payload_bytes_per_page = 16;
	*fake_r = f;
	return 0;
}
