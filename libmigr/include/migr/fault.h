/*
 * migr/fault.h: named fault points in both migration drivers, for tests and drills.
 *
 * Every step of migr_migrate() and migr_receive() (and the matching steps of the xl
 * dialect) passes a named point first. A fault set, parsed from MIGR_FAULT (the
 * environment of `migr`, `migrd` and `migr receive`) or built by a test, makes the
 * process fail there in one of four ways:
 *
 *   error  the step fails as if its operation had failed (-EIO)
 *   crash  the process dies at once, as kill -9 would end it (nothing is cleaned up)
 *   hang   the process stops there for N ms (default 60000) holding everything
 *   cut    the connection to the peer is closed; the step then goes on and meets it
 *
 * Syntax: POINT[:KIND[=MS]][,POINT[:KIND[=MS]]...]; KIND defaults to error. `migr faults`
 * lists the points; docs/phases.md says what each means and what a failure there must
 * leave behind.
 *
 * Entry points: migr_fault_parse(), migr_fault_point_name(), migr_fault_point_info(),
 * migr_fault_kind_name(); the drivers call migr__fault() (internal).
 */
#ifndef MIGR_FAULT_H
#define MIGR_FAULT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum migr_fault {
	MIGR_FI_NONE = 0,
	/* source: one driver for both dialects (migrate.c), so every point is in both */
	MIGR_FI_PREFLIGHT,         /* x before the local checks of the guest and host */
	MIGR_FI_FENCE_READ,        /* x before the guest's location is read from etcd */
	MIGR_FI_HELLO,             /*   before HELLO goes */
	MIGR_FI_PREFLIGHT_ASK,     /*   before PREFLIGHT goes */
	MIGR_FI_CONFIG,            /* x before the domain config goes */
	MIGR_FI_RECORD_START,      /* x before the source's record is first written */
	MIGR_FI_PRECOPY_ROUND,     /* x at the end of each pre-copy round */
	MIGR_FI_SUSPEND,           /* x before the suspend request */
	MIGR_FI_SUSPENDED,         /* x guest suspended, before the final send */
	MIGR_FI_STREAM_END,        /* x the stream sent, before the source's copy is renamed */
	MIGR_FI_RENAME_AWAY,       /* x before the rename to NAME--migratedaway */
	MIGR_FI_WAIT_READY,        /* x before reading READY */
	MIGR_FI_AFTER_READY,       /* x READY read, before the record says go */
	MIGR_FI_RECORD_GO,         /* x before the record says go */
	MIGR_FI_FENCE_SWAP,        /* x record says go, before the location swap in etcd */
	MIGR_FI_GO,                /* x record says go, before GO goes */
	MIGR_FI_WAIT_DONE,         /* x GO sent, before reading DONE */
	MIGR_FI_SETTLED,           /*   DONE read, before reading SETTLED */
	MIGR_FI_DESTROY_SOURCE,    /* x SETTLED read, before the source's copy is destroyed */
	MIGR_FI_RECORD_END,        /* x before the source's record is removed */
	/* target, migr_receive(); migr_receive_xl() all but those xl's protocol has no step for
	 * (preflight-answer, record-paused, record-running, settle) */
	MIGR_FI_ACCEPT,            /* x before the peer's HELLO (xl: banner) */
	MIGR_FI_PREFLIGHT_ANSWER,  /*   before PREFLIGHT_REPLY goes */
	MIGR_FI_CONFIG_CHECK,      /* x the config arrived, before it is checked */
	MIGR_FI_RESTORE,           /* x before the restore starts */
	MIGR_FI_RESTORE_TAIL,      /* x the restore returned, before its result is used */
	MIGR_FI_RECORD_PAUSED,     /* x before the record says restored-paused */
	MIGR_FI_READY,             /* x record says restored-paused, before READY goes */
	MIGR_FI_WAIT_GO,           /* x READY sent, before reading GO */
	MIGR_FI_FENCE_CHECK,       /* x GO read, before the location is checked in etcd */
	MIGR_FI_RECORD_RUNNING,    /* x GO read, before the record says running */
	MIGR_FI_RENAME,            /* x record says running, before the rename to NAME */
	MIGR_FI_FORWARD,           /* x renamed, before the delivery end of forwarding */
	MIGR_FI_UNPAUSE,           /* x forwarding's end in place, before the unpause */
	MIGR_FI_DONE,              /* x unpaused, before DONE goes */
	MIGR_FI_SETTLE,            /*   DONE sent, before the network-back wait */
	MIGR_FI_COUNT
};

enum migr_fault_kind {
	MIGR_FK_NONE = 0,
	MIGR_FK_ERROR,
	MIGR_FK_CRASH,
	MIGR_FK_HANG,
	MIGR_FK_CUT,
	MIGR_FK_COUNT
};

#define MIGR_FAULTS_MAX 8

struct migr_fault_set {
	unsigned int n;
	struct {
		uint16_t point;        /* enum migr_fault */
		uint8_t kind;          /* enum migr_fault_kind */
		uint32_t ms;           /* hang: how long */
		uint32_t skip;         /* fire at the (skip+1)-th pass (precopy-round: round) */
	} f[MIGR_FAULTS_MAX];
	/* crash inside this process instead of dying: the driver returns -MIGR_E_CRASHED at
	 * once and skips every clean-up with an effect outside its memory (tests) */
	bool crash_returns;
};

/* Parses spec into *fs_r (zeroed first). -EINVAL with the reason in err otherwise. */
int migr_fault_parse(const char *spec, struct migr_fault_set *fs_r, char *err, size_t errlen);
/* Adds one fault to fs; -ENOSPC when full. */
int migr_fault_add(struct migr_fault_set *fs, enum migr_fault point, enum migr_fault_kind kind,
                   uint32_t ms);

const char *migr_fault_point_name(enum migr_fault p);   /* "wait-ready"; NULL if none */
/* What the point is, and on which side: 's' source, 't' target; xl: also in the xl
 * dialect's driver of that side. */
const char *migr_fault_point_info(enum migr_fault p, char *side_r, bool *xl_r);
const char *migr_fault_kind_name(enum migr_fault_kind k);

#endif /* MIGR_FAULT_H */
