/*
 * known.h -- recognising the known library bugs fuzz_open keeps finding,
 * so that a run counts them instead of failing until they are fixed.
 */
#ifndef NVF_KNOWN_H
#define NVF_KNOWN_H

/*
 * Does the pool file at `path`, taken while no transaction was in flight,
 * hold what the stale-pass bug needs (stale_chunk_after_clean_close in
 * tests/unit/test_pool.c): a lane whose current pass, as recovery reads
 * it, has UNDO records of a transaction whose COMMIT or ABORT it does not
 * reach (a chunk since reused, a damaged record before the CHUNK one)?
 * Recovery then rolls that long committed transaction back.
 */
int nvf_stale_undo_pass(const char *path);

#endif
