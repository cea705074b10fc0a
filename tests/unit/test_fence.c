/*
 * test_fence.c: the decisions of the commit fenced by etcd (libmigr/fence.c) over the
 * in-memory etcd: the source's read (absent, ours, another host's, etcd down), its swap
 * at GO (won; lost to another writer; etcd down: a clean back-out; an answer lost after
 * the swap applied: won; an unanswered swap that never applied: fenced off by a swap
 * back, then a back-out; nothing known: undecided), the target's check (unpause only on
 * its own name with this migration's id, never when etcd cannot be read), and the key's
 * return after a target gave up, and resolve's give-back before a copy resumes.
 */
#include <errno.h>
#include <stdlib.h>

#include "unit.h"

static const uint8_t uuid[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };
static const char *id = "00112233445566778899aabbccddeeff";
static char key[MIGR_ETCD_KEY_MAX];

static bool key_says(struct migr_etcd_fake *f, const char *host, const char *mig)
{
	char *v = migr_etcd_fake_value(f, key);
	struct migr_etcd_location l;
	bool ok = v && !migr_etcd_location_parse(v, strlen(v), &l) && !strcmp(l.host, host) &&
		  !strcmp(l.migration, mig);

	free(v);
	return ok;
}

static void set_key(struct migr_etcd_fake *f, const char *host)
{
	struct migr_etcd_location l = { 0 };
	char *json;
	size_t len;

	snprintf(l.host, sizeof(l.host), "%s", host);
	if (migr_etcd_location_encode(&l, &json, &len) == 0) {
		CHECK_EQ(migr_etcd_put(&f->e, key, json, len, 0), 0);
		free(json);
	}
}

static struct migr_etcd_fake *fresh(void)
{
	struct migr_etcd_fake *f = NULL;

	CHECK_EQ(migr_etcd_fake_new(&f), 0);
	return f;
}

static void test_won(void)
{
	struct migr_etcd_fake *f = fresh();
	struct migr_fence fe;
	unsigned int gets;

	/* no key yet: the swap creates it */
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), 0);
	CHECK_EQ(fe.rev, 0);
	gets = f->gets;
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), 0);
	CHECK(key_says(f, "b", id));
	CHECK_EQ(f->gets, gets);           /* the swap is one call, nothing read */
	CHECK_EQ(f->cas_calls, 1);
	CHECK_EQ(migr_fence_check(&f->e, uuid, "b", id, NULL), 0);
	CHECK_EQ(migr_fence_check(&f->e, uuid, "b", "ffffffffffffffffffffffffffffffff", NULL),
		 -EPERM);
	CHECK_EQ(migr_fence_check(&f->e, uuid, "c", id, NULL), -EPERM);
	/* B moves it on: A's read now says it is not A's */
	{
		struct migr_fence fb;
		CHECK_EQ(migr_fence_read(&f->e, uuid, "b", &fb, NULL), 0);
		CHECK(fb.rev > 0);
		CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fb, NULL), -EPERM);
	}
	migr_etcd_close(&f->e);
}

static void test_refused(void)
{
	struct migr_etcd_fake *f = fresh();
	struct migr_fence fe;

	set_key(f, "c");
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), -EPERM);
	migr_etcd_fake_set_down(f, true);
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), -ECONNREFUSED);
	migr_etcd_close(&f->e);
}

static void test_backout(void)
{
	struct migr_etcd_fake *f = fresh();
	struct migr_fence fe;

	set_key(f, "a");
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), 0);
	/* etcd unreachable at GO: the key is unchanged, back out */
	migr_etcd_fake_set_down(f, true);
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), -MIGR_E_ABORTED);
	migr_etcd_fake_set_down(f, false);
	CHECK(key_says(f, "a", ""));
	CHECK_EQ(migr_fence_check(&f->e, uuid, "b", id, NULL), -EPERM);
	/* someone wrote the key after the read: lost, back out, the key is theirs */
	set_key(f, "c");
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), -MIGR_E_ABORTED);
	CHECK(key_says(f, "c", ""));
	migr_etcd_close(&f->e);
}

static void test_unknown(void)
{
	struct migr_etcd_fake *f = fresh();
	struct migr_fence fe;

	/* the swap applied, its answer lost: the swap back loses to it, so the swap won */
	set_key(f, "a");
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), 0);
	f->lost_answers = 1;
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), 0);
	CHECK(key_says(f, "b", id));
	CHECK_EQ(migr_fence_check(&f->e, uuid, "b", id, NULL), 0);

	/* unanswered and never applied: the swap back wins and fences it off */
	set_key(f, "a");
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), 0);
	f->timeouts = 1;
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), -MIGR_E_ABORTED);
	CHECK(key_says(f, "a", ""));
	{
		/* the first swap, arriving late, cannot apply any more */
		struct migr_etcd_location l = { .host = "b" };
		char *json;
		size_t len;
		bool won = true;

		snprintf(l.migration, sizeof(l.migration), "%s", id);
		CHECK_EQ(migr_etcd_location_encode(&l, &json, &len), 0);
		CHECK_EQ(migr_etcd_cas(&f->e, key, fe.rev, json, len, 0, &won, NULL), 0);
		CHECK(!won);
		free(json);
	}
	CHECK_EQ(migr_fence_check(&f->e, uuid, "b", id, NULL), -EPERM);

	/* unanswered, and etcd cannot say: undecided, nothing resumed */
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), 0);
	f->timeouts = 2;
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), -MIGR_E_UNDECIDED);
	migr_etcd_close(&f->e);
}

static void test_target_cut_off(void)
{
	struct migr_etcd_fake *f = fresh();
	struct migr_fence fe;

	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), 0);
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), 0);
	/* the target cannot read the key: it never unpauses */
	migr_etcd_fake_set_down(f, true);
	CHECK_EQ(migr_fence_check(&f->e, uuid, "b", id, NULL), -ECONNREFUSED);
	/* ... and the source, cut off too, cannot take the key back: it stays suspended */
	CHECK_EQ(migr_fence_return(&f->e, &fe, "a", NULL), -MIGR_E_UNDECIDED);
	CHECK(key_says(f, "b", id));
	migr_etcd_fake_set_down(f, false);
	/* once etcd answers, the key comes back and the source may resume */
	CHECK_EQ(migr_fence_return(&f->e, &fe, "a", NULL), 0);
	CHECK(key_says(f, "a", ""));
	CHECK_EQ(migr_fence_check(&f->e, uuid, "b", id, NULL), -EPERM);
	/* a return whose answer was lost is read back */
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), 0);
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), 0);
	f->lost_answers = 1;
	CHECK_EQ(migr_fence_return(&f->e, &fe, "a", NULL), 0);
	CHECK(key_says(f, "a", ""));
	migr_etcd_close(&f->e);
}

/* Resolve's give-back before a copy resumes: nothing to do when the key is absent or
 * names the source; swapped back when it names the target by this migration; kept (and
 * the copy suspended) when another migration's value is there or etcd cannot be read. */
static void test_reclaim(void)
{
	struct migr_etcd_fake *f = fresh();
	struct migr_fence fe;

	CHECK_EQ(migr_fence_reclaim(&f->e, uuid, "a", id, NULL), 0);   /* absent */
	CHECK_EQ(f->cas_calls, 0);
	set_key(f, "a");
	CHECK_EQ(migr_fence_reclaim(&f->e, uuid, "a", id, NULL), 0);   /* ours */
	CHECK_EQ(f->cas_calls, 0);
	CHECK_EQ(migr_fence_read(&f->e, uuid, "a", &fe, NULL), 0);
	CHECK_EQ(migr_fence_swap(&f->e, &fe, "a", "b", id, NULL), 0);
	CHECK(key_says(f, "b", id));
	migr_etcd_fake_set_down(f, true);
	CHECK_EQ(migr_fence_reclaim(&f->e, uuid, "a", id, NULL), -MIGR_E_UNDECIDED);
	migr_etcd_fake_set_down(f, false);
	CHECK(key_says(f, "b", id));
	CHECK_EQ(migr_fence_reclaim(&f->e, uuid, "a", "ffeeddccbbaa99887766554433221100", NULL),
		 -MIGR_E_UNDECIDED);                                     /* not this migration */
	CHECK(key_says(f, "b", id));
	CHECK_EQ(migr_fence_reclaim(&f->e, uuid, "a", id, NULL), 0);    /* given back */
	CHECK(key_says(f, "a", ""));
	migr_etcd_close(&f->e);
}

int main(void)
{
	CHECK_EQ(migr_etcd_location_key(uuid, key, sizeof(key)), 0);
	test_won();
	test_refused();
	test_backout();
	test_unknown();
	test_target_cut_off();
	test_reclaim();
	return unit_done("test_fence");
}
