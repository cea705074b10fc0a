/*
 * migrate_xl.c: the source's dialect toward a stock `xl migrate-receive` over a byte pipe
 * (tools/xl/xl_migrate.c, migrate_receive()), for the driver in migrate.c.
 *
 * Entry point: migr_migrate_xl().
 *
 * The receiver's order, which this dialect follows byte for byte:
 *   receiver: banner (no NUL)                                      -> hello
 *   sender:   xl save-file header with the JSON config            -> config
 *             then the libxl v2 stream, raw                        -> the driver's stream
 *   receiver: "domain received, ready to unpause" (with NUL)      -> wait_ready
 *   sender:   "... cleared to unpause" (with NUL)                  -> go: POINT OF NO RETURN
 *   receiver: "my copy unpause results are as follows" (with NUL) and one status byte;
 *             nonzero: it destroyed its copy and sends the go string back as permission
 *             for the source to resume                             -> wait_done
 * xl has no pre-flight, no RESOLVE and no network-back report. A receiver that fails
 * before GO just exits and destroys what it created; after GO without a report, xl offers
 * no way to ask: the source's copy stays suspended (its record says go) and the result
 * says to check both ends. xl gives no restore or unpause times, so those parts of the
 * blackout are folded into handshake_us.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "send_int.h"

static int read_fixed(struct migr_conn *c, const char *want, size_t len)
{
	char buf[128];
	int rc;

	if (len > sizeof(buf))
		return -EINVAL;
	rc = migr_conn_read(c, buf, len);
	if (rc)
		return rc;
	return memcmp(buf, want, len) ? -MIGR_E_PROTO : 0;
}

static int write_fixed(struct migr_conn *c, const void *buf, size_t len)
{
	int rc = migr_conn_write(c, buf, len);

	return rc ? rc : migr_conn_flush(c);
}

static int xl_hello(struct migr__send *s)
{
	int rc = read_fixed(s->c, migr_xl_banner, strlen(migr_xl_banner));

	if (rc)
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "no xl migration receiver banner on the pipe (%s)",
			   rc == -MIGR_E_PROTO ? "unexpected data" : migr_conn_error(s->c));
	return rc;
}

static int xl_config(struct migr__send *s)
{
	uint8_t *hdr = NULL;
	size_t hdr_len = 0;
	int rc;

	rc = migr_xl_header_encode(s->json, s->json_len, &hdr, &hdr_len);
	if (!rc)
		rc = write_fixed(s->c, hdr, hdr_len);
	if (rc)
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "sending the config failed: %s", migr_conn_error(s->c));
	free(hdr);
	return rc;
}

static int xl_wait_ready(struct migr__send *s)
{
	int rc = read_fixed(s->c, migr_xl_ready, sizeof(migr_xl_ready));

	if (rc)
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "xl receiver did not report the domain received (%s)",
			   rc == -MIGR_E_PROTO ? "unexpected data" : migr_conn_error(s->c));
	/* closing our end makes xl's receiver fail and destroy what it created */
	s->abort_sent = true;
	return rc;
}

static int xl_go(struct migr__send *s)
{
	return write_fixed(s->c, migr_xl_go, sizeof(migr_xl_go));
}

static int xl_wait_done(struct migr__send *s)
{
	uint8_t status;
	int rc;

	rc = read_fixed(s->c, migr_xl_report, sizeof(migr_xl_report));
	if (!rc)
		rc = migr_conn_read(s->c, &status, 1);
	if (rc) {
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "no report from the xl receiver after GO");
		return rc;
	}
	if (status) {
		/* it destroyed its copy and grants us the guest back with the go string */
		migr__text(s->res->state_text, sizeof(s->res->state_text),
			   "xl receiver failed to start the guest (status %d)", (int8_t)status);
		if (read_fixed(s->c, migr_xl_go, sizeof(migr_xl_go))) {
			migr__text(s->res->state_text, sizeof(s->res->state_text),
				   "xl receiver failed after GO and did not confirm destroying its "
				   "copy");
			return -EIO;
		}
		s->abort_sent = true;
		return -MIGR_E_ABORTED;
	}
	return 0;
}

const struct migr__dialect migr__dialect_xl = {
	.name = "xl",
	.stream_flags = MIGR_STREAM_RAW,
	.hello = xl_hello,
	.config = xl_config,
	.wait_ready = xl_wait_ready,
	.go = xl_go,
	.wait_done = xl_wait_done,
};

int migr_migrate_xl(struct migr_hv *hv, uint32_t domid, struct migr_conn *c,
		    const struct migr_send_params *params, struct migr_result *res)
{
	return migr__drive(hv, domid, c, params, res, &migr__dialect_xl);
}
