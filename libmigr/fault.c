/*
 * fault.c: the named fault points of both migration drivers (migr/fault.h), their parser
 * and the hook the drivers call between steps.
 *
 * Entry points: migr_fault_parse(), migr_fault_add(), migr_fault_point_name(),
 * migr_fault_point_info(), migr_fault_kind_name(); migr__fault() for the drivers.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "send_int.h"

static const struct {
	const char *name;
	char side;
	bool xl;
	const char *info;
} points[MIGR_FI_COUNT] = {
	[MIGR_FI_PREFLIGHT]       = { "preflight", 's', true, "before the local checks of the guest and host" },
	[MIGR_FI_FENCE_READ]      = { "fence-read", 's', true, "before the guest's location is read from etcd (with etcd), before HELLO" },
	[MIGR_FI_HELLO]           = { "hello", 's', true, "before HELLO goes to the target" },
	[MIGR_FI_PREFLIGHT_ASK]   = { "preflight-ask", 's', true, "before PREFLIGHT goes" },
	[MIGR_FI_CONFIG]          = { "config", 's', true, "before the domain config goes" },
	[MIGR_FI_RECORD_START]    = { "record-start", 's', true, "before the source's record is first written" },
	[MIGR_FI_PRECOPY_ROUND]   = { "precopy-round", 's', true, "at the end of a pre-copy round (=N: round N)" },
	[MIGR_FI_SUSPEND]         = { "suspend", 's', true, "before the guest is asked to suspend" },
	[MIGR_FI_SUSPENDED]       = { "suspended", 's', true, "guest suspended, before the final send" },
	[MIGR_FI_STREAM_END]      = { "stream-end", 's', true, "stream sent, before the source's copy is renamed away" },
	[MIGR_FI_RENAME_AWAY]     = { "rename-away", 's', true, "before the rename to NAME--migratedaway" },
	[MIGR_FI_WAIT_READY]      = { "wait-ready", 's', true, "before reading READY" },
	[MIGR_FI_AFTER_READY]     = { "after-ready", 's', true, "READY read, before the record says go" },
	[MIGR_FI_RECORD_GO]       = { "record-go", 's', true, "before the source's record says go" },
	[MIGR_FI_FENCE_SWAP]      = { "fence-swap", 's', true, "record says go, before the location swap in etcd (with etcd)" },
	[MIGR_FI_GO]              = { "go", 's', true, "record says go, before GO goes (point of no return)" },
	[MIGR_FI_WAIT_DONE]       = { "wait-done", 's', true, "GO sent, before reading DONE" },
	[MIGR_FI_SETTLED]         = { "settled", 's', true, "DONE read, before reading SETTLED" },
	[MIGR_FI_DESTROY_SOURCE]  = { "destroy-source", 's', true, "SETTLED read, before the source's copy is destroyed" },
	[MIGR_FI_RECORD_END]      = { "record-end", 's', true, "before the source's record is removed" },
	[MIGR_FI_ACCEPT]          = { "accept", 't', true, "before the source's HELLO is read" },
	[MIGR_FI_PREFLIGHT_ANSWER] = { "preflight-answer", 't', false, "before PREFLIGHT_REPLY goes" },
	[MIGR_FI_CONFIG_CHECK]    = { "config-check", 't', true, "config arrived, before it is checked" },
	[MIGR_FI_RESTORE]         = { "restore", 't', true, "before the restore starts" },
	[MIGR_FI_RESTORE_TAIL]    = { "restore-tail", 't', true, "restore returned, before its result is used" },
	[MIGR_FI_RECORD_PAUSED]   = { "record-paused", 't', true, "before the record says restored-paused" },
	[MIGR_FI_READY]           = { "ready", 't', true, "record says restored-paused, before READY goes" },
	[MIGR_FI_WAIT_GO]         = { "wait-go", 't', true, "READY sent, before reading GO" },
	[MIGR_FI_FENCE_CHECK]     = { "fence-check", 't', true, "GO read, before the location is checked in etcd (with etcd)" },
	[MIGR_FI_RECORD_RUNNING]  = { "record-running", 't', true, "GO read, before the record says running (point of no return)" },
	[MIGR_FI_RENAME]          = { "rename", 't', true, "record says running, before the rename to NAME" },
	[MIGR_FI_FORWARD]         = { "forward", 't', true, "renamed, before the delivery end of forwarding" },
	[MIGR_FI_UNPAUSE]         = { "unpause", 't', true, "forwarding's end in place, before the unpause" },
	[MIGR_FI_DONE]            = { "done", 't', true, "guest unpaused, before DONE goes" },
	[MIGR_FI_SETTLE]          = { "settle", 't', true, "DONE sent, before the network-back wait" },
};

static const char *const kinds[MIGR_FK_COUNT] = {
	[MIGR_FK_ERROR] = "error", [MIGR_FK_CRASH] = "crash", [MIGR_FK_HANG] = "hang",
	[MIGR_FK_CUT] = "cut",
};

const char *migr_fault_point_name(enum migr_fault p)
{
	return (unsigned)p < MIGR_FI_COUNT ? points[p].name : NULL;
}

const char *migr_fault_point_info(enum migr_fault p, char *side_r, bool *xl_r)
{
	if ((unsigned)p >= MIGR_FI_COUNT || !points[p].name)
		return NULL;
	if (side_r)
		*side_r = points[p].side;
	if (xl_r)
		*xl_r = points[p].xl;
	return points[p].info;
}

const char *migr_fault_kind_name(enum migr_fault_kind k)
{
	return (unsigned)k < MIGR_FK_COUNT && kinds[k] ? kinds[k] : "none";
}

int migr_fault_add(struct migr_fault_set *fs, enum migr_fault point, enum migr_fault_kind kind,
                   uint32_t ms)
{
	if (fs->n == MIGR_FAULTS_MAX)
		return -ENOSPC;
	fs->f[fs->n].point = (uint16_t)point;
	fs->f[fs->n].kind = (uint8_t)kind;
	fs->f[fs->n].ms = ms;
	fs->f[fs->n].skip = 0;
	fs->n++;
	return 0;
}

/* The names earlier versions took, each with its kind. */
static const struct {
	const char *name;
	enum migr_fault point;
	enum migr_fault_kind kind;
} legacy[] = {
	{ "before-done", MIGR_FI_WAIT_DONE, MIGR_FK_CUT },
};

static int parse_one(char *item, struct migr_fault_set *fs, char *err, size_t errlen)
{
	char *kind = strchr(item, ':'), *arg = NULL;
	enum migr_fault p = MIGR_FI_NONE;
	enum migr_fault_kind k = MIGR_FK_ERROR;
	unsigned long v = 0;

	if (kind) {
		*kind++ = '\0';
		arg = strchr(kind, '=');
		if (arg)
			*arg++ = '\0';
	} else {
		arg = strchr(item, '=');
		if (arg)
			*arg++ = '\0';
	}
	for (unsigned int i = 0; i < sizeof(legacy) / sizeof(legacy[0]); i++)
		if (!strcmp(item, legacy[i].name) && !kind) {
			p = legacy[i].point;
			k = legacy[i].kind;
		}
	for (unsigned int i = 1; p == MIGR_FI_NONE && i < MIGR_FI_COUNT; i++)
		if (points[i].name && !strcmp(item, points[i].name))
			p = (enum migr_fault)i;
	if (p == MIGR_FI_NONE) {
		snprintf(err, errlen, "unknown fault point \"%s\" (`migr faults` lists them)", item);
		return -EINVAL;
	}
	if (kind) {
		for (k = MIGR_FK_ERROR; k < MIGR_FK_COUNT; k++)
			if (!strcmp(kind, kinds[k]))
				break;
		if (k == MIGR_FK_COUNT) {
			snprintf(err, errlen, "unknown fault kind \"%s\" (error, crash, hang, cut)",
				 kind);
			return -EINVAL;
		}
	}
	if (arg) {
		char *end;
		errno = 0;
		v = strtoul(arg, &end, 10);
		if (errno || end == arg || *end || v > 3600000) {
			snprintf(err, errlen, "bad number \"%s\" for %s", arg, item);
			return -EINVAL;
		}
	}
	if (migr_fault_add(fs, p, k, k == MIGR_FK_HANG ? (arg ? (uint32_t)v : 60000) : 0)) {
		snprintf(err, errlen, "at most %d faults", MIGR_FAULTS_MAX);
		return -EINVAL;
	}
	if (k != MIGR_FK_HANG && arg)
		fs->f[fs->n - 1].skip = (uint32_t)v;
	return 0;
}

int migr_fault_parse(const char *spec, struct migr_fault_set *fs_r, char *err, size_t errlen)
{
	struct migr_fault_set fs;
	char buf[512], *item, *save = NULL;
	char dummy[8];
	int rc;

	if (!err) {
		err = dummy;
		errlen = sizeof(dummy);
	}
	memset(&fs, 0, sizeof(fs));
	if (strlen(spec) >= sizeof(buf)) {
		snprintf(err, errlen, "fault list too long");
		return -EINVAL;
	}
	strcpy(buf, spec);
	for (item = strtok_r(buf, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
		rc = parse_one(item, &fs, err, errlen);
		if (rc)
			return rc;
	}
	*fs_r = fs;
	return 0;
}

/*
 * The hook between steps: 0 to go on (nothing set here, or a hang that ended, or a cut
 * done), -EIO for an error, -MIGR_E_CRASHED for a crash the caller must not clean up
 * after (only with crash_returns; otherwise the process is killed here).
 */
/* (precopy-round goes through migr__fault_round(), which knows the round.) */
int migr__fault(const struct migr_fault_set *fs, enum migr_fault point, struct migr_conn *c,
                struct xentoollog_logger *lg)
{
	if (!fs)
		return 0;
	for (unsigned int i = 0; i < fs->n && i < MIGR_FAULTS_MAX; i++) {
		if (fs->f[i].point != point)
			continue;
		return migr__fault_fire(fs, i, c, lg);
	}
	return 0;
}

int migr__fault_round(const struct migr_fault_set *fs, unsigned int round, struct migr_conn *c,
                      struct xentoollog_logger *lg)
{
	if (!fs)
		return 0;
	for (unsigned int i = 0; i < fs->n && i < MIGR_FAULTS_MAX; i++)
		if (fs->f[i].point == MIGR_FI_PRECOPY_ROUND && fs->f[i].skip == round)
			return migr__fault_fire(fs, i, c, lg);
	return 0;
}

int migr__fault_fire(const struct migr_fault_set *fs, unsigned int i, struct migr_conn *c,
                     struct xentoollog_logger *lg)
{
	const char *name = points[fs->f[i].point].name;

	switch (fs->f[i].kind) {
	case MIGR_FK_ERROR:
		migr__log(lg, XTL_ERROR, "fault injected at %s: the step fails", name);
		return -EIO;
	case MIGR_FK_CRASH:
		migr__log(lg, XTL_ERROR, "fault injected at %s: the process dies", name);
		if (fs->crash_returns)
			return -MIGR_E_CRASHED;
		kill(getpid(), SIGKILL);
		pause();
		return -MIGR_E_CRASHED;
	case MIGR_FK_HANG: {
		struct timespec ts = { fs->f[i].ms / 1000, (long)(fs->f[i].ms % 1000) * 1000000 };

		migr__log(lg, XTL_ERROR, "fault injected at %s: the process stops for %u ms", name,
			  fs->f[i].ms);
		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
		return 0;
	}
	case MIGR_FK_CUT:
		migr__log(lg, XTL_ERROR, "fault injected at %s: the connection is cut", name);
		if (c)
			migr_conn_cut(c);
		return 0;
	default:
		return 0;
	}
}
