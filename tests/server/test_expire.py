#!/usr/bin/env python3
"""test_expire.py SERVER NVHEAP_TOOL -- expiry in nvkv-server, at the
server's level: times survive SIGKILL and SIGTERM (a key whose time passes
while the server is down is gone when it restarts, a key with time left
keeps it), active expiry removes 20,000 expired keys nobody reads while
the server keeps answering, and MULTI/EXEC is durable as one transaction
(every key of an acknowledged EXEC survives SIGKILL).
Exit status 0 only if every check passed."""
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from nvkvtest import Checks, free_port, parse, resp

SERVER, TOOL = sys.argv[1], sys.argv[2]
check = Checks()


class Server:
    def __init__(self, pool, *extra):
        self.port = free_port()
        self.p = subprocess.Popen(
            [SERVER, '--pool', pool, '--port', str(self.port)] + list(extra),
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        line = self.p.stdout.readline().decode()
        if 'listening' not in line:
            raise RuntimeError('server did not start: ' + line)
        self.p.stdout.readline()
        self.s = socket.create_connection(('127.0.0.1', self.port),
                                          timeout=30)
        self.buf = b''

    def _reply(self):
        while True:
            r, n = parse(self.buf)
            if r is not None:
                self.buf = self.buf[n:]
                return r
            d = self.s.recv(1 << 20)
            if not d:
                raise RuntimeError('connection closed')
            self.buf += d

    def cmd(self, *args):
        self.s.sendall(resp(*args))
        return self._reply()

    def pipeline(self, cmds):
        self.s.sendall(b''.join(resp(*c) for c in cmds))
        return [self._reply() for _ in cmds]

    def stop(self, sig):
        self.s.close()
        self.p.send_signal(sig)
        self.p.stdout.read()
        return self.p.wait(timeout=60)


def main():
    d = tempfile.mkdtemp(dir=os.environ.get('NVHEAP_TEST_DIR', '/dev/shm'),
                         prefix='nvkv-expire-test.')
    for index in ('hash', 'btree'):
        pool = os.path.join(d, index + '.pool')
        s = Server(pool, '--index', index, '--size', '128M')
        check(s.cmd('SET', 'soon', 'x', 'PX', 700) == '+OK', 'SET PX')
        check(s.cmd('SET', 'late', 'y', 'EX', 1000) == '+OK', 'SET EX')
        check(s.cmd('SET', 'never', 'z') == '+OK', 'SET')
        check(s.cmd('EXPIRE', 'never', 500) == 1, 'EXPIRE')
        check(s.cmd('PERSIST', 'never') == 1, 'PERSIST')
        # an EXEC's writes are acknowledged together and survive together
        r = s.pipeline([('MULTI',)] + [('SET', 'm:%d' % i, i)
                                        for i in range(100)] +
                       [('INCR', 'm:0'), ('EXEC',)])
        check(r[-1] and len(r[-1]) == 101 and r[-1][-1] == 1,
              '%s: EXEC of 101 commands: %r' % (index, r[-1][:3]))
        check(s.stop(signal.SIGKILL) == -signal.SIGKILL, 'SIGKILL')
        time.sleep(1.0)  # "soon" passes while the server is down
        s = Server(pool)
        check(s.cmd('GET', 'soon') == 'nil',
              '%s: a time that passed while down: gone' % index)
        ttl = s.cmd('TTL', 'late')
        check(900 <= ttl <= 1000, '%s: TTL after SIGKILL: %r' % (index, ttl))
        check(s.cmd('TTL', 'never') == -1, '%s: PERSIST survives' % index)
        check(s.cmd('GET', 'm:0') == b'1' and s.cmd('GET', 'm:99') == b'99',
              '%s: the acknowledged EXEC survives SIGKILL' % index)

        # active expiry: 20,000 keys with a short time, never read
        n = 20000
        rs = s.pipeline([('SET', 'e:%d' % i, 'v', 'PX', 300)
                         for i in range(n)])
        check(all(r == '+OK' for r in rs), '%s: %d SET PX' % (index, n))
        info = s.cmd('INFO', 'keyspace').decode()
        check('expires=' in info, '%s: INFO keyspace: %r' % (index, info))
        t0 = time.time()
        size = s.cmd('DBSIZE')
        while size > 102 and time.time() - t0 < 30:
            time.sleep(0.2)
            # the server answers while it expires keys
            check(s.cmd('PING') == '+PONG', 'PING during active expiry')
            size = s.cmd('DBSIZE')
        check(size == 102,
              '%s: active expiry removed %d keys in %.1f s (DBSIZE %r)' %
              (index, n, time.time() - t0, size))
        print('%s: active expiry of %d keys: %.1f s' % (index, n,
                                                       time.time() - t0))
        check(s.stop(signal.SIGTERM) == 0, '%s: SIGTERM' % index)
        p = subprocess.run([TOOL, 'check', pool], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
        check(p.returncode == 0, '%s: nvheap check: %s' %
              (index, p.stdout.decode()))
        s = Server(pool)
        ttl = s.cmd('TTL', 'late')
        check(900 <= ttl <= 1000, '%s: TTL after SIGTERM: %r' % (index, ttl))
        s.stop(signal.SIGTERM)
    shutil.rmtree(d, ignore_errors=True)  # (each run left 256 MiB)
    print('test_expire: %d checks, %d failures' % (check.n, len(check.failures)))
    return 1 if check.failures else 0


if __name__ == '__main__':
    sys.exit(main())
