#!/usr/bin/env python3
"""test_server.py SERVER NVHEAP_TOOL -- nvkv-server as a user meets it.

Starts the real server on a free loopback port with a fresh pool and
drives it with the real redis-cli and redis-benchmark: SET/GET/DEL,
binary values, pipelined input from a file (redis-cli --pipe), counters,
MSET/MGET, SCAN and KEYS, AUTH with --requirepass, malformed input over a
raw socket (the server answers an error or closes, and keeps serving
everyone else), writes that survive a SIGKILL once acknowledged, SIGTERM
and SHUTDOWN closing the pool cleanly (`nvheap check` consistent).
Exit status 0 only if every check passed."""
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time

from nvkvtest import Checks, free_port, resp

SERVER, TOOL = sys.argv[1], sys.argv[2]
check = Checks()


class Server:
    def __init__(self, pool, *extra):
        self.port = free_port()
        self.pool = pool
        self.p = subprocess.Popen(
            [SERVER, '--pool', pool, '--port', str(self.port)] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.p.stdout.readline().decode()
        if 'listening' not in line:
            raise RuntimeError('server did not start: ' + line +
                               self.p.stdout.read().decode())
        self.p.stdout.readline()  # "connect with: ..."

    def cli(self, *args, stdin=None, raw=False):
        cmd = ['redis-cli', '-p', str(self.port)] + (['--raw'] if raw else [])
        p = subprocess.run(cmd + list(args), input=stdin,
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=60)
        return p.stdout

    def stop(self, sig=signal.SIGTERM):
        self.p.send_signal(sig)
        out = self.p.stdout.read().decode()
        return self.p.wait(timeout=30), out


def sock(port):
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    return s


def roundtrip(port, data, want=1):
    """Send data, read until the server closes or `want` replies arrive."""
    s = sock(port)
    s.sendall(data)
    buf = b''
    s.settimeout(2)
    try:
        while buf.count(b'\r\n') < want:
            d = s.recv(65536)
            if not d:
                break
            buf += d
    except socket.timeout:
        pass
    s.close()
    return buf


def consistent(pool):
    p = subprocess.run([TOOL, 'check', pool], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT)
    return p.returncode == 0, p.stdout.decode()


def big_cascades(d):
    """FLUSHALL of 20,000 keys, and DEL of 6,000 keys in one command: each
    frees a large object graph in bounded steps (a 5,000-key FLUSHALL once
    left a pool no read-write open could take).  The replies are true, the
    store keeps serving, and the pool reopens after SIGKILL and SIGTERM."""
    for index in ('hash', 'btree'):
        pool = os.path.join(d, 'flush-' + index + '.pool')
        s = Server(pool, '--index', index, '--size', '256M')
        n = 20000
        pipe = b''.join(resp('SET', 'f:%d' % i, 'value-%d' % i)
                        for i in range(n))
        out = s.cli('--pipe', stdin=pipe).decode()
        check('errors: 0, replies: %d' % n in out,
              '%s: loading %d keys: %s' % (index, n, out.strip()))
        check(s.cli('dbsize') == b'%d\n' % n, '%s: DBSIZE %d' % (index, n))
        check(s.cli('flushall') == b'OK\n',
              '%s: FLUSHALL of %d keys' % (index, n))
        check(s.cli('dbsize') == b'0\n', '%s: DBSIZE after FLUSHALL' % index)
        check(s.cli('set', 'after', 'flush') == b'OK\n',
              '%s: SET after FLUSHALL' % index)
        # one command deleting 6,000 keys (one transaction)
        m = 6000
        pipe = b''.join(resp('SET', 'd:%d' % i, 'v%d' % i) for i in range(m))
        s.cli('--pipe', stdin=pipe)
        r = roundtrip(s.port, resp('DEL', *['d:%d' % i for i in range(m)]))
        check(r == b':%d\r\n' % m, '%s: DEL of %d keys: %r' % (index, m, r[:80]))
        check(s.cli('dbsize') == b'1\n', '%s: DBSIZE after DEL' % index)
        code, _ = s.stop(signal.SIGKILL)
        s = Server(pool)
        check(s.cli('get', 'after') == b'flush\n',
              '%s: reopened read-write after SIGKILL' % index)
        check(s.cli('flushall') == b'OK\n' and s.cli('dbsize') == b'0\n',
              '%s: FLUSHALL again' % index)
        code, out = s.stop(signal.SIGTERM)
        check(code == 0, '%s: SIGTERM after the flushes: %s' % (index, out))
        ok, out = consistent(pool)
        check(ok, '%s: nvheap check after the flushes: %s' % (index, out))
        s = Server(pool)
        check(s.cli('dbsize') == b'0\n', '%s: reopens after SIGTERM' % index)
        s.stop(signal.SIGTERM)


def main():
    d = tempfile.mkdtemp(dir=os.environ.get('NVHEAP_TEST_DIR', '/dev/shm'),
                         prefix='nvkv-server-test.')
    for index in ('hash', 'btree'):
        pool = os.path.join(d, index + '.pool')
        s = Server(pool, '--index', index, '--size', '128M')
        # basics with redis-cli
        check(s.cli('ping') == b'PONG\n', 'PING')
        check(s.cli('set', 'greeting', 'hello world') == b'OK\n', 'SET')
        check(s.cli('get', 'greeting') == b'hello world\n', 'GET')
        check(s.cli('get', 'nothing') == b'\n', 'GET of a missing key')
        check(s.cli('exists', 'greeting', 'nothing') == b'1\n', 'EXISTS')
        check(s.cli('del', 'greeting', 'nothing') == b'1\n', 'DEL')
        check(s.cli('get', 'greeting') == b'\n', 'GET after DEL')
        check(s.cli('incr', 'n') == b'1\n', 'INCR')
        check(s.cli('incrby', 'n', '41') == b'42\n', 'INCRBY')
        check(s.cli('decr', 'n') == b'41\n', 'DECR')
        check(b'not an integer' in s.cli('incrby', 'n', 'x'), 'INCRBY x')
        check(s.cli('append', 'a', 'foo') == b'3\n', 'APPEND new')
        check(s.cli('append', 'a', 'bar') == b'6\n', 'APPEND')
        check(s.cli('strlen', 'a') == b'6\n', 'STRLEN')
        check(s.cli('mset', 'k1', 'v1', 'k2', 'v2') == b'OK\n', 'MSET')
        check(s.cli('mget', 'k1', 'zz', 'k2') == b'v1\n\nv2\n', 'MGET')
        check(s.cli('set', 'k1', 'x', 'nx') == b'\n', 'SET NX on a key')
        check(s.cli('set', 'k9', 'x', 'xx') == b'\n', 'SET XX on no key')
        check(s.cli('set', 'k1', 'w', 'get') == b'v1\n', 'SET GET')
        check(s.cli('set', 'e', 'v', 'ex', '10') == b'OK\n', 'SET EX')
        check(s.cli('dbsize') == b'5\n', 'DBSIZE')
        keys = sorted(s.cli('keys', 'k*').split())
        check(keys == [b'k1', b'k2'], 'KEYS k*: %r' % keys)
        check(s.cli('select', '0') == b'OK\n', 'SELECT 0')
        check(b'out of range' in s.cli('select', '1'), 'SELECT 1')
        check(b'unknown command' in s.cli('frobnicate', 'x'), 'unknown')
        check(b'wrong number of arguments' in s.cli('get'), 'arity')
        info = s.cli('info').decode()
        check('# nvheap' in info and 'db0:keys=5' in info, 'INFO')
        # binary values through redis-cli -x (stdin as the last argument)
        blob = bytes(random.Random(1).randrange(256) for _ in range(100000))
        check(s.cli('-x', 'set', 'bin', stdin=blob) == b'OK\n', 'SET binary')
        got = s.cli('get', 'bin', raw=True)
        check(got == blob + b'\n', 'GET binary (%d bytes)' % len(got))
        check(s.cli('strlen', 'bin') == b'100000\n', 'STRLEN binary')
        # pipelined input from a file
        n = 2000
        pipe = b''.join(resp('SET', 'p:%d' % i, 'v%d' % i) for i in range(n))
        pipe += b''.join(resp('INCR', 'pc') for _ in range(n))
        out = s.cli('--pipe', stdin=pipe).decode()
        check(re.search(r'errors: 0, replies: %d' % (2 * n), out) is not None,
              'redis-cli --pipe: ' + out.strip().replace('\n', ' | '))
        check(s.cli('get', 'pc') == b'%d\n' % n, 'pipelined INCRs')
        check(s.cli('get', 'p:1234') == b'v1234\n', 'pipelined SET')
        # SCAN visits every key
        seen, cur = set(), '0'
        for _ in range(10000):
            out = s.cli('scan', cur, 'match', 'p:*', 'count', '100').split(b'\n')
            cur = out[0].decode()
            seen.update(k for k in out[1:] if k)
            if cur == '0':
                break
        check(len(seen) == n, 'SCAN saw %d of %d keys' % (len(seen), n))
        # redis-benchmark, as a user would run it
        b = subprocess.run(['redis-benchmark', '-p', str(s.port), '-t',
                            'set,get', '-n', '20000', '-q'],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=300)
        out = b.stdout.decode()
        lines = [l.split('\r')[-1] for l in out.split('\n') if l.strip()]
        rates = {m.group(1): float(m.group(2)) for l in lines
                 for m in [re.match(r'\s*(SET|GET): ([0-9.]+) requests', l)]
                 if m}
        check(b.returncode == 0 and 'SET' in rates and 'GET' in rates and
              'rror' not in out, 'redis-benchmark: ' + ' | '.join(lines))
        print('redis-benchmark (%s index, debug build): SET %.0f/s, GET %.0f/s'
              % (index, rates.get('SET', 0), rates.get('GET', 0)), flush=True)
        # its default test list (every type): every test runs, and
        # redis-benchmark prints no "Error from server"
        b = subprocess.run(['redis-benchmark', '-p', str(s.port), '-n',
                            '2000', '-q'], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, timeout=600)
        out = b.stdout.decode()
        lines = [l.split('\r')[-1] for l in out.split('\n') if l.strip()]
        done = [l.split(':')[0] for l in lines if 'requests per second' in l]
        want = ['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'INCR', 'LPUSH',
                'RPUSH', 'LPOP', 'RPOP', 'SADD', 'HSET', 'SPOP', 'ZADD',
                'ZPOPMIN', 'LRANGE_100 (first 100 elements)',
                'LRANGE_300 (first 300 elements)',
                'LRANGE_500 (first 500 elements)',
                'LRANGE_600 (first 600 elements)', 'MSET (10 keys)']
        check(b.returncode == 0 and all(w in done for w in want) and
              'rror' not in out,
              'redis-benchmark, default tests: %s' % ' | '.join(lines)[-600:])
        # malformed input: an error or a close, never a crash
        for bad in (b'*1\r\n$99999999999\r\n', b'*2000000\r\n',
                    b'*1\r\nxx\r\n', b'*1\r\n$3\r\nabcde\r\n',
                    b'"unbalanced\r\n', b'x' * 70000,
                    b'*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$%d\r\n' % (80 << 20)):
            r = roundtrip(s.port, bad)
            check(r == b'' or r.startswith(b'-ERR'),
                  'malformed %r...: %r' % (bad[:20], r[:80]))
        rng = random.Random(7)
        for i in range(30):
            garbage = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 4000)))
            roundtrip(s.port, garbage)
        check(s.cli('ping') == b'PONG\n', 'alive after garbage')
        check(s.cli('get', 'p:7') == b'v7\n', 'data intact after garbage')
        # acknowledged writes survive SIGKILL
        for i in range(20):
            r = roundtrip(s.port, resp('SET', 'kill:%d' % i, 'val%d' % i))
            check(r == b'+OK\r\n', 'SET before kill')
        code, _ = s.stop(signal.SIGKILL)
        s = Server(pool)
        for i in range(20):
            check(s.cli('get', 'kill:%d' % i) == b'val%d\n' % i,
                  'acknowledged SET kill:%d survives SIGKILL' % i)
        check(s.cli('flushall') == b'OK\n', 'FLUSHALL')
        check(s.cli('dbsize') == b'0\n', 'DBSIZE after FLUSHALL')
        check(s.cli('set', 'last', 'one') == b'OK\n', 'SET after FLUSHALL')
        # SIGTERM: a clean close
        code, out = s.stop(signal.SIGTERM)
        check(code == 0 and 'closed cleanly' in out, 'SIGTERM: ' + out)
        ok, out = consistent(pool)
        check(ok, 'nvheap check after SIGTERM: ' + out)
        info = subprocess.run([TOOL, 'info', pool], stdout=subprocess.PIPE)
        check(b'clean' in info.stdout and b'dirty' not in info.stdout,
              'nvheap info says clean')
    big_cascades(d)
    # group commit: writes that arrive together share one transaction; when
    # it fails (a full pool: a fixed one, which cannot grow for the big
    # value), each write is run alone and answered alone
    pool = os.path.join(d, 'small.pool')
    s = Server(pool, '--size', '8M', '--max-size', 'fixed')
    big = b'x' * (12 << 20)
    r = roundtrip(s.port, resp('SET', 'a', '1') + resp('SET', 'big', big) +
                  resp('SET', 'b', '2') + resp('GET', 'a'), want=4)
    replies = r.split(b'\r\n')
    check(len(replies) >= 5 and replies[0] == b'+OK' and
          replies[1].startswith(b'-OOM') and
          b'(8 MiB, a fixed size) is full' in replies[1] and
          replies[2] == b'+OK' and replies[3:5] == [b'$1', b'1'],
          'a failed batch is re-run write by write: %r' % r[:300])
    check(s.cli('get', 'b') == b'2\n' and s.cli('get', 'big') == b'\n',
          'after the re-run: the small writes stand, the big one does not')
    info = s.cli('info').decode()
    check('group_commit_reruns:1' in info, 'INFO counts the re-run')
    # scons test runs this suite twice: as the backend chooses (the
    # tests' pools are ordinary files: prepared batches) and with
    # NVKV_PREPARE=0
    want = os.environ.get('NVKV_PREPARE')
    check(want is None or 'group_commit_prepared:%s' % want in info,
          'INFO says whether batches are prepared (%s)' % want)
    code, out = s.stop()
    check(code == 0, 'SIGTERM after a re-run')
    ok, out = consistent(pool)
    check(ok, 'nvheap check after a re-run: ' + out)
    # AUTH and SHUTDOWN
    pool = os.path.join(d, 'auth.pool')
    s = Server(pool, '--requirepass', 's3cret')
    check(b'NOAUTH' in s.cli('get', 'x'), 'NOAUTH before AUTH')
    check(b'WRONGPASS' in s.cli('auth', 'nope'), 'AUTH with a wrong password')
    r = roundtrip(s.port, resp('AUTH', 's3cret') + resp('SET', 'a', 'b') +
                  resp('GET', 'a'), want=3)
    check(r == b'+OK\r\n+OK\r\n$1\r\nb\r\n', 'AUTH then commands: %r' % r)
    check(b'OK' in s.cli('-a', 's3cret', '--no-auth-warning', 'set', 'c', 'd'),
          'redis-cli -a')
    s.cli('-a', 's3cret', '--no-auth-warning', 'shutdown')
    code, out = s.p.wait(timeout=30), s.p.stdout.read().decode()
    check(code == 0 and 'closed cleanly' in out, 'SHUTDOWN: ' + out)
    ok, out = consistent(pool)
    check(ok, 'nvheap check after SHUTDOWN: ' + out)
    subprocess.run(['rm', '-rf', d])
    print('test_server: %d checks, %d failures' % (check.n, len(check.failures)))
    return 1 if check.failures else 0


if __name__ == '__main__':
    sys.exit(main())
