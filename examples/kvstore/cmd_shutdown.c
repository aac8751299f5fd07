/*
 * cmd_shutdown.c -- nvkv-server's SHUTDOWN: the checks of its options, and
 * the loop's end (main closes the pool).
 */
#include <event2/event.h>

#include "cmd.h"

/* ---- SHUTDOWN ---- */

/*
 * SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT], checked as redis 7.0
 * does.  Every write is durable when it is answered, so SAVE and NOSAVE
 * both just stop, and a shutdown never waits (for replicas or a save):
 * none is ever in progress for ABORT to cancel.
 */
void
c_shutdown(struct conn *c, const struct resp_cmd *q)
{
	int save = 0, nosave = 0, now = 0, abort = 0;
	for (int i = 1; i < q->argc; i++) {
		if (argis(q, i, "NOSAVE")) {
			nosave = 1;
		} else if (argis(q, i, "SAVE")) {
			save = 1;
		} else if (argis(q, i, "NOW") || argis(q, i, "FORCE")) {
			now = 1;
		} else if (argis(q, i, "ABORT")) {
			abort = 1;
		} else {
			resp_error(&c->out, "ERR syntax error");
			return;
		}
	}
	/* ABORT goes alone; SAVE and NOSAVE contradict each other */
	if ((abort && (save || nosave || now)) || (save && nosave)) {
		resp_error(&c->out, "ERR syntax error");
		return;
	}
	if (abort) {
		resp_error(&c->out, "ERR No shutdown in progress.");
		return;
	}
	/* Redis closes the connection without a reply */
	c->closing = 1;
	c->s->stopping = 1;
	event_base_loopexit(c->s->base, NULL);
}
