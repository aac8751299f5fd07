/*
 * cmd.h -- what nvkv-server's command files share, and nothing else
 * includes: the handlers (for cmd_table.c), WATCH's record, and the
 * helpers more than one of them uses, grouped by the file that defines
 * them.
 *
 *   cmd_strings.c   GET, the SET family, counters, APPEND, MGET/MSET, ranges
 *   cmd_hash.c      the hash commands (HSET ...)
 *   cmd_list.c      the list commands (LPUSH ...)
 *   cmd_set.c       the set commands (SADD ...)
 *   cmd_zset.c      the sorted set commands (ZADD ...)
 *   cmd_coll.c      what the collection commands share (HSCAN ...)
 *   cmd_expire.c    expiry arguments, EXPIRE/TTL/PERSIST, active expiry
 *   cmd_keyspace.c  TYPE, DEL, EXISTS, DBSIZE, KEYS/SCAN, FLUSHALL, RENAME
 *   cmd_multi.c     MULTI/EXEC/DISCARD, WATCH and who changed a key
 *   cmd_conn.c      PING, ECHO, SELECT, QUIT, AUTH, HELLO, CLIENT
 *   cmd_info.c      INFO
 *   cmd_config.c    CONFIG
 *   cmd_command.c   COMMAND and the commands' docs
 *   cmd_shutdown.c  SHUTDOWN
 *   cmd_reply.c     the replies several of them build
 *   cmd_table.c     the command tables
 *
 * The replies of the connection and server commands follow redis-server
 * 7.0.15 byte for byte where nvkv has the same thing to say
 * (tests/server/test_admin.py compares them with a real redis-server);
 * where it has not (one database, RESP2 only, no replication, settings
 * fixed at start), the reply is redis's error or redis's default, never
 * an invented value.
 */
#ifndef KV_CMD_H
#define KV_CMD_H

#include <stdint.h>
#include <stddef.h>

#include "server.h"

/* The Redis version nvkv answers as (INFO, HELLO): the one whose replies
 * it is tested against. */
#define REDIS_COMPAT_VERSION "7.0.15"
#define NVKV_VERSION "0.1"

/* WATCH: a key a connection watches (c->watches) */
struct watch {
	struct watch *next;
	int64_t expire;  /* the key's time when watched (live), else 0 */
	size_t kl;
	char k[];
};

/* ---- cmd_reply.c ---- */

/* A kv error as the reply: -OOM for a full pool, else -ERR (and a log
 * line for a damaged entry). */
void kv_error(struct resp_buf *o, int rc);
/* printf onto the text in b (b->oom on failure) */
void __attribute__((format(printf, 2, 3)))
tprintf(struct resp_buf *b, const char *fmt, ...);
/* Send the text as one bulk reply and free it. */
void reply_text(struct conn *c, struct resp_buf *t);
void reply_cstr(struct conn *c, const char *s);
/* redis's error for a subcommand it does not know */
void unknown_sub(struct conn *c, const struct resp_cmd *q, const char *cmd);
/* 1 if the subcommand's arity fits (exact if > 0, at least -n if < 0);
 * else redis's error naming "cmd|sub", and 0. */
int sub_arity(struct conn *c, const struct resp_cmd *q, const char *full,
	      int arity);
/* An array of status lines, up to a NULL one. */
void reply_help(struct conn *c, const char *const *lines);
int bytes_eq(const char *p, size_t l, const char *s);
/* A command's one transaction (the kv calls nest in it): NULL with the
 * error replied.  cmd_tx_end commits if rc is 0 (0; -1 with the commit's
 * error replied), else aborts and replies rc's error (-1). */
nvh_tx *cmd_tx(struct conn *c);
int cmd_tx_end(struct conn *c, nvh_tx *tx, int rc);
/* A random 64-bit number (getrandom, else random()). */
uint64_t rnd64(void);

/* ---- cmd_expire.c ---- */

/* An expiry argument as an absolute Unix time in ms (*out); 0, or -1
 * with the error replied. */
int parse_expire(struct conn *c, const char *p, size_t pl, int seconds,
		 int absolute, int positive, const char *cmd, int64_t *out);
/* 1 if argument i is EX, PX, EXAT or PXAT (which, in *seconds and
 * *absolute), else 0. */
int expire_opt(const struct resp_cmd *q, int i, int *seconds, int *absolute);
void c_expire(struct conn *c, const struct resp_cmd *q);
void c_ttl(struct conn *c, const struct resp_cmd *q);
void c_persist(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_multi.c ---- */

/* Key k was changed: every connection watching it fails its EXEC. */
void touched(struct server *s, const void *k, size_t kl);
void c_multi(struct conn *c, const struct resp_cmd *q);
void c_discard(struct conn *c, const struct resp_cmd *q);
void c_exec(struct conn *c, const struct resp_cmd *q);
void c_watch(struct conn *c, const struct resp_cmd *q);
void c_unwatch(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_strings.c ---- */

void c_get(struct conn *c, const struct resp_cmd *q);
void c_set(struct conn *c, const struct resp_cmd *q);
void c_setnx(struct conn *c, const struct resp_cmd *q);
void c_setex(struct conn *c, const struct resp_cmd *q);
void c_getset(struct conn *c, const struct resp_cmd *q);
void c_getdel(struct conn *c, const struct resp_cmd *q);
void c_getex(struct conn *c, const struct resp_cmd *q);
void c_incr(struct conn *c, const struct resp_cmd *q);
void c_incrby(struct conn *c, const struct resp_cmd *q);
void c_append(struct conn *c, const struct resp_cmd *q);
void c_strlen(struct conn *c, const struct resp_cmd *q);
void c_mget(struct conn *c, const struct resp_cmd *q);
void c_mset(struct conn *c, const struct resp_cmd *q);
void c_getrange(struct conn *c, const struct resp_cmd *q);
void c_setrange(struct conn *c, const struct resp_cmd *q);
void c_incrbyfloat(struct conn *c, const struct resp_cmd *q);
/* A long double as redis's string2ld reads it (0, or -1); one as redis
 * prints it ("%.17Lf" without trailing zeros) into buf (LD_BUF bytes):
 * its length, or -1. */
#define LD_BUF (5 * 1024 + 64)
int parse_ld(const char *p, size_t n, long double *out);
int format_ld(long double v, char *buf, size_t n);

/* ---- cmd_coll.c ---- */

/* Key k's kind for a command of the type: 1 of that type, 0 absent, -1
 * with the error (WRONGTYPE, a damaged entry) replied. */
int key_kind(struct conn *c, const void *k, size_t kl, enum kv_type type);
/* One write of argument a to key k: 1 if it changed something, 0 if
 * not, < 0 an error (the command's end). */
typedef int (*write_fn)(struct kv *kv, const void *k, size_t kl,
			const void *a, size_t al);
/* Each argument from the third on written to key argv[1] by one, in one
 * transaction; the reply: how many changed something (HDEL, SADD,
 * SREM). */
void count_writes(struct conn *c, const struct resp_cmd *q, write_fn one);
/* A collection's listing: fields and/or values, counted (the reply's
 * length comes first), filtered by a MATCH pattern (pat, or NULL). */
struct hcollect {
	struct resp_buf out;
	long long n;
	int keys, vals;
	const char *pat;
	size_t pl;
};
int hcollect(void *arg, const void *k, size_t kl, const void *v, size_t vl);
/* scan (kv_hscan, kv_smembers) of key argv[1] into h, as the reply */
typedef int (*kv_scan_fn)(struct kv *kv, const void *k, size_t kl,
			  kv_fn fn, void *arg);
void reply_scan(struct conn *c, const struct resp_cmd *q, kv_scan_fn scan,
		struct hcollect *h);
/* HRANDFIELD's, SRANDMEMBER's and ZRANDMEMBER's key [count [WITH]]
 * (with: "WITHVALUES", "WITHSCORES", or NULL for none), as redis
 * checks them: 0, or -1 with the error replied. */
int parse_rand_args(struct conn *c, const struct resp_cmd *q,
		    const char *with, long long *count, int *has_count,
		    int *withv);
/* A random pick of one element of key k from seed (kv_srandom,
 * kv_hrandom). */
typedef int (*kv_pick_fn)(struct kv *kv, const void *k, size_t kl,
			  uint64_t seed, kv_fn fn, void *arg);
/* want elements of key k picked at random (one O(log n) descent each),
 * handed to fn as kv_fn gets them (into the pool: valid until the next
 * write): all distinct (an element picked again is drawn again) or
 * each drawn afresh.  0; -EAGAIN if picks keep missing (damaged entries,
 * or distinct picks from a set hardly larger than want): list the
 * collection instead; another error from kv; fn's. */
int coll_picks(struct kv *kv, kv_pick_fn pick, const void *k, size_t kl,
	       size_t want, int distinct, kv_fn fn, void *arg);
/* A collection's length (kv_scard, kv_hlen). */
typedef int (*kv_len_fn)(struct kv *kv, const void *k, size_t kl,
			 uint64_t *n);
/* SRANDMEMBER's and HRANDFIELD's reply (wv: WITHVALUES) by coll_picks,
 * when the picks are few next to the collection: 1 if replied (the
 * picks, an empty array for a count of 0, or an error), 0 if the caller
 * is to list the collection instead. */
int rand_by_picks(struct conn *c, const struct resp_cmd *q, kv_pick_fn pick,
		  kv_len_fn len, long long count, int has_count, int wv);
/* A *STORE form's write of destination d: store_begin opens the
 * command's transaction (*tx; -1 if it could not, the error replied) and
 * deletes d (*existed: it was there), 0 or kv's error; the caller adds
 * the result; store_end commits if rc is 0 (else aborts), replies the
 * error if any (-1), and marks d changed for WATCH if `changed`. */
int store_begin(struct conn *c, const char *d, size_t dl, nvh_tx **tx,
		int *existed);
int store_end(struct conn *c, nvh_tx *tx, int rc, const char *d, size_t dl,
	      int changed);
/* LMPOP's and ZMPOP's numkeys key [key ...] W0|W1 [COUNT count], read
 * as redis reads them before any key: the number of keys (from argv[2]),
 * *first 1 for W0, the count (1 if none); -1 with the error replied. */
int mpop_args(struct conn *c, const struct resp_cmd *q, const char *w0,
	      const char *w1, int *first, long long *count);
/* The error of a failed read of a collection: out of DRAM, or kv's. */
void coll_read_error(struct conn *c, int rc);
/* HSCAN, SSCAN and ZSCAN key cursor [MATCH pattern] [COUNT count]: as redis, an
 * absent key is an empty scan before the options are read */
void c_collscan(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_hash.c ---- */

void c_hset(struct conn *c, const struct resp_cmd *q);
void c_hsetnx(struct conn *c, const struct resp_cmd *q);
void c_hget(struct conn *c, const struct resp_cmd *q);
void c_hmget(struct conn *c, const struct resp_cmd *q);
void c_hdel(struct conn *c, const struct resp_cmd *q);
void c_hlen(struct conn *c, const struct resp_cmd *q);
void c_hexists(struct conn *c, const struct resp_cmd *q);
void c_hstrlen(struct conn *c, const struct resp_cmd *q);
void c_hgetall(struct conn *c, const struct resp_cmd *q);
void c_hincrby(struct conn *c, const struct resp_cmd *q);
void c_hincrbyfloat(struct conn *c, const struct resp_cmd *q);
void c_hrandfield(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_list.c ---- */

void c_lpush(struct conn *c, const struct resp_cmd *q);
void c_lpop(struct conn *c, const struct resp_cmd *q);
void c_lmpop(struct conn *c, const struct resp_cmd *q);
void c_llen(struct conn *c, const struct resp_cmd *q);
void c_lindex(struct conn *c, const struct resp_cmd *q);
void c_lrange(struct conn *c, const struct resp_cmd *q);
void c_lset(struct conn *c, const struct resp_cmd *q);
void c_lrem(struct conn *c, const struct resp_cmd *q);
void c_ltrim(struct conn *c, const struct resp_cmd *q);
void c_linsert(struct conn *c, const struct resp_cmd *q);
void c_lpos(struct conn *c, const struct resp_cmd *q);
void c_lmove(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_set.c ---- */

void c_sadd(struct conn *c, const struct resp_cmd *q);
void c_srem(struct conn *c, const struct resp_cmd *q);
void c_sismember(struct conn *c, const struct resp_cmd *q);
void c_smismember(struct conn *c, const struct resp_cmd *q);
void c_scard(struct conn *c, const struct resp_cmd *q);
void c_smembers(struct conn *c, const struct resp_cmd *q);
void c_spop(struct conn *c, const struct resp_cmd *q);
void c_srandmember(struct conn *c, const struct resp_cmd *q);
void c_smove(struct conn *c, const struct resp_cmd *q);
void c_setop(struct conn *c, const struct resp_cmd *q);
void c_sintercard(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_zset.c ---- */

/* A score as redis prints it ("%.17g", "inf", "-inf") into buf: its
 * length */
int format_score(double d, char *buf, size_t n);
/* hcollect for ZSCAN: the value's 8 bytes printed as a score */
int zscan_score(void *arg, const void *k, size_t kl, const void *v,
		size_t vl);
void c_zadd(struct conn *c, const struct resp_cmd *q);
void c_zincrby(struct conn *c, const struct resp_cmd *q);
void c_zrem(struct conn *c, const struct resp_cmd *q);
void c_zscore(struct conn *c, const struct resp_cmd *q);
void c_zmscore(struct conn *c, const struct resp_cmd *q);
void c_zcard(struct conn *c, const struct resp_cmd *q);
void c_zrank(struct conn *c, const struct resp_cmd *q);
void c_zcount(struct conn *c, const struct resp_cmd *q);
void c_zrange(struct conn *c, const struct resp_cmd *q);
void c_zrangeby(struct conn *c, const struct resp_cmd *q);
void c_zremrange(struct conn *c, const struct resp_cmd *q);
void c_zpop(struct conn *c, const struct resp_cmd *q);
void c_zrandmember(struct conn *c, const struct resp_cmd *q);
/* A score or weight argument as redis's getDoubleFromObject reads it
 * (strtod, whole, no leading space, no NaN, no overflow): 0, or -1. */
int zparse_score(const char *p, size_t l, double *out);
/* Element i of a result to store: its member and score. */
typedef void (*zget_fn)(const void *arg, size_t i, const char **m,
			size_t *ml, double *score);
/* Replace key d (of any type) by the n elements get gives, in (score,
 * member) order, as a sorted set (none: d is deleted), in the command's
 * one transaction: 0, or -1 with the error replied. */
int zstore(struct conn *c, const char *d, size_t dl, size_t n, zget_fn get,
	   const void *arg);
void c_zrangestore(struct conn *c, const struct resp_cmd *q);
void c_zmpop(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_zsetop.c ---- */

void c_zsetop(struct conn *c, const struct resp_cmd *q);
void c_zintercard(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_keyspace.c ---- */

/* SCAN's and HSCAN's arguments: a cursor as redis reads it, a COUNT
 * (>= 1, capped at SCAN_COUNT_MAX): 0, or -1 with the error replied.
 * reply_collected sends b's n replies as one array and frees b. */
int parse_cursor(struct conn *c, const char *p, size_t l, uint64_t *out);
int parse_scan_count(struct conn *c, const char *p, size_t l,
		     long long *count);
void reply_collected(struct conn *c, struct resp_buf *b, long long n);
void c_type(struct conn *c, const struct resp_cmd *q);
void c_del(struct conn *c, const struct resp_cmd *q);
void c_exists(struct conn *c, const struct resp_cmd *q);
void c_dbsize(struct conn *c, const struct resp_cmd *q);
void c_randomkey(struct conn *c, const struct resp_cmd *q);
void c_copy(struct conn *c, const struct resp_cmd *q);
void c_keys(struct conn *c, const struct resp_cmd *q);
void c_scan(struct conn *c, const struct resp_cmd *q);
void c_flushall(struct conn *c, const struct resp_cmd *q);
void c_rename(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_conn.c ---- */

void c_ping(struct conn *c, const struct resp_cmd *q);
void c_echo(struct conn *c, const struct resp_cmd *q);
void c_select(struct conn *c, const struct resp_cmd *q);
void c_quit(struct conn *c, const struct resp_cmd *q);
void c_auth(struct conn *c, const struct resp_cmd *q);
void c_hello(struct conn *c, const struct resp_cmd *q);
void c_client(struct conn *c, const struct resp_cmd *q);

/* ---- cmd_info.c, cmd_config.c, cmd_command.c, cmd_shutdown.c ---- */

void c_info(struct conn *c, const struct resp_cmd *q);
void c_config(struct conn *c, const struct resp_cmd *q);
void c_command(struct conn *c, const struct resp_cmd *q);
void c_shutdown(struct conn *c, const struct resp_cmd *q);

#endif
