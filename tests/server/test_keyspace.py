#!/usr/bin/env python3
"""test_keyspace.py SERVER NVHEAP_TOOL -- nvkv-server's keyspace-wide
picks at the sizes users reach, on both indexes (the hash map and the
B-tree).

RANDOMKEY over 200,000 keys written by four clients at once: every
answer is a key that exists, 100,000 draws spread evenly over the keys
(each hundredth of them within a few sigma of its share), and when half
of the keys have expired (not yet removed) it answers only live ones; an
empty store answers nil.
Exit status 0 only if every check passed."""
import subprocess
import sys
import threading
import time

from nvkvtest import Checks, Conn, NvkvProc, run_tests

SERVER, TOOL = sys.argv[1], sys.argv[2]
check = Checks()
N = 200000


def fill(port, t, ttl):
    """Client t's quarter of the keys k000000..k199999; the odd ones with
    a PX of ttl ms if ttl."""
    c = Conn(port)
    for i in range(t * N // 4, (t + 1) * N // 4, 1000):
        cmds = []
        for j in range(i, i + 1000):
            cmds.append(['SET', 'k%06d' % j, j] +
                        (['PX', ttl] if ttl and j % 2 else []))
        r = c.pipeline(cmds)
        if r != ['+OK'] * 1000:
            check(False, 'client %d: %r' % (t, r[:3]))
            return
    c.close()


def fill_all(port, ttl):
    ts = [threading.Thread(target=fill, args=(port, t, ttl))
          for t in range(4)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()


def randomkey(d, index):
    s = NvkvProc(SERVER, d, 'rk-' + index, '--size', '1G', '--index', index)
    c = Conn(s.port)
    check(c.cmd('RANDOMKEY') == 'nil', '%s: an empty store: nil' % index)
    fill_all(s.port, 0)
    check(c.cmd('DBSIZE') == N, '%s: %d keys' % (index, N))
    hits = [0] * 100
    bad = 0
    for _ in range(100):
        for k in c.pipeline([['RANDOMKEY']] * 1000):
            i = int(k[1:]) if k and k[:1] == b'k' else -1
            if not 0 <= i < N:
                bad += 1
            else:
                hits[i * 100 // N] += 1
    # (an even pick: 1,000 per hundredth, sigma 31)
    check(not bad and min(hits) >= 820 and max(hits) <= 1180,
          '%s: 100,000 RANDOMKEYs over 200,000 keys: %d per hundredth at '
          'least, %d at most, %d not keys' % (index, min(hits), max(hits),
                                             bad))
    # half of them expire: only live ones are answered
    c.cmd('FLUSHALL')
    fill_all(s.port, 300)
    time.sleep(0.6)
    got = [k for k in c.pipeline([['RANDOMKEY']] * 5000)]
    odd = sum(1 for k in got if k == 'nil' or int(k[1:]) % 2)
    check(odd == 0, '%s: after half expired, %d of 5,000 RANDOMKEYs an '
          'expired key or nil' % (index, odd))
    c.close()
    check(s.stop() == 0, '%s: stopped cleanly' % index)
    chk = subprocess.run([TOOL, 'check', s.pool], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    check(chk.returncode == 0, 'nvheap check: %r' % chk.stdout[-300:])


def test_randomkey_hash(d):
    randomkey(d, 'hash')


def test_randomkey_btree(d):
    randomkey(d, 'btree')


def main():
    return run_tests('test_keyspace', check, [test_randomkey_hash,
                                              test_randomkey_btree],
                     sys.argv[3:])


if __name__ == '__main__':
    sys.exit(main())
