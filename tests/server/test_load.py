#!/usr/bin/env python3
"""test_load.py SERVER NVHEAP_TOOL -- nvkv-server under load and abuse,
next to redis-server as the reference.

Many pipelined clients filling group commits (every client must get every
reply), redis-benchmark with 100 clients x 16 pipelined SETs, a client
reading 200 replies of 4 MiB (it reads, so it must not be cut off) and one
that reads them late, running out of file descriptors (no busy loop, no
log flood, the clients already in keep working), --maxclients, and the
limits on what an unauthenticated client may make the server buffer
(replies compared byte for byte with redis-server's).
Exit status 0 only if every check passed."""
import os
import re
import resource
import socket
import subprocess
import sys
import threading
import time

from nvkvtest import Checks, NvkvProc, Redis, free_port, resp, run_tests

SERVER, TOOL = sys.argv[1], sys.argv[2]
check = Checks()


def cpu_ticks(pid):
    """utime + stime of a process, in clock ticks (/proc/PID/stat)."""
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return int(fields[11]) + int(fields[12])


def Nvkv(d, name, *extra, preexec=None):
    return NvkvProc(SERVER, d, name, *extra, preexec=preexec)


def cli(port, *args):
    return subprocess.run(['redis-cli', '-p', str(port)] + list(args),
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=60).stdout


def exchange(port, data, timeout=2.0):
    """Send data, read until the server closes or `timeout` passes with
    nothing new; the bytes and whether the server closed."""
    s = socket.create_connection(('127.0.0.1', port), timeout=10)
    try:
        s.sendall(data)
    except OSError:
        pass
    buf, closed = b'', False
    s.settimeout(timeout)
    try:
        while True:
            d = s.recv(65536)
            if not d:
                closed = True
                break
            buf += d
    except socket.timeout:
        pass
    except OSError:
        closed = True
    s.close()
    return buf, closed


def pipelined(port, nclients, n, deadline=30):
    """nclients connections, each sending n inline SETs at once; the
    number of replies each got before the deadline."""
    got = [0] * nclients
    go = threading.Barrier(nclients)

    def client(k):
        s = socket.create_connection(('127.0.0.1', port), timeout=deadline)
        data = b''.join(b'SET c%d:%d v%d\r\n' % (k, i, i) for i in range(n))
        go.wait()  # all at once: they must meet in one loop pass
        t = threading.Thread(target=s.sendall, args=(data,))
        t.start()
        buf = b''
        end = time.monotonic() + deadline
        try:
            while buf.count(b'\r\n') < n and time.monotonic() < end:
                s.settimeout(max(0.1, end - time.monotonic()))
                d = s.recv(65536)
                if not d:
                    break
                buf += d
        except OSError:
            pass
        got[k] = buf.count(b'+OK\r\n')
        t.join()
        s.close()

    ts = [threading.Thread(target=client, args=(k,)) for k in range(nclients)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return got


def test_pipelined(d):
    """More than one batch (BATCH_MAX writes) from several connections in
    one pass: every connection with commands left goes on."""
    s = Nvkv(d, 'pipe')
    for nclients, n in ((2, 1500),) * 5 + ((8, 600),) * 3:
        t0 = time.monotonic()
        got = pipelined(s.port, nclients, n)
        check(got == [n] * nclients,
              '%d clients x %d pipelined SETs: replies %r'
              % (nclients, n, got))
        print('%d x %d pipelined SETs: %.2f s' %
              (nclients, n, time.monotonic() - t0), flush=True)
        check(cli(s.port, 'dbsize') == b'%d\n' % (nclients * n) or
              nclients != 2, 'DBSIZE after %d x %d' % (nclients, n))
    check(cli(s.port, 'get', 'c7:599') == b'v599\n', 'the last SET stands')
    check(s.stop() == 0, 'SIGTERM after the pipelines')


def bench(port):
    b = subprocess.run(['redis-benchmark', '-p', str(port), '-c', '100',
                        '-P', '16', '-t', 'set', '-n', '100000', '-q'],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=120)
    out = b.stdout.decode(errors='replace')
    m = re.search(r'SET: ([0-9.]+) requests per second', out)
    return b.returncode, (float(m.group(1)) if m else None), out


def test_benchmark(d):
    """redis-benchmark -c 100 -P 16: it completes, its key is there, and
    the rate is printed next to redis-server's (no speed assertion)."""
    s = Nvkv(d, 'bench')
    try:
        rc, rate, out = bench(s.port)
    except subprocess.TimeoutExpired:
        rc, rate, out = -1, None, 'timed out'
    check(rc == 0 and rate is not None and 'rror' not in out,
          'redis-benchmark -c 100 -P 16 on nvkv-server: %r' % out[-300:])
    # without -r every SET is of the one key, a 3-byte value
    check(cli(s.port, 'dbsize') == b'1\n' and
          cli(s.port, 'strlen', 'key:__rand_int__') == b'3\n',
          'the benchmark\'s key is there')
    info = cli(s.port, 'info').decode()
    m = re.search(r'total_commands_processed:(\d+)', info)
    check(m is not None and int(m.group(1)) >= 100000,
          'every benchmark SET was processed: %s' % (m and m.group(0)))
    check(s.stop() == 0, 'SIGTERM after the benchmark')
    r = Redis(d, 'bench-redis')
    _, rrate, _ = bench(r.port)
    r.stop()
    print('redis-benchmark -c 100 -P 16 -t set -n 100000: nvkv-server '
          '%s/s, redis-server %s/s (no persistence)' % (rate, rrate),
          flush=True)


def test_big_replies(d):
    """200 pipelined GETs of a 4 MiB value: a client that reads gets them
    all; one that reads only later gets them all too (the server stops
    executing its commands while its output is large, it does not grow
    without bound or cut it off)."""
    s = Nvkv(d, 'big', '--size', '64M')
    val = b'v' * (4 << 20)
    r, _ = exchange(s.port, resp('SET', 'big', val))
    check(r == b'+OK\r\n', 'SET of 4 MiB')
    one = b'$%d\r\n' % len(val) + val + b'\r\n'
    n = 200
    for late in (False, True):
        c = socket.create_connection(('127.0.0.1', s.port), timeout=20)
        c.sendall(b'GET big\r\n' * n)
        if late:
            time.sleep(1.5)
            # a client not reading: the server still serves others
            check(cli(s.port, 'ping') == b'PONG\n',
                  'PING while a client does not read')
            with open('/proc/%d/status' % s.p.pid) as f:
                rss = int(re.search(r'VmRSS:\s+(\d+)', f.read()).group(1))
            # far below the 800 MiB the replies would take (the old
            # code held 1.6 GB); ASan's quarantine alone may keep up to
            # 256 MiB of freed memory resident
            check(rss < 450 << 10, 'server RSS %d KiB while a client '
                  'does not read 800 MiB of replies' % rss)
        total, want = 0, n * len(one)
        end = time.monotonic() + 30
        try:
            while total < want and time.monotonic() < end:
                b = c.recv(1 << 20)
                if not b:
                    break
                total += len(b)
        except OSError:
            pass
        c.close()
        check(total == want, '%s reader: %d of %d replies of 4 MiB' %
              ('late' if late else 'a', total // len(one), n))
    check(s.stop() == 0, 'SIGTERM after the big replies')


def flood(port, count):
    """Open count connections; the sockets (some may be refused)."""
    socks = []
    for _ in range(count):
        try:
            socks.append(socket.create_connection(('127.0.0.1', port),
                                                  timeout=5))
        except OSError:
            pass
    return socks


def rejected(socks, timeout=2.0):
    """How the flood went: (answered PONG, got the maxclients error,
    anything else).  What a socket already holds is read first: a PING
    sent to a connection the server has closed may reset it and lose the
    error it was sent."""
    ok = err = other = 0
    for c in socks:
        buf = b''
        try:
            c.settimeout(0.05)
            buf = c.recv(100)
        except OSError:
            pass
        if not buf:
            try:
                c.sendall(b'PING\r\n')
                c.settimeout(timeout)
                while b'\r\n' not in buf:
                    b = c.recv(100)
                    if not b:
                        break
                    buf += b
            except OSError:
                pass
        if buf == b'+PONG\r\n':
            ok += 1
        elif buf == b'-ERR max number of clients reached\r\n':
            err += 1
        else:
            other += 1
    return ok, err, other


def test_fds(d):
    """Out of file descriptors: the extra connections are answered and
    closed, the server does not spin or flood its log, and the clients
    already connected keep working."""
    # (a) started under a low ulimit -n: maxclients comes down to fit
    lim = 64

    def low():
        resource.setrlimit(resource.RLIMIT_NOFILE, (lim, lim))

    s = Nvkv(d, 'ulimit', preexec=low)
    m = re.search(rb'maxclients:(\d+)', cli(s.port, 'info', 'clients'))
    check(m is not None and int(m.group(1)) <= lim - 32,
          'maxclients lowered to fit ulimit -n %d: %r' %
          (lim, m and m.group(0)))
    held = flood(s.port, 100)
    t0 = cpu_ticks(s.p.pid)
    time.sleep(1.0)
    spent = cpu_ticks(s.p.pid) - t0
    ok, err, other = rejected(held)
    check(spent < 30, 'ulimit -n %d, 100 connections: %d ticks of CPU in 1 s'
          % (lim, spent))
    check(ok >= 1 and ok + err == len(held) and err >= 1,
          'ulimit -n %d: %d PONG, %d maxclients errors, %d other (of %d)'
          % (lim, ok, err, other, len(held)))
    for c in held:
        c.close()
    check(s.stop() == 0, 'SIGTERM after the low-ulimit flood')
    # (b) the limit lowered under a running server: accept() fails with
    # EMFILE, the backlog must not make it spin
    s = Nvkv(d, 'emfile')
    keep = flood(s.port, 3)
    ok, _, _ = rejected(keep)
    check(ok == 3, 'three clients before the limit')
    resource.prlimit(s.p.pid, resource.RLIMIT_NOFILE, (lim, lim))
    held = flood(s.port, 120)
    t0 = cpu_ticks(s.p.pid)
    size0 = os.path.getsize(s.logpath)
    time.sleep(1.0)
    spent = cpu_ticks(s.p.pid) - t0
    logged = os.path.getsize(s.logpath) - size0
    check(spent < 30, 'EMFILE flood: %d ticks of CPU in 1 s' % spent)
    check(logged < 1000, 'EMFILE flood: %d bytes of log in 1 s' % logged)
    ok, err, other = rejected(held)
    check(ok >= 1 and err >= 1 and ok + err == len(held),
          'EMFILE: %d PONG, %d maxclients errors, %d other (of %d)'
          % (ok, err, other, len(held)))
    for c in held:
        c.close()
    ok, _, _ = rejected(keep)
    check(ok == 3, 'the clients already connected keep working')
    for c in keep:
        c.close()
    time.sleep(0.2)
    check(cli(s.port, 'set', 'after', 'emfile') == b'OK\n',
          'new clients are served once descriptors are free')
    check(s.stop() == 0, 'SIGTERM after the EMFILE flood')
    check(s.log().count('\n') < 20, 'EMFILE: the log stays short: %r'
          % s.log()[-500:])


def test_maxclients(d):
    """--maxclients 5: the 6th connection gets redis's message byte for
    byte and is closed; a free slot is given to the next."""
    got = {}
    for name, cls in (('nvkv', Nvkv), ('redis', Redis)):
        s = cls(d, 'maxc-' + name, '--maxclients', '5')
        five = flood(s.port, 5)
        ok, _, _ = rejected(five)
        check(ok == 5, '%s --maxclients 5: five clients served' % name)
        # nothing sent: the server's close must not reset the error away
        got[name] = exchange(s.port, b'', timeout=1.0)
        five.pop().close()
        time.sleep(0.2)
        r, _ = exchange(s.port, b'PING\r\n', timeout=0.5)
        check(r == b'+PONG\r\n', '%s: a freed slot is taken: %r' % (name, r))
        for c in five:
            c.close()
        s.stop()
    check(got['nvkv'] == (b'-ERR max number of clients reached\r\n', True),
          'the 6th client: %r' % (got['nvkv'],))
    check(got['nvkv'] == got['redis'], 'the 6th client: nvkv %r, redis %r'
          % (got['nvkv'], got['redis']))


def test_unauth(d):
    """With --requirepass, an unauthenticated client may not declare more
    than 10 arguments or a bulk longer than 16384 bytes; the replies (and
    whether the connection closes) match redis-server's."""
    cases = [
        b'*11\r\n',
        b'*10\r\n$4\r\nMGET\r\n' + b'$1\r\nx\r\n' * 9,
        b'*2000000\r\n',
        b'*3000000000\r\n',
        b'*1\r\n$16385\r\n',
        b'*2\r\n$3\r\nGET\r\n$16384\r\n' + b'y' * 16384 + b'\r\n',
        b'*2\r\n$3\r\nGET\r\n$100000000\r\n',
        b'*1\r\n$600000000\r\n',
        b'*1\r\n$-3\r\n',
        b'PING\r\n*11\r\n',
        b'MGET a b c d e f g h i j k l\r\n',
        b'x' * 70000,
        resp('AUTH', 'pw') + resp('MGET', *['k%d' % i for i in range(20)]),
        resp('AUTH', 'pw') + resp('SET', 'big', 'z' * 20000) +
        resp('STRLEN', 'big'),
        resp('AUTH', 'nope') + b'*11\r\n',
    ]
    out = {}
    for name, cls in (('nvkv', Nvkv), ('redis', Redis)):
        s = cls(d, 'unauth-' + name, '--requirepass', 'pw')
        out[name] = [exchange(s.port, c, timeout=1.0) for c in cases]
        s.stop()
    for c, a, b in zip(cases, out['nvkv'], out['redis']):
        check(a == b, 'unauthenticated %r: nvkv %r, redis %r'
              % (c[:40], (a[0][:100], a[1]), (b[0][:100], b[1])))
    check(out['nvkv'][0] ==
          (b'-ERR Protocol error: unauthenticated multibulk length\r\n', True),
          'unauthenticated *11: %r' % (out['nvkv'][0],))
    check(out['nvkv'][4] ==
          (b'-ERR Protocol error: unauthenticated bulk length\r\n', True),
          'unauthenticated $16385: %r' % (out['nvkv'][4],))


def test_rerun_order(d):
    """A failed batch is re-run command by command from where the
    connection joined it: a command that ran at once after that point is
    answered in its place, not lost, and a write refused before an AUTH of
    the same pass is refused again, not run."""
    s = Nvkv(d, 'rerun', '--size', '8M', '--max-size', 'fixed',
             '--requirepass', 'pw')
    r, _ = exchange(s.port, resp('SET', 'a', '1') + resp('PING') +
                    resp('AUTH', 'pw') + resp('SET', 'big', 'x' * (12 << 20))
                    + resp('GET', 'a'), timeout=1.5)
    replies = r.split(b'\r\n')
    check(len(replies) == 6 and replies[0].startswith(b'-NOAUTH') and
          replies[1] == b'-NOAUTH Authentication required.' and
          replies[2] == b'+OK' and replies[3].startswith(b'-OOM') and
          replies[4] == b'$-1',
          'a re-run keeps the order and the AUTH state: %r' % r[:300])
    r, _ = exchange(s.port, resp('AUTH', 'pw') + resp('GET', 'a'))
    check(r == b'+OK\r\n$-1\r\n', 'the refused write was not run: %r' % r)
    check(s.stop() == 0, 'SIGTERM after the re-run')


def main():
    return run_tests('test_load', check,
                     [test_pipelined, test_benchmark, test_big_replies,
                      test_fds, test_maxclients, test_unauth,
                      test_rerun_order],
                     only=sys.argv[3:])  # names of tests to run (all if none)


if __name__ == '__main__':
    sys.exit(main())
