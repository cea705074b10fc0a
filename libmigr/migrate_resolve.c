/*
 * migrate_resolve.c: settles a migration whose final handshake broke after GO
 * (phase UNDECIDED) by asking the target, never by guessing.
 *
 * Entry point: migr_resolve().
 *
 * The target answers from its durable record (recv.c):
 *   running          -> the target owns the guest: destroy the source's suspended copy
 *   destroyed        -> the target will never run it: rename back and resume here
 *   unknown          -> the target never reported READY, so it never could have run it:
 *                       resume here
 *   restored-paused  -> the target destroys its paused copy when asked (recv.c) and
 *                       answers destroyed; an old target that answers restored-paused is
 *                       left alone and nothing is done here.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send_int.h"

int migr_resolve(struct migr_hv *hv, struct migr_conn *c, const char *id_hex,
		 const char *domain, uint32_t *outcome_r, char *state, size_t statelen,
		 struct xentoollog_logger *lg)
{
	struct migr_msg m, r;
	struct migr_id id;
	struct migr_dom_info di;
	char away[MIGR_DOMNAME_MAX], err[MIGR_ERR_MAX], dummy[8];
	uint32_t version, domid, outcome;
	bool found = false;
	int rc;

	if (!state) {
		state = dummy;
		statelen = sizeof(dummy);
	}
	migr_msg_init(&r, MIGR_MSG_HELLO);
	rc = migr_id_from_hex(id_hex, &id);
	if (rc) {
		migr__text(state, statelen, "not a migration id: %s", id_hex);
		return -EINVAL;
	}

	migr_msg_init(&m, MIGR_MSG_HELLO);
	m.hello.version = MIGR_PROTO_VERSION;
	m.hello.min_version = MIGR_PROTO_MIN_VERSION;
	m.hello.purpose = MIGR_PURPOSE_RESOLVE;
	m.hello.id = id;
	migr__text(m.hello.software, sizeof(m.hello.software), "migr %s", migr_version());
	rc = migr_msg_send(c, &m);
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_HELLO, &r);
	if (!rc)
		rc = migr_hello_check(&r.hello, &id, &version, err, sizeof(err));
	migr_msg_release(&r);
	if (!rc) {
		migr_msg_init(&m, MIGR_MSG_RESOLVE);
		m.resolve.id = id;
		rc = migr_msg_send(c, &m);
	}
	if (!rc)
		rc = migr_msg_expect(c, MIGR_MSG_RESOLVE_REPLY, &r);
	if (!rc && !migr_id_equal(&r.resolve_reply.id, &id))
		rc = -MIGR_E_PROTO;
	if (rc) {
		migr__text(state, statelen, "the target did not answer: %s", migr_conn_error(c));
		migr_msg_release(&r);
		return -MIGR_E_UNDECIDED;
	}
	outcome = r.resolve_reply.outcome;
	migr_msg_release(&r);
	*outcome_r = outcome;

	/* The source's copy: under NAME--migratedaway (after GO) or NAME. */
	if (domain) {
		migr__text(away, sizeof(away), "%s--migratedaway", domain);
		if (!hv->ops->domain_find(hv, away, &domid))
			found = true;
		else if (!hv->ops->domain_find(hv, domain, &domid))
			found = true;
	}
	if (found && hv->ops->domain_info(hv, domid, &di))
		found = false;

	switch (outcome) {
	case MIGR_OUTCOME_RUNNING:
		if (found && di.shutdown && di.shutdown_reason == MIGR_SHUTDOWN_SUSPEND) {
			rc = hv->ops->destroy(hv, domid);
			migr__text(state, statelen, "the target runs the guest; %s the source's copy",
				 rc ? "could NOT destroy" : "destroyed");
		} else {
			migr__text(state, statelen, "the target runs the guest; no suspended copy here");
			rc = 0;
		}
		return rc;
	case MIGR_OUTCOME_DESTROYED:
	case MIGR_OUTCOME_UNKNOWN:
		if (!found) {
			migr__text(state, statelen, "the target has no running copy, and there is no "
				 "copy here either: the guest is lost");
			return -ENOENT;
		}
		if (domain && !strcmp(di.name, away))
			hv->ops->rename(hv, domid, away, domain);
		if (di.shutdown && di.shutdown_reason == MIGR_SHUTDOWN_SUSPEND) {
			rc = hv->ops->resume(hv, domid);
			migr__text(state, statelen, "the target has no running copy; %s the guest here",
				 rc ? "could NOT resume" : "resumed");
			return rc;
		}
		migr__text(state, statelen, "the target has no running copy; the guest runs here");
		return 0;
	default:
		migr__text(state, statelen, "the target still holds a paused copy; nothing done");
		migr__log(lg, XTL_WARN, "resolve %s: target says %s", id_hex,
			  migr_outcome_name(outcome));
		return -MIGR_E_UNDECIDED;
	}
}
