"""nvkvtest.py -- what the server tests (tests/server/test_*.py) share: a
counter of checks that remembers the failed ones, a free loopback port,
a server process logging to a file, a runner of test functions, and
requests in RESP."""
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time


class Checks:
    """check(cond, what): count a check; a false one is printed and kept
    in check.failures.  check.n is the number made."""

    def __init__(self):
        self.n = 0
        self.failures = []

    def __call__(self, cond, what):
        self.n += 1
        if not cond:
            self.failures.append(what)
            print('FAIL:', what, flush=True)
        return cond


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


procs = []  # every server started, stopped at the end whatever happened


class Proc:
    """A server process whose output goes to a file (a flood of log lines
    must not block it on a full pipe, and can be counted)."""

    def started(self):
        procs.append(self)
        self.wait_up()

    def ping(self):
        try:
            with socket.create_connection(('127.0.0.1', self.port),
                                          timeout=2) as s:
                s.sendall(b'PING\r\n')
                return s.recv(100)
        except OSError:
            return b''

    def wait_up(self):
        for _ in range(200):
            if self.p.poll() is not None:
                raise RuntimeError('server exited: ' + self.log())
            r = self.ping()
            if r.startswith(b'+PONG') or r.startswith(b'-NOAUTH'):
                return
            time.sleep(0.05)
        raise RuntimeError('server did not come up: ' + self.log())

    def log(self):
        with open(self.logpath, 'rb') as f:
            return f.read().decode(errors='replace')

    def stop(self):
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            return self.p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.p.kill()
            return self.p.wait()


class NvkvProc(Proc):
    """nvkv-server (program `server`) on a 256 MiB pool d/NAME.pool, its
    log in d/NAME.log."""

    def __init__(self, server, d, name, *extra, preexec=None):
        self.port = free_port()
        self.pool = os.path.join(d, name + '.pool')
        self.logpath = os.path.join(d, name + '.log')
        self.logf = open(self.logpath, 'wb')
        self.p = subprocess.Popen(
            [server, '--pool', self.pool, '--port', str(self.port),
             '--size', '256M'] + list(extra),
            stdout=self.logf, stderr=subprocess.STDOUT, preexec_fn=preexec)
        self.started()


class Redis(Proc):
    """redis-server, nothing saved, in d/NAME, its log in d/NAME.log."""

    def __init__(self, d, name, *extra):
        self.port = free_port()
        self.logpath = os.path.join(d, name + '.log')
        self.logf = open(self.logpath, 'wb')
        wd = os.path.join(d, name)
        os.makedirs(wd, exist_ok=True)
        self.p = subprocess.Popen(
            ['redis-server', '--port', str(self.port), '--bind', '127.0.0.1',
             '--save', '', '--appendonly', 'no', '--dir', wd] + list(extra),
            stdout=self.logf, stderr=subprocess.STDOUT)
        self.started()


class Conn:
    """A connection sending pipelines of commands and reading their
    replies (parsed)."""

    def __init__(self, port, timeout=60):
        self.s = socket.create_connection(('127.0.0.1', port),
                                          timeout=timeout)
        self.buf = b''
        self.pos = 0

    def reply(self):
        while True:
            r, n = parse(self.buf, self.pos)
            if n:
                self.pos = n
                if self.pos > (1 << 20):
                    self.buf, self.pos = self.buf[self.pos:], 0
                return r
            d = self.s.recv(1 << 20)
            if not d:
                raise RuntimeError('connection closed')
            self.buf += d

    def cmd(self, *args):
        self.s.sendall(resp(*args))
        return self.reply()

    def pipeline(self, cmds):
        self.s.sendall(b''.join(resp(*c) for c in cmds))
        return [self.reply() for _ in cmds]

    def close(self):
        self.s.close()


def run_tests(name, check, tests, only=()):
    """Run each t(d) of tests (those named in `only`, if any) with d a
    fresh directory (in $NVHEAP_TEST_DIR, or /dev/shm): one that raises
    is a failure, not a stop; print each one's time; then kill every
    server left, remove the directory, print the count of checks and
    return the exit status (0: every check passed)."""
    d = tempfile.mkdtemp(dir=os.environ.get('NVHEAP_TEST_DIR', '/dev/shm'),
                         prefix='nvkv-%s.' % name)
    try:
        for t in tests:
            if only and t.__name__ not in only:
                continue
            t0 = time.monotonic()
            try:
                t(d)
            except Exception as e:  # a broken test is a failure, not a stop
                check(False, '%s: %r' % (t.__name__, e))
            print('%s: %.1f s' % (t.__name__, time.monotonic() - t0),
                  flush=True)
    finally:
        for p in procs:
            if p.p.poll() is None:
                p.p.kill()
                p.p.wait()
        shutil.rmtree(d, ignore_errors=True)
    print('%s: %d checks, %d failures' % (name, check.n, len(check.failures)))
    return 1 if check.failures else 0


def resp(*args):
    """A command as a RESP multibulk; arguments are bytes or str()-ed."""
    out = b'*%d\r\n' % len(args)
    for a in args:
        a = a if isinstance(a, bytes) else str(a).encode()
        out += b'$%d\r\n%s\r\n' % (len(a), a)
    return out


def parse(b, i=0):
    """One RESP2 reply from b[i:]: (value, end) or (None, 0)."""
    if i >= len(b):
        return None, 0
    e = b.find(b'\r\n', i)
    if e < 0:
        return None, 0
    t, line = b[i:i + 1], b[i + 1:e]
    if t in (b'+', b'-'):
        return (t + line).decode(), e + 2
    if t == b':':
        return int(line), e + 2
    if t == b'$':
        n = int(line)
        if n < 0:
            return 'nil', e + 2
        if len(b) < e + 2 + n + 2:
            return None, 0
        return b[e + 2:e + 2 + n], e + 4 + n
    if t == b'*':
        n = int(line)
        j, out = e + 2, []
        for _ in range(max(n, 0)):
            v, j2 = parse(b, j)
            if j2 == 0:
                return None, 0
            out.append(v)
            j = j2
        return out, j
    raise RuntimeError('bad reply %r' % b[i:i + 40])
