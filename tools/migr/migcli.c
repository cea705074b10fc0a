/*
 * migcli.c: helpers shared by the migration subcommands (migcli.h).
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include "commands.h"
#include "migcli.h"

long long migcli_parse_rate(const char *s)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno || end == s || v < 0)
		return -1;
	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1024 * 1024; end++; break;
	case 'g': case 'G': v *= 1024.0 * 1024 * 1024; end++; break;
	}
	if (*end == 'i' || *end == 'B' || *end == 'b')
		end += strspn(end, "iBb/s");
	return *end ? -1 : (long long)v;
}

int migcli_conn_opt(struct migcli_conn_opts *o, const char *name, const char *arg)
{
	if (!strcmp(name, "psk"))
		o->t.psk_file = arg;
	else if (!strcmp(name, "cert"))
		o->t.cert_file = arg;
	else if (!strcmp(name, "key"))
		o->t.key_file = arg;
	else if (!strcmp(name, "ca"))
		o->t.ca_file = arg;
	else if (!strcmp(name, "psk-identity"))
		o->t.psk_identity = arg;
	else if (!strcmp(name, "peer-name"))
		o->t.peer_name = arg;
	else if (!strcmp(name, "insecure"))
		o->t.insecure = true;
	else if (!strcmp(name, "bandwidth")) {
		long long r = migcli_parse_rate(arg);
		if (r < 0) {
			fprintf(stderr, "migr: --bandwidth: not a rate: %s (e.g. 100M = 100 MiB/s)\n", arg);
			return -1;
		}
		o->t.bandwidth = r;
	} else if (!strcmp(name, "cpu-share")) {
		char *end;
		unsigned long v;

		if (!strcmp(arg, "auto")) {
			o->t.cpu_share_pct = 0;
			o->fixed_share = false;
			return 1;
		}
		if (!strcmp(arg, "off")) {
			o->t.cpu_share_pct = 0;
			o->fixed_share = true;
			return 1;
		}
		v = strtoul(arg, &end, 10);
		if (end == arg || *end || v < 1 || v > 99 || *arg == '-' || *arg == '+') {
			fprintf(stderr, "migr: --cpu-share: auto, off, or a percentage of one CPU, "
				"1..99, not %s\n", arg);
			return -1;
		}
		o->t.cpu_share_pct = (unsigned int)v;
		o->fixed_share = true;
	} else if (!strcmp(name, "compress")) {
		if (migr_compress_parse(arg, &o->compress)) {
			fprintf(stderr, "migr: --compress: auto, on or off, not %s\n", arg);
			return -1;
		}
	} else
		return 0;
	return 1;
}

int migcli_etcd_opt(struct migcli_etcd *o, const char *name, const char *arg)
{
	if (!strcmp(name, "etcd"))
		o->endpoints = arg;
	else if (!strcmp(name, "etcd-name"))
		o->name = arg;
	else if (!strcmp(name, "etcd-ca"))
		o->ca = arg;
	else if (!strcmp(name, "etcd-cert"))
		o->cert = arg;
	else if (!strcmp(name, "etcd-key"))
		o->key = arg;
	else
		return 0;
	return 1;
}

int migcli_etcd_open(struct migcli_etcd *o, xentoollog_logger *lg)
{
	struct migr_etcd_opts eo = { .endpoints = o->endpoints, .ca_file = o->ca,
				     .cert_file = o->cert, .key_file = o->key, .lg = lg };
	char err[MIGR_ERR_MAX];
	int rc;

	if (!o->endpoints) {
		if (o->name || o->ca || o->cert || o->key) {
			fprintf(stderr, "migr: --etcd-name, --etcd-ca, --etcd-cert and --etcd-key "
				"go with --etcd\n");
			return -1;
		}
		return 0;
	}
	if (!o->name) {
		gethostname(o->hostname, sizeof(o->hostname) - 1);
		o->name = o->hostname;
	}
	if (!migr_etcd_name_ok(o->name)) {
		fprintf(stderr, "migr: --etcd-name: \"%s\" is not a host name for etcd (letters, "
			"digits, '.', '_', '-'; at most 255)\n", o->name);
		return -1;
	}
	if (migr_etcd_endpoints_check(o->endpoints, err, sizeof(err))) {
		fprintf(stderr, "migr: --etcd: %s\n", err);
		return -1;
	}
	rc = migr_etcd_open(&eo, &o->e);
	if (rc) {
		fprintf(stderr, "migr: --etcd %s: %s\n", o->endpoints, migr_strerror(rc));
		return -1;
	}
	return 0;
}

void migcli_etcd_close(struct migcli_etcd *o)
{
	migr_etcd_close(o->e);
	o->e = NULL;
}

static bool exists(const char *p)
{
	struct stat st;
	return stat(p, &st) == 0;
}

void migcli_conn_defaults(struct migcli_conn_opts *o)
{
	if (o->t.insecure || o->t.psk_file || o->t.cert_file || o->t.ca_file)
		return;
	if (exists(MIGR_PSK_FILE)) {
		o->t.psk_file = MIGR_PSK_FILE;
	} else if (exists(MIGR_TLS_DIR "/cert.pem")) {
		o->t.ca_file = MIGR_TLS_DIR "/ca.pem";
		o->t.cert_file = MIGR_TLS_DIR "/cert.pem";
		o->t.key_file = MIGR_TLS_DIR "/key.pem";
	}
}

pid_t migcli_spawn(const char *rune, int *rfd_r, int *wfd_r)
{
	int to_child[2], from_child[2];
	pid_t pid;

	if (pipe2(to_child, O_CLOEXEC) < 0)
		return -1;
	if (pipe2(from_child, O_CLOEXEC) < 0) {
		close(to_child[0]);
		close(to_child[1]);
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		close(to_child[0]); close(to_child[1]);
		close(from_child[0]); close(from_child[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(to_child[0], 0);
		dup2(from_child[1], 1);
		signal(SIGPIPE, SIG_DFL);
		execlp("sh", "sh", "-c", rune, (char *)NULL);
		perror("migr: cannot run sh");
		_exit(127);
	}
	close(to_child[0]);
	close(from_child[1]);
	*rfd_r = from_child[0];
	*wfd_r = to_child[1];
	return pid;
}

void migcli_reap(pid_t child)
{
	int status;

	for (int i = 0; i < 200; i++) {
		pid_t r = waitpid(child, &status, WNOHANG);
		if (r == child) {
			if (WIFEXITED(status) && WEXITSTATUS(status))
				fprintf(stderr, "migr: the pipe's command exited with status %d\n",
					WEXITSTATUS(status));
			else if (WIFSIGNALED(status))
				fprintf(stderr, "migr: the pipe's command died of signal %d\n",
					WTERMSIG(status));
			return;
		}
		if (r < 0)
			return;
		struct timespec ts = { 0, 10 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	fprintf(stderr, "migr: the pipe's command has not exited, not waiting for it\n");
}

xentoollog_logger *migcli_logger(int verbose)
{
	xentoollog_level lvl = verbose >= 3 ? XTL_DEBUG : verbose == 2 ? XTL_DETAIL :
			       verbose == 1 ? XTL_INFO : XTL_ERROR;
	return (xentoollog_logger *)xtl_createlogger_stdiostream(stderr, lvl,
			XTL_STDIOSTREAM_HIDE_PROGRESS);
}

static double mib(uint64_t b)
{
	return b / (1024.0 * 1024.0);
}

static double ms(uint64_t us)
{
	return us / 1000.0;
}

void migcli_progress_cb(const struct migr_progress *p, void *arg)
{
	struct migcli_progress *pg = arg;

	if (p->round_end && pg->n_rounds < sizeof(pg->rounds) / sizeof(pg->rounds[0]))
		pg->rounds[pg->n_rounds++] = *p;
	if (pg->log)
		migr_roundlog_progress(pg->log, p);
	if (pg->json) {
		printf("{\"event\":\"progress\",\"phase\":\"%s\",\"round\":%u,\"round_end\":%s,"
		       "\"in_round\":%s,"
		       "\"elapsed_ms\":%.1f,\"sent_bytes\":%llu,\"sent_pages\":%llu,"
		       "\"round_pages\":%llu,\"round_bytes\":%llu,\"round_ms\":%.1f,"
		       "\"remaining_pages\":%llu,\"dirty_rate_pps\":%llu,\"bandwidth_Bps\":%llu,"
		       "\"predicted_blackout_ms\":%.1f,\"decision\":\"%s\",\"reason\":\"%s\","
		       "\"throttle_pct\":%u}\n",
		       migr_phase_name(p->phase), p->round, p->round_end ? "true" : "false",
		       p->in_round ? "true" : "false",
		       ms(p->elapsed_us), (unsigned long long)p->sent_bytes,
		       (unsigned long long)p->sent_pages, (unsigned long long)p->round_pages,
		       (unsigned long long)p->round_bytes, ms(p->round_us),
		       (unsigned long long)p->remaining_pages,
		       (unsigned long long)p->dirty_rate_pps, (unsigned long long)p->bandwidth_Bps,
		       ms(p->predicted_blackout_us), migr_policy_action_name(p->decision),
		       migr_policy_reason_name(p->reason), p->throttle_pct);
		fflush(stdout);
		return;
	}
	if (pg->quiet)
		return;
	if (pg->tty) {
		char line[200];
		int n = snprintf(line, sizeof(line),
				 "%-10s round %2u  sent %7.1f MiB  remaining %7llu pages  "
				 "dirty %6llu p/s  %6.1f MiB/s  blackout ~%.0f ms",
				 migr_phase_name(p->phase), p->round, mib(p->sent_bytes),
				 (unsigned long long)p->remaining_pages,
				 (unsigned long long)p->dirty_rate_pps, mib(p->bandwidth_Bps),
				 ms(p->predicted_blackout_us));
		fprintf(stderr, "\r%s%*s", line, pg->last_len > n ? pg->last_len - n : 0, "");
		pg->last_len = n;
		fflush(stderr);
	} else if (p->round_end) {
		fprintf(stderr, "migr: round %u: %llu pages, %.1f MiB in %.0f ms; remaining %llu; "
			"dirty %llu p/s; %.1f MiB/s; blackout ~%.0f ms; throttle %u%% -> %s (%s)\n",
			p->round - 1, (unsigned long long)p->round_pages, mib(p->round_bytes),
			ms(p->round_us), (unsigned long long)p->remaining_pages,
			(unsigned long long)p->dirty_rate_pps, mib(p->bandwidth_Bps),
			ms(p->predicted_blackout_us), p->throttle_pct,
			migr_policy_action_name(p->decision), migr_policy_reason_name(p->reason));
	}
}

void migcli_print_summary(FILE *f, const struct migcli_progress *pg, const struct migr_result *r,
			  int rc)
{
	char devs[64], pred[128];

	if (pg->tty && pg->last_len)
		fprintf(f, "\n");
	fprintf(f, "migration %s of %s (%s): %s\n", r->id[0] ? r->id : "-", r->name[0] ? r->name : "?",
		migr_guest_type_name(r->type),
		rc == 0 ? "done" : rc == -MIGR_E_UNDECIDED ? "UNDECIDED" :
		r->phase == MIGR_PHASE_FAILED ? "FAILED" : "aborted");
	if (pg->n_rounds) {
		fprintf(f, "  round      pages    MiB      ms   remaining  dirty p/s   MiB/s  "
			"pred.blackout ms  throttle  decision\n");
		for (unsigned i = 0; i < pg->n_rounds; i++) {
			const struct migr_progress *p = &pg->rounds[i];
			fprintf(f, "  %5u %10llu %6.1f %7.0f %11llu %10llu %7.1f %17.1f  %7u%%  %s (%s)\n",
				p->round - 1, (unsigned long long)p->round_pages, mib(p->round_bytes),
				ms(p->round_us), (unsigned long long)p->remaining_pages,
				(unsigned long long)p->dirty_rate_pps, mib(p->bandwidth_Bps),
				ms(p->predicted_blackout_us), p->throttle_pct,
				migr_policy_action_name(p->decision), migr_policy_reason_name(p->reason));
		}
	}
	fprintf(f, "  rounds %u, stream %.1f MiB (%llu bytes), on the wire %.1f MiB (%.1f MiB of "
		"zero pages sent as their length, %.1f MiB saved by compression), total %.2f s "
		"(pre-copy %.2f s)\n", r->rounds,
		mib(r->stream_bytes), (unsigned long long)r->stream_bytes, mib(r->wire_bytes),
		mib(r->zero_bytes), mib(r->compress_saved_bytes), r->total_us / 1e6,
		r->precopy_us / 1e6);
	if (r->compressed_bytes || r->compress == MIGR_COMPRESS_ON)
		fprintf(f, "  compression %s: %.1f MiB of the stream sent compressed into %.1f MiB "
			"(%.2fx), in %u of %u measured windows\n", migr_compress_name(r->compress),
			mib(r->compressed_bytes), mib(r->compressed_bytes - r->compress_saved_bytes),
			r->compressed_bytes > r->compress_saved_bytes ? (double)r->compressed_bytes /
			(double)(r->compressed_bytes - r->compress_saved_bytes) : 0.0,
			r->compress_on_windows, r->compress_windows);
	if (r->throttle_max_pct)
		fprintf(f, "  throttled: the guest was slowed by up to %u%% (its CPU cap) during "
			"pre-copy\n", r->throttle_max_pct);
	if (r->cpu_paced_us)
		fprintf(f, "  CPU share: the sender waited %.1f s in all to keep to it\n",
			r->cpu_paced_us / 1e6);
	if (r->guard_looks && r->cpu_share_min_pct)
		fprintf(f, "  guest CPU: %u%% of a CPU before the pre-copy, %u%% during it; the CPU "
			"guard lowered the sender's share to %u%%\n", r->guest_cpu_before_pct,
			r->guest_cpu_precopy_pct, r->cpu_share_min_pct);
	else if (r->guard_looks)
		fprintf(f, "  guest CPU: %u%% of a CPU before the pre-copy, %u%% during it\n",
			r->guest_cpu_before_pct, r->guest_cpu_precopy_pct);
	if (r->devices_us)
		snprintf(devs, sizeof(devs), "device set-up %.1f", ms(r->devices_us));
	else
		snprintf(devs, sizeof(devs), "no device set-up in it reported by the target");
	if (r->restore_hint_us)
		snprintf(pred, sizeof(pred), "predicted %.1f, with the target's recent restore "
			 "tail and unpause %.1f", ms(r->predicted_blackout_us), ms(r->restore_hint_us));
	else if (r->own_hint_us)
		snprintf(pred, sizeof(pred), "predicted %.1f, with this host's recent fixed part "
			 "%.1f (the target gave none)", ms(r->predicted_blackout_us), ms(r->own_hint_us));
	else if (r->restore_estimate_us)
		snprintf(pred, sizeof(pred), "predicted %.1f, with %s estimate of the restore tail "
			 "and unpause %.1f (no restore measured yet)", ms(r->predicted_blackout_us),
			 r->fixed_restore_from == MIGR_FIXED_TARGET_ESTIMATE ? "the target's" :
			 "this host's", ms(r->restore_estimate_us));
	else
		snprintf(pred, sizeof(pred), "predicted %.1f", ms(r->predicted_blackout_us));
	if (r->blackout_us)
		fprintf(f, "  blackout %.1f ms (%s): suspend %.1f, final send %.1f, "
			"restore tail %.1f (%s), handshake %.1f, unpause %.1f\n",
			ms(r->blackout_us), pred, ms(r->suspend_us),
			ms(r->final_send_us), ms(r->restore_tail_us), devs,
			ms(r->handshake_us), ms(r->unpause_us));
	if (r->blackout_us && r->predicted_blackout_us)
		fprintf(f, "  predicted against measured: %.1f ms against %.1f ms, error %+.1f ms "
			"(%+.0f%%); fixed part %.1f ms: suspend %.1f (%s), final send beyond its pages "
			"%.1f (%s), handshake %.1f (%s), restore tail and unpause %.1f (%s)\n", ms(r->predicted_blackout_us),
			ms(r->blackout_us),
			r->blackout_error_us / 1000.0,
			100.0 * (double)r->blackout_error_us / (double)r->predicted_blackout_us,
			ms(r->fixed_us), ms(r->fixed_suspend_us),
			migr_fixed_from_name(r->fixed_suspend_from), ms(r->fixed_final_us),
			migr_fixed_from_name(r->fixed_final_from), ms(r->fixed_handshake_us),
			migr_fixed_from_name(r->fixed_handshake_from), ms(r->fixed_restore_us),
			migr_fixed_from_name(r->fixed_restore_from));
	if (r->blackout_us && r->vifs && r->vifs_connected == r->vifs && r->first_frame_us)
		fprintf(f, "  network back %.1f ms after the unpause (the guest's %u vif%s connected "
			"again on the target), its first frame%s after %.1f ms\n", ms(r->net_back_us),
			r->vifs, r->vifs == 1 ? "" : "s", r->vifs == 1 ? "" : "s on each",
			ms(r->first_frame_us));
	else if (r->blackout_us && r->vifs && r->vifs_connected == r->vifs)
		fprintf(f, "  network back %.1f ms after the unpause (the guest's %u vif%s connected "
			"again on the target; no frame from the guest on %s within 2 s)\n",
			ms(r->net_back_us), r->vifs, r->vifs == 1 ? "" : "s",
			r->vifs == 1 ? "it" : "every one");
	else if (r->blackout_us && r->vifs)
		fprintf(f, "  network back: only %u of the guest's %u vifs connected again within "
			"10 s of the unpause\n", r->vifs_connected, r->vifs);
	fprintf(f, "  %s\n", r->state_text);
}

void migcli_print_json_result(FILE *f, const struct migr_result *r, int rc)
{
	char net_back[32] = "null";   /* not reported, or not every vif came back */
	char first_frame[32] = "null";

	if (r->vifs && r->vifs_connected == r->vifs)
		snprintf(net_back, sizeof(net_back), "%.1f", ms(r->net_back_us));
	if (r->vifs && r->vifs_connected == r->vifs && r->first_frame_us)
		snprintf(first_frame, sizeof(first_frame), "%.1f", ms(r->first_frame_us));
	fprintf(f, "{\"event\":\"result\",\"id\":\"%s\",\"name\":\"%s\",\"type\":\"%s\","
		"\"outcome\":\"%s\",\"phase\":\"%s\",\"exit\":%d,\"rounds\":%u,"
		"\"guest_pages\":%llu,\"pages_live\":%llu,\"stream_bytes\":%llu,\"wire_bytes\":%llu,"
		"\"zero_bytes\":%llu,\"compressed_bytes\":%llu,\"compress_saved_bytes\":%llu,"
		"\"compress\":\"%s\",\"throttle_max_pct\":%u,\"cpu_paced_ms\":%.1f,"
		"\"cpu_share_min_pct\":%u,\"guest_cpu_before_pct\":%u,"
		"\"guest_cpu_precopy_pct\":%u,\"guard_looks\":%u,"
		"\"total_ms\":%.1f,\"precopy_ms\":%.1f,\"blackout_ms\":%.1f,\"blackout_start_unix_ms\":%.3f,"
		"\"predicted_blackout_ms\":%.1f,\"restore_hint_ms\":%.1f,\"own_hint_ms\":%.1f,"
		"\"restore_estimate_ms\":%.1f,\"fixed_ms\":%.1f,\"fixed_suspend_ms\":%.1f,"
		"\"fixed_suspend_from\":\"%s\",\"fixed_final_ms\":%.1f,\"fixed_final_from\":\"%s\","
		"\"fixed_handshake_ms\":%.1f,\"fixed_handshake_from\":\"%s\","
		"\"fixed_restore_ms\":%.1f,\"fixed_restore_from\":\"%s\","
		"\"blackout_error_ms\":%.1f,"
		"\"suspend_ms\":%.1f,"
		"\"final_send_ms\":%.1f,"
		"\"restore_tail_ms\":%.1f,\"devices_ms\":%.1f,\"handshake_ms\":%.1f,"
		"\"unpause_ms\":%.1f,\"net_back_ms\":%s,\"first_frame_ms\":%s,\"vifs\":%u,"
		"\"vifs_connected\":%u,\"dst_domid\":%u}\n",
		r->id, r->name, migr_guest_type_name(r->type),
		rc == 0 ? "done" : rc == -MIGR_E_UNDECIDED ? "undecided" :
		r->phase == MIGR_PHASE_FAILED ? "failed" : "aborted",
		migr_phase_name(r->phase), migcli_exit_status(rc), r->rounds,
		(unsigned long long)r->guest_pages, (unsigned long long)r->pages_live,
		(unsigned long long)r->stream_bytes, (unsigned long long)r->wire_bytes,
		(unsigned long long)r->zero_bytes, (unsigned long long)r->compressed_bytes,
		(unsigned long long)r->compress_saved_bytes, migr_compress_name(r->compress),
		r->throttle_max_pct, ms(r->cpu_paced_us), r->cpu_share_min_pct,
		r->guest_cpu_before_pct, r->guest_cpu_precopy_pct, r->guard_looks,
		ms(r->total_us), ms(r->precopy_us), ms(r->blackout_us),
		r->blackout_start_unix_us / 1000.0,
		ms(r->predicted_blackout_us), ms(r->restore_hint_us), ms(r->own_hint_us),
		ms(r->restore_estimate_us), ms(r->fixed_us), ms(r->fixed_suspend_us),
		migr_fixed_from_name(r->fixed_suspend_from), ms(r->fixed_final_us),
		migr_fixed_from_name(r->fixed_final_from), ms(r->fixed_handshake_us),
		migr_fixed_from_name(r->fixed_handshake_from), ms(r->fixed_restore_us),
		migr_fixed_from_name(r->fixed_restore_from),
		r->blackout_us ? r->blackout_error_us / 1000.0 : 0.0, ms(r->suspend_us),
		ms(r->final_send_us), ms(r->restore_tail_us), ms(r->devices_us), ms(r->handshake_us), ms(r->unpause_us),
		net_back, first_frame, r->vifs, r->vifs_connected, r->dst_domid);
	fflush(f);
}

int migcli_exit_status(int rc)
{
	if (rc == 0)
		return EXIT_OK;
	if (rc == -MIGR_E_ABORTED || rc == -MIGR_E_UNSUPPORTED)
		return EXIT_ABORTED;
	if (rc == -MIGR_E_UNDECIDED)
		return EXIT_UNDECIDED;
	return EXIT_FAILED;
}

int migcli_faults(const char *who, struct migr_fault_set *fs)
{
	const char *spec = getenv("MIGR_FAULT");
	char err[160];

	memset(fs, 0, sizeof(*fs));
	if (!spec || !spec[0])
		return 0;
	if (migr_fault_parse(spec, fs, err, sizeof(err))) {
		fprintf(stderr, "%s: MIGR_FAULT: %s\n", who, err);
		return -1;
	}
	return 0;
}

void migcli_forwarding(const char *id, bool target, const struct migr_fwd_summary *now,
		       bool json, bool quiet)
{
	struct migr_fwd_summary fin = *now;

	if (now->state == MIGR_FWDS_RUNNING) {
		if (!quiet && !json)
			fprintf(stderr, "  forwarding: %llu frame(s) %s so far; waiting until the "
				"fabric has rerouted\n", (unsigned long long)now->packets,
				target ? "delivered" : "forwarded");
		if (migr_fwd_wait(id, target, 0, &fin))
			fin = *now;
	}
	if (json) {
		printf("{\"event\":\"forwarding\",\"id\":\"%s\",\"side\":\"%s\","
		       "\"state\":\"%s\",\"why\":\"%s\",\"nics\":%u,\"packets\":%llu,"
		       "\"hold\":%d,\"held_packets\":%llu,\"hold_dropped\":%llu,"
		       "\"end\":\"%s\",\"elapsed_ms\":%u}\n", id, target ? "target" : "source",
		       migr_fwd_state_name(fin.state), fin.why, fin.nics,
		       (unsigned long long)fin.packets, fin.hold,
		       (unsigned long long)fin.held_packets, (unsigned long long)fin.hold_dropped,
		       fin.state == MIGR_FWDS_ENDED ? migr_fwd_end_name((enum migr_fwd_end)fin.end) : "",
		       fin.elapsed_ms);
		fflush(stdout);
	}
	if (quiet)
		return;
	if (fin.state == MIGR_FWDS_ENDED && fin.end && target)
		fprintf(stderr, "  forwarding: %llu frame(s) delivered to %u vif(s); ended (%s) "
			"after %.1f s\n", (unsigned long long)fin.packets, fin.nics,
			migr_fwd_end_name((enum migr_fwd_end)fin.end), fin.elapsed_ms / 1000.0);
	else if (fin.state == MIGR_FWDS_ENDED && fin.end)
		fprintf(stderr, "  forwarding: %llu frame(s) forwarded for %u NIC(s); %s; ended "
			"(%s) after %.1f s\n", (unsigned long long)fin.packets, fin.nics,
			fin.hold == MIGR_FWD_HOLD_RELEASED ? "held until the guest's vifs were "
			"connected on the target" : fin.hold == MIGR_FWD_HOLD_UNAVAILABLE ?
			"no hold (no sch_plug here)" : "no hold",
			migr_fwd_end_name((enum migr_fwd_end)fin.end), fin.elapsed_ms / 1000.0);
	if (fin.state == MIGR_FWDS_ENDED && fin.hold == MIGR_FWD_HOLD_RELEASED)
		fprintf(stderr, "  forwarding: the hold let out %llu frame(s) in order, dropped "
			"%llu over its cap\n", (unsigned long long)fin.held_packets,
			(unsigned long long)fin.hold_dropped);
	else if (fin.state == MIGR_FWDS_FAILED || fin.why[0])
		fprintf(stderr, "  forwarding: %s: %s\n", migr_fwd_state_name(fin.state),
			fin.why[0] ? fin.why : "-");
}
