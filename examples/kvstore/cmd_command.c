/*
 * cmd_command.c -- nvkv-server's COMMAND: INFO, DOCS, LIST, COUNT, GETKEYS
 * and HELP, built from the command tables (cmd_table.c), and the group
 * and summary of each command (the DOCS table).
 */
#include <string.h>

#include "cmd.h"

/* ---- COMMAND ---- */

/* A table name (upper case) as redis names commands; its length. */
static size_t
lower(char *b, size_t n, const char *name)
{
	size_t i = 0;
	for (; name[i] && i < n; i++)
		b[i] = (char)(name[i] >= 'A' && name[i] <= 'Z' ?
			      name[i] | 0x20 : name[i]);
	return i;
}

static void
reply_lower(struct conn *c, const char *name)
{
	char b[64];
	resp_bulk(&c->out, b, lower(b, sizeof(b), name));
}

static const struct command *
lookup_arg(const struct resp_cmd *q, int i)
{
	struct resp_cmd one = {.argc = 1, .argv = q->argv + i,
			       .argl = q->argl + i};
	return server_lookup(&one);
}

/*
 * COMMAND DOCS's group and summary of each command: redis-cli reads them
 * at start (its "help" crashes on a command without a group).  A command
 * missing here is shown in "generic" with no summary.
 */
static const struct doc {
	const char *name, *group, *summary;
} docs[] = {
	{"GET", "string", "Get the value of a key"},
	{"HSET", "hash", "Set fields of a hash to values"},
	{"HMSET", "hash", "Set fields of a hash to values (HSET's older "
		"form: replies OK)"},
	{"HSETNX", "hash", "Set a field of a hash only if it is absent"},
	{"HGET", "hash", "Get the value of a field of a hash"},
	{"HMGET", "hash", "Get the values of fields of a hash"},
	{"HDEL", "hash", "Delete fields from a hash"},
	{"HLEN", "hash", "Count the fields of a hash"},
	{"HEXISTS", "hash", "Tell whether a hash has a field"},
	{"HSTRLEN", "hash", "Get the length of a field's value"},
	{"HGETALL", "hash", "Get every field and value of a hash"},
	{"HKEYS", "hash", "Get every field of a hash"},
	{"HVALS", "hash", "Get every value of a hash"},
	{"HINCRBY", "hash", "Add an integer to a field's integer value"},
	{"HINCRBYFLOAT", "hash", "Add a number to a field's numeric value"},
	{"HSCAN", "hash", "Iterate over the fields and values of a hash"},
	{"HRANDFIELD", "hash", "Get random fields of a hash"},
	{"LPUSH", "list", "Prepend elements to a list"},
	{"RPUSH", "list", "Append elements to a list"},
	{"LPUSHX", "list", "Prepend elements to a list, only if it exists"},
	{"RPUSHX", "list", "Append elements to a list, only if it exists"},
	{"LPOP", "list", "Remove and get the first elements of a list"},
	{"LMPOP", "list", "Remove and get elements from the first non-empty "
	 "list of several"},
	{"RPOP", "list", "Remove and get the last elements of a list"},
	{"LLEN", "list", "Get the length of a list"},
	{"LINDEX", "list", "Get an element of a list by its index"},
	{"LRANGE", "list", "Get a range of elements of a list"},
	{"LSET", "list", "Set the element at an index of a list"},
	{"LREM", "list", "Remove elements equal to a value from a list"},
	{"LTRIM", "list", "Trim a list to a range of its elements"},
	{"LINSERT", "list", "Insert an element before or after another"},
	{"LPOS", "list", "Get the indexes of matching elements of a list"},
	{"LMOVE", "list", "Pop an element from a list, push it to another "
	 "and return it"},
	{"RPOPLPUSH", "list", "Remove the last element of a list, prepend it "
	 "to another and return it"},
	{"SADD", "set", "Add members to a set"},
	{"SREM", "set", "Remove members from a set"},
	{"SISMEMBER", "set", "Tell whether a value is a member of a set"},
	{"SMISMEMBER", "set", "Tell whether values are members of a set"},
	{"SCARD", "set", "Count the members of a set"},
	{"SMEMBERS", "set", "Get every member of a set"},
	{"SSCAN", "set", "Iterate over the members of a set"},
	{"SPOP", "set", "Remove and return random members of a set"},
	{"SRANDMEMBER", "set", "Get random members of a set"},
	{"SMOVE", "set", "Move a member from one set to another"},
	{"SINTER", "set", "Intersect sets"},
	{"SINTERCARD", "set", "Count the members of the intersection of "
	 "sets"},
	{"SINTERSTORE", "set", "Intersect sets and store the result"},
	{"SUNION", "set", "Add sets"},
	{"SUNIONSTORE", "set", "Add sets and store the result"},
	{"SDIFF", "set", "Subtract sets"},
	{"SDIFFSTORE", "set", "Subtract sets and store the result"},
	{"ZADD", "sorted-set", "Add members to a sorted set, or update "
	 "their scores"},
	{"ZINCRBY", "sorted-set", "Add to the score of a member"},
	{"ZREM", "sorted-set", "Remove members from a sorted set"},
	{"ZSCORE", "sorted-set", "Get the score of a member"},
	{"ZMSCORE", "sorted-set", "Get the scores of members"},
	{"ZCARD", "sorted-set", "Count the members of a sorted set"},
	{"ZRANK", "sorted-set", "Get a member's rank, lowest first"},
	{"ZREVRANK", "sorted-set", "Get a member's rank, highest first"},
	{"ZCOUNT", "sorted-set", "Count the members in a score range"},
	{"ZLEXCOUNT", "sorted-set", "Count the members in a member range"},
	{"ZRANGE", "sorted-set", "Get members by rank, score or member "
	 "range"},
	{"ZREVRANGE", "sorted-set", "Get members by rank, highest first"},
	{"ZRANGEBYSCORE", "sorted-set", "Get members in a score range"},
	{"ZREVRANGEBYSCORE", "sorted-set", "Get members in a score range, "
	 "highest first"},
	{"ZRANGEBYLEX", "sorted-set", "Get members in a member range"},
	{"ZREVRANGEBYLEX", "sorted-set", "Get members in a member range, "
	 "highest first"},
	{"ZREMRANGEBYRANK", "sorted-set", "Remove the members in a rank "
	 "range"},
	{"ZREMRANGEBYSCORE", "sorted-set", "Remove the members in a score "
	 "range"},
	{"ZREMRANGEBYLEX", "sorted-set", "Remove the members in a member "
	 "range"},
	{"ZPOPMIN", "sorted-set", "Remove and return the lowest members"},
	{"ZMPOP", "sorted-set", "Remove and return members from the first "
	 "non-empty sorted set of several"},
	{"ZPOPMAX", "sorted-set", "Remove and return the highest members"},
	{"ZRANDMEMBER", "sorted-set", "Get random members of a sorted set"},
	{"ZSCAN", "sorted-set", "Iterate over the members and scores of a "
	 "sorted set"},
	{"ZUNION", "sorted-set", "Add sorted sets"},
	{"ZINTER", "sorted-set", "Intersect sorted sets"},
	{"ZDIFF", "sorted-set", "Subtract sorted sets"},
	{"ZUNIONSTORE", "sorted-set", "Add sorted sets and store the result"},
	{"ZINTERSTORE", "sorted-set", "Intersect sorted sets and store the "
	 "result"},
	{"ZDIFFSTORE", "sorted-set", "Subtract sorted sets and store the "
	 "result"},
	{"ZINTERCARD", "sorted-set", "Count the members of the intersection "
	 "of sorted sets"},
	{"ZRANGESTORE", "sorted-set", "Store a range of members of a sorted "
	 "set"},
	{"SET", "string", "Set the string value of a key"},
	{"SETNX", "string", "Set the value of a key, only if the key does "
	 "not exist"},
	{"SETEX", "string", "Set the value and expiration of a key"},
	{"PSETEX", "string", "Set the value and expiration in milliseconds "
	 "of a key"},
	{"GETSET", "string", "Set the string value of a key and return its "
	 "old value"},
	{"GETDEL", "string", "Get the value of a key and delete the key"},
	{"GETEX", "string", "Get the value of a key and optionally set its "
	 "expiration"},
	{"INCR", "string", "Increment the integer value of a key by one"},
	{"DECR", "string", "Decrement the integer value of a key by one"},
	{"INCRBY", "string", "Increment the integer value of a key by the "
	 "given amount"},
	{"DECRBY", "string", "Decrement the integer value of a key by the "
	 "given number"},
	{"APPEND", "string", "Append a value to a key"},
	{"GETRANGE", "string", "Get a substring of the string stored at a "
	 "key"},
	{"SUBSTR", "string", "Get a substring of the string stored at a key"},
	{"SETRANGE", "string", "Overwrite part of a string at key starting "
	 "at the specified offset"},
	{"INCRBYFLOAT", "string", "Increment the float value of a key by the "
	 "given amount"},
	{"STRLEN", "string", "Get the length of the value stored in a key"},
	{"MGET", "string", "Get the values of all the given keys"},
	{"MSET", "string", "Set multiple keys to multiple values"},
	{"MSETNX", "string", "Set multiple keys to multiple values, only if "
	 "none of the keys exist"},
	{"DEL", "generic", "Delete a key"},
	{"UNLINK", "generic", "Delete a key (as DEL)"},
	{"EXISTS", "generic", "Determine if a key exists"},
	{"SCAN", "generic", "Incrementally iterate the keys space"},
	{"KEYS", "generic", "Find all keys matching the given pattern"},
	{"EXPIRE", "generic", "Set a key's time to live in seconds"},
	{"PEXPIRE", "generic", "Set a key's time to live in milliseconds"},
	{"EXPIREAT", "generic", "Set the expiration for a key as a UNIX "
	 "timestamp"},
	{"PEXPIREAT", "generic", "Set the expiration for a key as a UNIX "
	 "timestamp specified in milliseconds"},
	{"TTL", "generic", "Get the time to live for a key in seconds"},
	{"PTTL", "generic", "Get the time to live for a key in milliseconds"},
	{"EXPIRETIME", "generic", "Get the expiration Unix timestamp for a "
	 "key"},
	{"PEXPIRETIME", "generic", "Get the expiration Unix timestamp for a "
	 "key in milliseconds"},
	{"PERSIST", "generic", "Remove the expiration from a key"},
	{"TYPE", "generic", "Determine the type stored at key"},
	{"MULTI", "transactions", "Mark the start of a transaction block"},
	{"EXEC", "transactions", "Execute all commands issued after MULTI"},
	{"DISCARD", "transactions", "Discard all commands issued after "
	 "MULTI"},
	{"WATCH", "transactions", "Watch the given keys to determine "
	 "execution of the MULTI/EXEC block"},
	{"UNWATCH", "transactions", "Forget about all watched keys"},
	{"PING", "connection", "Ping the server"},
	{"ECHO", "connection", "Echo the given string"},
	{"AUTH", "connection", "Authenticate to the server"},
	{"HELLO", "connection", "Handshake with Redis"},
	{"SELECT", "connection", "Change the selected database for the "
	 "current connection"},
	{"CLIENT", "connection", "A container for client connection "
	 "commands"},
	{"QUIT", "connection", "Close the connection"},
	{"RANDOMKEY", "generic", "Return a random key from the keyspace"},
	{"COPY", "generic", "Copy a key's value (any type) and expiry to "
	 "another key"},
	{"DBSIZE", "server", "Return the number of keys in the selected "
	 "database"},
	{"FLUSHALL", "server", "Remove all keys from all databases"},
	{"FLUSHDB", "server", "Remove all keys from the current database"},
	{"INFO", "server", "Get information and statistics about the "
	 "server"},
	{"COMMAND", "server", "Get array of Redis command details"},
	{"CONFIG", "server", "A container for server configuration "
	 "commands"},
	{"SHUTDOWN", "server", "Shut down the server (every write is "
	 "already durable)"},
};

static const struct doc *
doc_of(const struct command *cmd)
{
	for (size_t i = 0; i < sizeof(docs) / sizeof(docs[0]); i++)
		if (!strcmp(docs[i].name, cmd->name))
			return &docs[i];
	return NULL;
}

/* The ACL category redis gives every command of the group, if any. */
static const char *
group_category(const struct command *cmd)
{
	static const char *const map[][2] = {
		{"string", "@string"}, {"generic", "@keyspace"},
		{"hash", "@hash"}, {"list", "@list"}, {"set", "@set"},
		{"sorted-set", "@sortedset"},
		{"transactions", "@transaction"},
		{"connection", "@connection"},
	};
	const struct doc *d = doc_of(cmd);
	if (!strcmp(cmd->name, "CLIENT"))
		return NULL; /* a container: its subcommands have them */
	for (size_t i = 0; d && i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(d->group, map[i][0]))
			return map[i][1];
	return NULL;
}

/*
 * A command's COMMAND INFO entry, redis 7's ten fields: name, arity,
 * flags, first key, last key, step, ACL categories, tips, key specs,
 * subcommands.  Only what the tables know: the flags say read or write
 * (and no-auth), the categories that and the command's group; no tips,
 * key specs or subcommand entries (key positions are in fields 4-6).
 */
static void
command_info(struct conn *c, const struct command *cmd)
{
	int f = cmd->flags;
	const char *cat = group_category(cmd);
	/* CMD_WRITE on EXEC means it joins the group commit: transaction
	 * control neither reads nor writes for redis */
	int tx = cat && !strcmp(cat, "@transaction");
	int w = !tx && (f & CMD_WRITE), r = !tx && (f & CMD_READ);
	resp_array(&c->out, 10);
	reply_lower(c, cmd->name);
	resp_int(&c->out, cmd->arity);
	resp_array(&c->out, w + r + !!(f & CMD_NOAUTH));
	if (w)
		resp_simple(&c->out, "write");
	if (r)
		resp_simple(&c->out, "readonly");
	if (f & CMD_NOAUTH)
		resp_simple(&c->out, "no_auth");
	resp_int(&c->out, cmd->first);
	resp_int(&c->out, cmd->last);
	resp_int(&c->out, cmd->step);
	resp_array(&c->out, w + r + !!cat);
	if (w)
		resp_simple(&c->out, "@write");
	if (r)
		resp_simple(&c->out, "@read");
	if (cat)
		resp_simple(&c->out, cat);
	resp_array(&c->out, 0);
	resp_array(&c->out, 0);
	resp_array(&c->out, 0);
}

/* name, then the map {summary, group} */
static void
command_doc(struct conn *c, const struct command *cmd)
{
	const struct doc *d = doc_of(cmd);
	const char *group = d ? d->group : "generic";
	const char *summary = d ? d->summary : "";
	reply_lower(c, cmd->name);
	resp_array(&c->out, 4);
	reply_cstr(c, "summary");
	reply_cstr(c, summary);
	reply_cstr(c, "group");
	reply_cstr(c, group);
}

/* COMMAND DOCS [name ...]: unknown names are left out, as redis does */
static void
command_docs(struct conn *c, const struct resp_cmd *q)
{
	int n = 0;
	if (q->argc == 2) {
		FOR_EACH_COMMAND(cmd)
			n++;
		resp_array(&c->out, 2 * n);
		FOR_EACH_COMMAND(cmd)
			command_doc(c, cmd);
		return;
	}
	for (int i = 2; i < q->argc; i++)
		n += lookup_arg(q, i) != NULL;
	resp_array(&c->out, 2 * n);
	for (int i = 2; i < q->argc; i++) {
		const struct command *cmd = lookup_arg(q, i);
		if (cmd)
			command_doc(c, cmd);
	}
}

/* the categories command_info shows */
static int
has_cat(const struct command *cmd, const char *p, size_t l)
{
	const char *cat = group_category(cmd);
	int tx = cat && !strcmp(cat, "@transaction");
	return (bytes_eq(p, l, "write") && !tx && (cmd->flags & CMD_WRITE)) ||
	       (bytes_eq(p, l, "read") && !tx && (cmd->flags & CMD_READ)) ||
	       (cat && bytes_eq(p, l, cat + 1));
}

/* COMMAND LIST [FILTERBY MODULE name|ACLCAT cat|PATTERN pattern] */
static void
command_list(struct conn *c, const struct resp_cmd *q)
{
	int by = 0; /* 1 module, 2 category, 3 pattern */
	if (q->argc == 5 && argis(q, 2, "FILTERBY")) {
		by = argis(q, 3, "MODULE") ? 1 : argis(q, 3, "ACLCAT") ? 2 :
		     argis(q, 3, "PATTERN") ? 3 : 0;
	}
	if (q->argc != 2 && !by) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	const char *p = by ? q->argv[4] : NULL;
	size_t pl = by ? q->argl[4] : 0;
	int n = 0;
	for (int pass = 0; pass < 2; pass++) {
		if (pass)
			resp_array(&c->out, n);
		FOR_EACH_COMMAND(cmd) {
			/* matched against the name redis shows: lower case */
			char low[64];
			size_t l = lower(low, sizeof(low), cmd->name);
			int want = by == 0 ||
				   (by == 2 && has_cat(cmd, p, pl)) ||
				   (by == 3 && kv_glob(p, pl, low, l, 1));
			if (want && pass)
				reply_lower(c, cmd->name);
			n += want && !pass;
		}
	}
}

/* COMMAND GETKEYS cmd arg...: the keys, from the table's positions */
static void
command_getkeys(struct conn *c, const struct resp_cmd *q)
{
	const struct command *cmd = lookup_arg(q, 2);
	int argc = q->argc - 2;
	if (!cmd) {
		resp_error(&c->out, "ERR Invalid command specified");
		return;
	}
	if ((cmd->arity > 0 && argc != cmd->arity) ||
	    (cmd->arity < 0 && argc < -cmd->arity)) {
		resp_error(&c->out, "ERR Invalid number of arguments "
			   "specified for command");
		return;
	}
	int last = cmd->last < 0 ? argc + cmd->last : cmd->last;
	if (cmd->first <= 0 || cmd->step <= 0 || last < cmd->first) {
		resp_error(&c->out, "ERR The command has no key arguments");
		return;
	}
	int n = 0;
	for (int i = cmd->first; i <= last && i < argc; i += cmd->step)
		n++;
	resp_array(&c->out, n);
	for (int i = cmd->first; i <= last && i < argc; i += cmd->step)
		resp_bulk(&c->out, q->argv[2 + i], q->argl[2 + i]);
}

static const char *const command_help[] = {
	"COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:",
	"(no subcommand)",
	"    Return details about all Redis commands.",
	"COUNT",
	"    Return the total number of commands in this Redis server.",
	"LIST",
	"    Return a list of all commands in this Redis server.",
	"INFO [<command-name> ...]",
	"    Return details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"DOCS [<command-name> ...]",
	"    Return documentation details about multiple Redis commands.",
	"    If no command names are given, documentation details for all",
	"    commands are returned.",
	"GETKEYS <full-command>",
	"    Return the keys from a full Redis command.",
	"HELP",
	"    Prints this help.",
	NULL,
};

/* COMMAND and its subcommands, built from the command tables: what the
 * server really runs. */
void
c_command(struct conn *c, const struct resp_cmd *q)
{
	long long n = 0;
	if (q->argc == 1 || argis(q, 1, "INFO")) {
		if (q->argc <= 2) {
			FOR_EACH_COMMAND(cmd)
				n++;
			resp_array(&c->out, n);
			FOR_EACH_COMMAND(cmd)
				command_info(c, cmd);
			return;
		}
		resp_array(&c->out, q->argc - 2);
		for (int i = 2; i < q->argc; i++) {
			const struct command *cmd = lookup_arg(q, i);
			if (cmd)
				command_info(c, cmd);
			else
				resp_null(&c->out);
		}
	} else if (argis(q, 1, "COUNT")) {
		if (!sub_arity(c, q, "command|count", 2))
			return;
		FOR_EACH_COMMAND(cmd)
			n++;
		resp_int(&c->out, n);
	} else if (argis(q, 1, "DOCS")) {
		command_docs(c, q);
	} else if (argis(q, 1, "LIST")) {
		command_list(c, q);
	} else if (argis(q, 1, "GETKEYS")) {
		/* redis 7.0.15 wants a command and an argument */
		if (sub_arity(c, q, "command|getkeys", -4))
			command_getkeys(c, q);
	} else if (argis(q, 1, "HELP")) {
		if (sub_arity(c, q, "command|help", 2))
			reply_help(c, command_help);
	} else {
		unknown_sub(c, q, "COMMAND");
	}
}
