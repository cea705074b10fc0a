/*
 * recv_int.h: the target's driver (recv.c) and its protocol dialects: migr's own
 * (recv.c) and stock xl's (recv_xl.c). Internal to libmigr.
 */
#ifndef MIGR_RECV_INT_H
#define MIGR_RECV_INT_H

#include "send_int.h"

struct recv_ctx;

/*
 * A protocol dialect of the target driver: what the source speaks. Each op is one step
 * of the driver, called at most once in this order, on the driver's thread; 0 or a
 * negative errno, with the reason set by fail_text(). NULL: the dialect has no such
 * step. The driver does everything else the same way for both: the guest's checks, the
 * restore, the durable records, rename and unpause, the one unwind.
 */
struct migr__recv_dialect {
	const char *name;
	bool framed;     /* the stream comes framed (migr's DATA records): READY may go
	                    during the restore's tail; else libxl reads the pipe itself */
	/* greeting, and the guest's config when the dialect sends it first */
	int (*accept)(struct recv_ctx *x);
	/* the guest and host checked (recv__check_guest), the source answered */
	int (*admit)(struct recv_ctx *x);
	/* the config, when it comes after the answer */
	int (*config)(struct recv_ctx *x);
	/* the restored copy is paused and recorded: tell the source */
	int (*ready)(struct recv_ctx *x, uint32_t domid, bool early);
	/* the source's permission to run (within the GO deadline, set by the driver) */
	int (*wait_go)(struct recv_ctx *x);
	/* the guest runs here; failures are only logged */
	void (*done)(struct recv_ctx *x);
	void (*settled)(struct recv_ctx *x);
	/* the migration is backed out here: tell the source, if it is to be told.
	 * destroyed: our copy is gone (after GO: the source may resume only then) */
	void (*abort)(struct recv_ctx *x, bool destroyed);
};

/* The restore, in a thread of its own, so that the receiver can talk meanwhile. */
struct recv_job {
	struct migr_hv *hv;
	struct migr_restore_opts o;
	struct migr_restore_info info;
	int done_fd;          /* eventfd, written when the restore returned */
	int devices_fd;       /* eventfd, written (domid + 1) once the early devices exist */
	int rc;
	uint64_t t_end;       /* migr__now_us() when it returned */
};

/* One reception's state; only the steps change it, only the steps change phase. */
struct recv_ctx {
	const struct migr__recv_dialect *d;
	struct migr_hv *hv;
	struct migr_conn *c;
	const struct migr_recv_params *p;
	struct migr_recv_result *res;
	enum migr_phase phase;
	struct migr_msg peer;            /* PREFLIGHT (or HELLO) */
	struct migr_msg cfg;             /* CONFIG (xl: the header's config) */
	struct migr_id id, host_id;
	char source[MIGR_TEXT_MAX];      /* who the source is, for the record and RESOLVE */
	char name[MIGR_DOMNAME_MAX], incoming[MIGR_DOMNAME_MAX];
	enum migr_guest_type type;
	uint32_t domid;                  /* our copy, once the restore made it */
	uint64_t claim;                  /* memory claimed until the restore returned */
	struct migr__fwdm *fwd;          /* delivery of what the source forwards (fwd_mig.c) */
	bool fwd_early;                  /* set up while the stream came (or tried to) */
	uint64_t t0, t_restored, t_go;
	struct recv_job job;
	bool have_copy;                  /* our copy exists */
	bool recorded;                   /* the record says restored-paused (READY may go) */
	bool ready_sent, go;             /* READY went; GO came */
	int go_rc;                       /* the wait for GO failed (early READY) */
	bool running;                    /* the record says running: POINT OF NO RETURN */
	bool source_aborted;             /* the source said it aborted: nothing more to say */
	bool resolve;                    /* the connection asks RESOLVE, not a migration */
	uint32_t version;                /* agreed in HELLO; from 2 CONFIG precedes the reply */
	bool config_ok;                  /* CONFIG checked (and rewritten by the rules) */
	bool crashed;
	void *dialect;                   /* the dialect's own state */
};

/* The target driver (recv.c) over a dialect. */
int migr__recv_drive(struct migr_hv *hv, struct migr_conn *c, const struct migr_recv_params *p,
		     struct migr_recv_result *res, const struct migr__recv_dialect *d);

/* A fault point of the reception (sets x->crashed on a simulated crash). */
int recv__fault(struct recv_ctx *x, enum migr_fault point);

/* The reason of the failure; the first one set stays. */
void recv__fail(struct recv_ctx *x, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * The checks every dialect makes of a guest before its stream: a name migr creates
 * domains under, a guest type this host runs, no domain of that name (or NAME--incoming)
 * here, and memory for it (claimed in x->claim). 0, or a MIGR_REFUSE_* code with the
 * reason in why.
 */
uint32_t recv__check_guest(struct recv_ctx *x, const struct migr_host_info *hi,
			   uint64_t mem_kib, char *why, size_t whylen);

/* The guest's config (x->cfg) through the target's rules (migr/config_rules.h): the
 * restore gets their output. 0, or -MIGR_E_PROTO with the reason in why (naming each
 * field refused). */
int recv__apply_rules(struct recv_ctx *x, char *why, size_t whylen);

#endif
