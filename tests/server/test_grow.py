#!/usr/bin/env python3
"""test_grow.py SERVER NVHEAP_TOOL -- nvkv-server's default pool grows
until the file system is full, so a benchmark never meets "pool full".

Starts nvkv-server with the defaults on a fresh pool (in /dev/shm, or
$NVHEAP_TEST_DIR): the pool file starts at 8 MiB at most, and
redis-benchmark -q -t set -n 1000000 -r 100000000 -d 3000 -P 16 runs
against it without an error; then about a million keys are there
(DBSIZE > 990,000), INFO says the pool grew to several GiB (and so does
the file), SHUTDOWN closes it cleanly and `nvheap check` finds it
consistent.  A pool capped with --max-size answers -OOM saying it
reached its maximum size, with nothing changed.  Prints the time, the
size and the rate.  Exit status 0 only if every check passed."""
import os
import re
import socket
import subprocess
import sys
import time

from nvkvtest import Checks, Proc, free_port, resp, run_tests

SERVER, TOOL = sys.argv[1], sys.argv[2]
check = Checks()
GIB = 1 << 30

BENCH = ['-q', '-t', 'set', '-n', '1000000', '-r', '100000000', '-d', '3000',
         '-P', '16']


class Server(Proc):
    """nvkv-server on a free port, its output in a file."""

    def __init__(self, d, name, *extra):
        self.port = free_port()
        self.pool = os.path.join(d, name + '.pool')
        self.logpath = os.path.join(d, name + '.log')
        with open(self.logpath, 'wb') as logf:
            self.p = subprocess.Popen(
                [SERVER, '--pool', self.pool, '--port', str(self.port)] +
                list(extra), stdout=logf, stderr=subprocess.STDOUT)
        self.started()

    def cli(self, *args):
        return subprocess.run(['redis-cli', '-p', str(self.port)] +
                              list(args), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=120).stdout

    def info(self):
        """INFO's nvheap fields, as a dict of strings."""
        out = self.cli('info', 'nvheap').decode()
        return dict(l.split(':', 1) for l in out.splitlines() if ':' in l)

    def shutdown(self):
        """SHUTDOWN; the exit status and the server's output."""
        self.cli('shutdown')
        try:
            code = self.p.wait(timeout=120)  # (a SIGTERM now could cut
        except subprocess.TimeoutExpired:    # the close short)
            code = self.stop()
        return code, self.log()


def nvheap_check(pool):
    p = subprocess.run([TOOL, 'check', pool], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    return p.returncode == 0, p.stdout.decode(errors='replace')


def test_benchmark_grows_the_pool(d):
    s = Server(d, 'grow')
    try:
        size0 = os.path.getsize(s.pool)
        i = s.info()
        check(size0 <= 8 << 20 and i.get('pool_size') == str(size0) and
              i.get('pool_max_size') == 'unlimited' and
              i.get('pool_growths') == '0',
              'a default pool starts at 8 MiB at most, growing without '
              'limit: %d bytes, %r' % (size0, i))
        t0 = time.monotonic()
        b = subprocess.run(['redis-benchmark', '-p', str(s.port)] + BENCH,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=900)
        secs = time.monotonic() - t0
        out = b.stdout.decode(errors='replace')
        m = re.search(r'SET: ([0-9.]+) requests per second', out)
        rate = float(m.group(1)) if m else 0.0
        check(b.returncode == 0 and m is not None and 'rror' not in out and
              'OOM' not in out,
              'redis-benchmark %s: no errors: %r' % (' '.join(BENCH),
                                                     out[-500:]))
        keys = int(s.cli('dbsize') or b'0')
        check(keys > 990000, 'DBSIZE %d > 990,000 after 1,000,000 random '
              'SETs' % keys)
        some = s.cli('--raw', 'scan', '0', 'count', '20').split()[1:6]
        lens = [s.cli('strlen', k) for k in some]
        check(len(some) == 5 and all(n == b'3000\n' for n in lens),
              'values of 3000 bytes: %r %r' % (some, lens))
        i = s.info()
        size = int(i.get('pool_size', 0))
        growths = int(i.get('pool_growths', 0))
        check(size > 2.5 * GIB and growths > 0 and
              i.get('pool_max_size') == 'unlimited',
              'INFO: the pool grew to %.2f GiB in %d growths (> 2.5 GiB)'
              % (size / GIB, growths))
        check(os.path.getsize(s.pool) == size,
              'the file is the pool\'s size: %d, %d'
              % (os.path.getsize(s.pool), size))
        code, log = s.shutdown()
        check(code == 0 and 'closed cleanly' in log,
              'SHUTDOWN closes the pool cleanly: %s' % log[-300:])
        t1 = time.monotonic()
        ok, out = nvheap_check(s.pool)
        tcheck = time.monotonic() - t1
        check(ok, 'nvheap check after the benchmark: %s' % out[-500:])
        print('redis-benchmark %s on a default pool: %.1f s, %.0f SET/s; '
              '%d keys; the pool grew from %.1f MiB to %.2f GiB in %d '
              'growths; nvheap check %.1f s'
              % (' '.join(BENCH), secs, rate, keys, size0 / (1 << 20),
                 size / GIB, growths, tcheck), flush=True)
    finally:
        s.stop()
        for f in (s.pool, s.logpath):
            if os.path.exists(f):
                os.unlink(f)


def test_capped_pool_answers_oom(d):
    """--max-size 16M: SETs of 1 MiB values until one is refused; the
    refusal is -OOM naming the maximum, and nothing of it is stored."""
    s = Server(d, 'capped', '--max-size', '16M')
    try:
        val = b'v' * (1 << 20)
        r, n = b'', 0
        with socket.create_connection(('127.0.0.1', s.port),
                                      timeout=30) as c:
            f = c.makefile('rb')
            for n in range(64):
                c.sendall(resp('SET', 'k%d' % n, val))
                r = f.readline()
                if r != b'+OK\r\n':
                    break
        check(r.startswith(b'-OOM ') and
              b'reached its maximum size (16 MiB); nothing was changed' in r,
              'a pool at its maximum answers -OOM: %r' % r[:300])
        check(int(s.cli('dbsize')) == n and s.cli('exists', 'k%d' % n) ==
              b'0\n', 'the refused SET stored nothing (%d stored)' % n)
        i = s.info()
        check(i.get('pool_max_size') == str(16 << 20) and
              int(i.get('pool_growths', 0)) > 0 and
              int(i.get('pool_size', 0)) <= 16 << 20,
              'INFO of a capped pool: %r' % i)
        code, log = s.shutdown()
        check(code == 0 and 'closed cleanly' in log, 'SHUTDOWN: ' + log)
        ok, out = nvheap_check(s.pool)
        check(ok, 'nvheap check of the capped pool: ' + out)
    finally:
        s.stop()


def main():
    return run_tests('test_grow', check, [test_capped_pool_answers_oom,
                                          test_benchmark_grows_the_pool])


if __name__ == '__main__':
    sys.exit(main())
