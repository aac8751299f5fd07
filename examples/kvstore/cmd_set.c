/*
 * cmd_set.c -- nvkv-server's set commands: SADD, SREM, SISMEMBER,
 * SMISMEMBER, SCARD, SMEMBERS, SSCAN, SPOP, SRANDMEMBER, SMOVE, SINTER,
 * SINTERCARD, SUNION, SDIFF and the *STORE forms, with redis 7.0's
 * replies and errors (tests/server/diff/set.txt compares them with
 * redis-server; member listings are compared sorted, as redis's own
 * order is its hash table's).  Each command is one transaction, however
 * many members it writes; each write marks its keys changed for WATCH.
 * The structure is coll.c's.
 *
 * The algebra (SINTER, SUNION, SDIFF) copies members into DRAM first:
 * a *STORE may overwrite one of its sources.  The random picks (SPOP,
 * SRANDMEMBER) descend the set's B-tree once per member picked, O(log
 * members) each, when they are few next to the set; more of them list
 * the set (O(members), as their reply).
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

/* ---- members copied to DRAM ---- */

struct mem {
	size_t l;
	char d[];
};

struct mlist {
	struct mem **m;
	size_t n, cap;
};

/* Room for one more member: 0, or -ENOMEM */
static int
mlist_grow(struct mlist *L)
{
	if (L->n < L->cap)
		return 0;
	size_t cap = L->cap ? 2 * L->cap : 64;
	struct mem **a = realloc(L->m, cap * sizeof(*a));
	if (!a)
		return -ENOMEM;
	L->m = a;
	L->cap = cap;
	return 0;
}

static int
mlist_add(struct mlist *L, const void *p, size_t l)
{
	if (mlist_grow(L))
		return -ENOMEM;
	struct mem *e = malloc(sizeof(*e) + l);
	if (!e)
		return -ENOMEM;
	e->l = l;
	if (l)
		memcpy(e->d, p, l);
	L->m[L->n++] = e;
	return 0;
}

/* kv_fn: copy a member */
static int
mcopy(void *arg, const void *k, size_t kl, const void *v, size_t vl)
{
	(void)v;
	(void)vl;
	return mlist_add(arg, k, kl);
}

static void
mlist_free(struct mlist *L)
{
	for (size_t i = 0; i < L->n; i++)
		free(L->m[i]);
	free(L->m);
	*L = (struct mlist){0};
}

static int
mem_cmp(const void *a, const void *b)
{
	const struct mem *x = *(struct mem *const *)a;
	const struct mem *y = *(struct mem *const *)b;
	int r = memcmp(x->d, y->d, x->l < y->l ? x->l : y->l);
	return r ? r : (x->l > y->l) - (x->l < y->l);
}

/* Members in byte order, each once. */
static void
mlist_uniq(struct mlist *L)
{
	if (L->n < 2)
		return;
	qsort(L->m, L->n, sizeof(*L->m), mem_cmp);
	size_t j = 1;
	for (size_t i = 1; i < L->n; i++) {
		if (mem_cmp(&L->m[i], &L->m[j - 1]) == 0)
			free(L->m[i]);
		else
			L->m[j++] = L->m[i];
	}
	L->n = j;
}

/* Set k's members into L; an absent key adds none.  0, or the error
 * (not replied). */
static int
mlist_read(struct conn *c, const char *k, size_t kl, struct mlist *L)
{
	return kv_smembers(c->s->kv, k, kl, mcopy, L);
}

static void
reply_mlist(struct conn *c, const struct mlist *L)
{
	resp_array(&c->out, (long long)L->n);
	for (size_t i = 0; i < L->n; i++)
		resp_bulk(&c->out, L->m[i]->d, L->m[i]->l);
}

/* ---- one set ---- */

/* 1 if member m was added (or removed), 0 if it was there (or not), < 0 */
static int
sadd_one(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml)
{
	int added;
	int rc = kv_sadd(kv, k, kl, m, ml, &added);
	return rc ? rc : added;
}

static int
srem_one(struct kv *kv, const void *k, size_t kl, const void *m, size_t ml)
{
	int rc = kv_srem(kv, k, kl, m, ml);
	return rc == 0 ? 1 : rc == -ENOENT ? 0 : rc;
}

/* SADD key member [member ...]: the members that were new */
void
c_sadd(struct conn *c, const struct resp_cmd *q)
{
	count_writes(c, q, sadd_one);
}

/* SREM key member [member ...]: the members that were there */
void
c_srem(struct conn *c, const struct resp_cmd *q)
{
	count_writes(c, q, srem_one);
}

/* 1 if argument i is a member of the set, 0 if not, -1 with the error
 * replied. */
static int
is_member(struct conn *c, const struct resp_cmd *q, int i)
{
	int rc = kv_sismember(c->s->kv, q->argv[1], q->argl[1], q->argv[i],
			      q->argl[i]);
	if (rc == 0 || rc == -ENOENT)
		return rc == 0;
	kv_error(&c->out, rc);
	return -1;
}

void
c_sismember(struct conn *c, const struct resp_cmd *q)
{
	int r = is_member(c, q, 2);
	if (r >= 0)
		resp_int(&c->out, r);
}

/* SMISMEMBER key member [member ...]: an array of 0 and 1 */
void
c_smismember(struct conn *c, const struct resp_cmd *q)
{
	if (key_kind(c, q->argv[1], q->argl[1], KV_T_SET) < 0)
		return;
	struct resp_buf b = {0};
	for (int i = 2; i < q->argc; i++) {
		int rc = kv_sismember(c->s->kv, q->argv[1], q->argl[1],
				      q->argv[i], q->argl[i]);
		if (rc && rc != -ENOENT) {
			resp_buf_free(&b);
			kv_error(&c->out, rc);
			return;
		}
		resp_int(&b, rc == 0);
	}
	reply_collected(c, &b, q->argc - 2);
}

void
c_scard(struct conn *c, const struct resp_cmd *q)
{
	uint64_t n;
	int rc = kv_scard(c->s->kv, q->argv[1], q->argl[1], &n);
	if (rc)
		kv_error(&c->out, rc);
	else
		resp_int(&c->out, (long long)n);
}

void
c_smembers(struct conn *c, const struct resp_cmd *q)
{
	struct hcollect h = {.keys = 1};
	reply_scan(c, q, kv_smembers, &h);
}

/* Move a random member of L[i..] to L[i] (a partial Fisher-Yates
 * shuffle: L[0..i] are then distinct picks). */
static void
pick(struct mlist *L, size_t i)
{
	size_t j = i + rnd64() % (L->n - i);
	struct mem *t = L->m[i];
	L->m[i] = L->m[j];
	L->m[j] = t;
}

/* SPOP picks by descents (coll_picks) rather than from a listing when
 * its count is at most a fifth of the set (redis switches at the same
 * ratio): a listing costs O(members), a pick O(log members). */
#define SPOP_PICK_MUL 5

/* SPOP key [count]: without a count one member (nil if none), with one
 * an array of up to count distinct members (a count covering the set
 * takes all of it, and the key) */
void
c_spop(struct conn *c, const struct resp_cmd *q)
{
	long long count = 1;
	int has_count = q->argc == 3;
	if (q->argc > 3) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	if (has_count && (resp_strtoll(q->argv[2], q->argl[2], &count) ||
			  count < 0)) {
		resp_error(&c->out, "ERR value is out of range, must be "
			   "positive");
		return;
	}
	int kind = key_kind(c, q->argv[1], q->argl[1], KV_T_SET);
	if (kind < 0)
		return;
	if (!kind || count == 0) {
		if (has_count)
			resp_array(&c->out, 0);
		else
			resp_null(&c->out);
		return;
	}
	struct kv *kv = c->s->kv;
	uint64_t n;
	int rc = kv_scard(kv, q->argv[1], q->argl[1], &n);
	if (rc) {
		kv_error(&c->out, rc);
		return;
	}
	size_t want = (uint64_t)count < n ? (size_t)count : (size_t)n;
	int by_picks = want < n && want <= n / SPOP_PICK_MUL;
	struct mlist L = {0};
	if (!by_picks && (rc = mlist_read(c, q->argv[1], q->argl[1], &L))) {
		mlist_free(&L);
		coll_read_error(c, rc);
		return;
	}
	nvh_tx *tx = cmd_tx(c);
	if (!tx) {
		mlist_free(&L);
		return;
	}
	if (by_picks) { /* one member at a time, each removed at once */
		for (size_t i = 0; i < want && !rc; i++) {
			rc = coll_picks(kv, kv_srandom, q->argv[1], q->argl[1],
					1, 0, mcopy, &L);
			if (rc == -EAGAIN) /* only damaged entries met */
				rc = -EIO;
			if (!rc)
				rc = kv_srem(kv, q->argv[1], q->argl[1],
					     L.m[i]->d, L.m[i]->l);
		}
	} else if (want == L.n) { /* all of it: the key goes in one step */
		rc = kv_del(kv, q->argv[1], q->argl[1]);
	} else {
		for (size_t i = 0; i < want && !rc; i++) {
			pick(&L, i);
			rc = kv_srem(kv, q->argv[1], q->argl[1], L.m[i]->d,
				     L.m[i]->l);
		}
	}
	if (cmd_tx_end(c, tx, rc)) {
		mlist_free(&L);
		return;
	}
	touched(c->s, q->argv[1], q->argl[1]);
	if (!has_count) {
		resp_bulk(&c->out, L.m[0]->d, L.m[0]->l);
	} else {
		resp_array(&c->out, (long long)want);
		for (size_t i = 0; i < want; i++)
			resp_bulk(&c->out, L.m[i]->d, L.m[i]->l);
	}
	mlist_free(&L);
}

/* SRANDMEMBER key [count]: as HRANDFIELD, a count >= 0 gives distinct
 * members (all if it is larger), a negative one -count that may repeat */
void
c_srandmember(struct conn *c, const struct resp_cmd *q)
{
	long long count;
	int has_count, none;
	if (parse_rand_args(c, q, NULL, &count, &has_count, &none) ||
	    rand_by_picks(c, q, kv_srandom, kv_scard, count, has_count, 0))
		return;
	struct mlist L = {0};
	int rc = mlist_read(c, q->argv[1], q->argl[1], &L);
	if (rc) {
		mlist_free(&L);
		coll_read_error(c, rc);
		return;
	}
	if (!has_count) {
		if (!L.n) {
			resp_null(&c->out);
		} else {
			struct mem *m = L.m[rnd64() % L.n];
			resp_bulk(&c->out, m->d, m->l);
		}
		mlist_free(&L);
		return;
	}
	size_t want = !L.n ? 0 : count < 0 ? (size_t)-count
		      : (size_t)count < L.n ? (size_t)count : L.n;
	resp_array(&c->out, (long long)want);
	for (size_t i = 0; i < want; i++) {
		struct mem *m;
		if (count >= 0) {
			pick(&L, i);
			m = L.m[i];
		} else {
			m = L.m[rnd64() % L.n];
		}
		resp_bulk(&c->out, m->d, m->l);
	}
	mlist_free(&L);
}

/* SMOVE source destination member: 1 if moved (or already in source ==
 * destination), 0 if source has no such member */
void
c_smove(struct conn *c, const struct resp_cmd *q)
{
	int src = key_kind(c, q->argv[1], q->argl[1], KV_T_SET);
	if (src <= 0) {
		if (src == 0)
			resp_int(&c->out, 0);
		return;
	}
	if (key_kind(c, q->argv[2], q->argl[2], KV_T_SET) < 0)
		return;
	int r = is_member(c, q, 3);
	if (r <= 0) {
		if (r == 0)
			resp_int(&c->out, 0);
		return;
	}
	if (q->argl[1] == q->argl[2] &&
	    !memcmp(q->argv[1], q->argv[2], q->argl[1])) {
		resp_int(&c->out, 1);
		return;
	}
	nvh_tx *tx = cmd_tx(c);
	if (!tx)
		return;
	int added;
	int rc = kv_srem(c->s->kv, q->argv[1], q->argl[1], q->argv[3],
			 q->argl[3]);
	if (!rc)
		rc = kv_sadd(c->s->kv, q->argv[2], q->argl[2], q->argv[3],
			     q->argl[3], &added);
	if (cmd_tx_end(c, tx, rc))
		return;
	touched(c->s, q->argv[1], q->argl[1]);
	touched(c->s, q->argv[2], q->argl[2]);
	resp_int(&c->out, 1);
}

/* ---- the algebra ---- */

enum setop { OP_INTER, OP_UNION, OP_DIFF };

/* The keys' sets combined into L (in byte order for a union, else in
 * the first or smallest set's order); an intersection stops at limit
 * members (0: no limit).  0, or -1 with the error replied.  Every key's type is
 * checked first, as redis does. */
static int
setop(struct conn *c, enum setop op, const char *const *k,
      const size_t *kl, int nk, size_t limit, struct mlist *L)
{
	int smallest = -1, empty = 0;
	uint64_t least = UINT64_MAX;
	for (int i = 0; i < nk; i++) {
		int kind = key_kind(c, k[i], kl[i], KV_T_SET);
		if (kind < 0)
			return -1;
		uint64_t n = 0;
		if (kind) {
			int rc = kv_scard(c->s->kv, k[i], kl[i], &n);
			if (rc) {
				kv_error(&c->out, rc);
				return -1;
			}
		}
		if (!n)
			empty = 1;
		if (n < least) {
			least = n;
			smallest = i;
		}
	}
	int rc = 0;
	if (op == OP_UNION) {
		for (int i = 0; i < nk && !rc; i++)
			rc = mlist_read(c, k[i], kl[i], L);
		if (!rc)
			mlist_uniq(L);
	} else if (op == OP_INTER ? !empty : 1) {
		int base = op == OP_INTER ? smallest : 0;
		struct mlist all = {0};
		rc = mlist_read(c, k[base], kl[base], &all);
		for (size_t j = 0; j < all.n && !rc; j++) {
			int keep = 1;
			for (int i = 0; i < nk && keep && !rc; i++) {
				if (i == base)
					continue;
				int r = kv_sismember(c->s->kv, k[i], kl[i],
						     all.m[j]->d,
						     all.m[j]->l);
				if (r && r != -ENOENT)
					rc = r;
				else if (op == OP_INTER ? r != 0 : r == 0)
					keep = 0;
			}
			if (rc)
				break;
			if (keep) {
				if ((rc = mlist_grow(L)))
					break;
				L->m[L->n++] = all.m[j];
				all.m[j] = NULL;
				if (limit && L->n >= limit)
					break;
			}
		}
		mlist_free(&all);
	}
	if (rc) {
		coll_read_error(c, rc);
		return -1;
	}
	return 0;
}

/* Replace key d with L's members as a set (none: d is deleted), in the
 * command's transaction: 0, or -1 with the error replied. */
static int
store(struct conn *c, const char *d, size_t dl, const struct mlist *L)
{
	nvh_tx *tx;
	int existed, rc = store_begin(c, d, dl, &tx, &existed);
	if (rc < 0 && !tx)
		return -1;
	for (size_t i = 0; i < L->n && !rc; i++) {
		int added;
		rc = kv_sadd(c->s->kv, d, dl, L->m[i]->d, L->m[i]->l, &added);
	}
	return store_end(c, tx, rc, d, dl, existed || L->n);
}

/* SINTER/SUNION/SDIFF key [key ...]; SINTERSTORE/SUNIONSTORE/SDIFFSTORE
 * destination key [key ...] */
void
c_setop(struct conn *c, const struct resp_cmd *q)
{
	enum setop op = argis(q, 0, "SINTER") || argis(q, 0, "SINTERSTORE")
			? OP_INTER : argis(q, 0, "SUNION") ||
			argis(q, 0, "SUNIONSTORE") ? OP_UNION : OP_DIFF;
	int st = q->argl[0] > 6 ? 1 : 0; /* the *STORE forms */
	struct mlist L = {0};
	if (setop(c, op, q->argv + 1 + st, q->argl + 1 + st,
		  q->argc - 1 - st, 0, &L)) {
		mlist_free(&L);
		return;
	}
	if (st) {
		if (!store(c, q->argv[1], q->argl[1], &L))
			resp_int(&c->out, (long long)L.n);
	} else {
		reply_mlist(c, &L);
	}
	mlist_free(&L);
}

/* SINTERCARD numkeys key [key ...] [LIMIT limit] */
void
c_sintercard(struct conn *c, const struct resp_cmd *q)
{
	long long nk, limit = 0;
	if (resp_strtoll(q->argv[1], q->argl[1], &nk) || nk <= 0) {
		resp_error(&c->out, "ERR numkeys should be greater than 0");
		return;
	}
	if (nk > q->argc - 2) {
		resp_error(&c->out, "ERR Number of keys can't be greater than "
			   "number of args");
		return;
	}
	for (int i = 2 + (int)nk; i < q->argc; i += 2) {
		if (!argis(q, i, "LIMIT") || i + 1 >= q->argc) {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
		if (resp_strtoll(q->argv[i + 1], q->argl[i + 1], &limit) ||
		    limit < 0) {
			resp_error(&c->out, "ERR LIMIT can't be negative");
			return;
		}
	}
	struct mlist L = {0};
	if (!setop(c, OP_INTER, q->argv + 2, q->argl + 2, (int)nk,
		   (size_t)limit, &L))
		resp_int(&c->out, (long long)L.n);
	mlist_free(&L);
}
