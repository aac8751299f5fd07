#!/usr/bin/env python3
"""nvheap as a user gets it: `scons install`, then a project outside the
tree built against the installed copy with pkg-config.

Usage: test_install.py SOURCE_ROOT

1. Copies the source tree (without build/ and .git) to a scratch
   directory and runs `scons -j2 mode=release PREFIX=P install` there:
   P gets the header, both libraries, nvheap.pc and the nvheap tool.
2. Outside any tree, builds a project from examples/list's stack.c,
   stack.h and crashtest.c plus a one-line main, with
   `pkg-config --cflags --libs nvheap` and nothing else of the source:
   - as a program linked with the shared library: 0 failures;
   - the same with the planted bug (-DSTACK_PLANTED_BUG): caught, exit 1;
   - as a program linked with the static library (pkg-config --static);
   - as a shared object run by the installed `nvheap crashtest`.
3. The missing-flush detector as a user runs it: a program that stores
   into its pool and closes without flushing, under NVHEAP_PERSIST=sim,
   is reported (the pool bytes and the durable point); with the flush,
   nothing is.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

failures = 0


def check(cond, what):
    global failures
    print(('ok   ' if cond else 'FAIL ') + what)
    failures += not cond
    return cond


def run(args, env=None, cwd=None):
    p = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, env=env, cwd=cwd, timeout=900)
    return p.returncode, p.stdout, p.stderr


MAIN = '''#include <nvheap.h>
int main(int argc, char **argv)
{
	return nvh_crashtest_main(argc, argv, nvh_crashtests);
}
'''

NOFLUSH = r'''#include <stdio.h>
#include <string.h>
#include <nvheap.h>
int main(int argc, char **argv)
{
	nvh_pool *p = nvh_create(argv[1], "nf", NVH_MIN_POOL_SIZE, NULL);
	if (!p) {
		fprintf(stderr, "create: %s\n", nvh_errormsg());
		return 1;
	}
	if (nvh_alloc(p, nvh_root_slot(p), 64, 0, NULL, NULL)) {
		fprintf(stderr, "alloc: %s\n", nvh_errormsg());
		return 1;
	}
	char *d = nvh_direct(p, *nvh_root_slot(p));
	strcpy(d, "not yet durable");
#ifdef FLUSHED
	nvh_persist(p, d, 64);
#endif
	return nvh_close(p) ? 1 : 0;
}
'''

STATES = re.compile(r'^stack-push-pop: (\d+) crash states, (\d+) failures$',
                    re.M)


def crashtest_ok(rc, out, want_rc, what):
    m = STATES.search(out)
    n = int(m.group(1)) if m else 0
    f = int(m.group(2)) if m else -1
    if want_rc == 0:
        return check(rc == 0 and f == 0 and n >= 5000,
                     '%s: exit %d, %d crash states, %d failures' %
                     (what, rc, n, f))
    return check(rc == want_rc and f > 0,
                 '%s: exit %d, %d crash states, %d failures' %
                 (what, rc, n, f))


def main():
    root = sys.argv[1]
    with tempfile.TemporaryDirectory(prefix='nvheap-install.') as tmp:
        src = os.path.join(tmp, 'src')
        prefix = os.path.join(tmp, 'prefix')
        shutil.copytree(root, src, ignore=shutil.ignore_patterns(
            'build', '.git', '.sconsign*', 'data', '__pycache__'))
        env = dict(os.environ)
        env.pop('NVHEAP_PERSIST', None)
        rc, out, err = run(['scons', '-Q', '-j2', 'mode=release',
                            'PREFIX=' + prefix, 'install'], env=env, cwd=src)
        if not check(rc == 0, 'scons install PREFIX=%s: exit %d' %
                     (prefix, rc)):
            print(out[-2000:] + err[-2000:])
            return 1
        for f in ('include/nvheap.h', 'include/nvheap/crashtest.h',
                  'lib/libnvheap.a', 'lib/libnvheap.so',
                  'lib/pkgconfig/nvheap.pc', 'bin/nvheap'):
            check(os.path.exists(os.path.join(prefix, f)),
                  'installed ' + f)

        # The project: nothing of the source tree but three files of the
        # example, copied, and pkg-config.
        proj = os.path.join(tmp, 'myproject')
        os.mkdir(proj)
        for f in ('stack.c', 'stack.h', 'crashtest.c'):
            shutil.copy(os.path.join(root, 'examples', 'list', f), proj)
        with open(os.path.join(proj, 'main.c'), 'w') as f:
            f.write(MAIN)
        with open(os.path.join(proj, 'noflush.c'), 'w') as f:
            f.write(NOFLUSH)
        env['PKG_CONFIG_PATH'] = os.path.join(prefix, 'lib', 'pkgconfig')
        rc, ver, _ = run(['pkg-config', '--modversion', 'nvheap'], env=env)
        check(rc == 0 and ver.strip(), 'pkg-config finds nvheap %s' %
              ver.strip())
        flags = run(['pkg-config', '--cflags', '--libs', 'nvheap'],
                    env=env)[1].split()
        sflags = run(['pkg-config', '--static', '--cflags', '--libs',
                      'nvheap'], env=env)[1].split()
        check(not any(root in x for x in flags + sflags),
              'the flags name only the installed copy: ' + ' '.join(flags))
        rpath = '-Wl,-rpath,' + os.path.join(prefix, 'lib')
        cc = [os.environ.get('CC', 'cc'), '-std=gnu11', '-Wall', '-Werror',
              '-O1', '-g']
        builds = {
            'ct': cc + ['-o', 'ct', 'main.c', 'crashtest.c', 'stack.c'] +
            flags + [rpath],
            'ct_broken': cc + ['-DSTACK_PLANTED_BUG', '-o', 'ct_broken',
                               'main.c', 'crashtest.c', 'stack.c'] +
            flags + [rpath],
            'ct_static': cc + ['-o', 'ct_static', 'main.c', 'crashtest.c',
                               'stack.c'] +
            [x if x != '-lnvheap' else os.path.join(prefix, 'lib',
                                                    'libnvheap.a')
             for x in sflags],
            'ct.so': cc + ['-shared', '-fPIC', '-o', 'ct.so', 'crashtest.c',
                           'stack.c'] + flags + [rpath],
            'noflush': cc + ['-o', 'noflush', 'noflush.c'] + flags + [rpath],
            'flushed': cc + ['-DFLUSHED', '-o', 'flushed', 'noflush.c'] +
            flags + [rpath],
        }
        for name, cmd in builds.items():
            rc, out, err = run(cmd, env=env, cwd=proj)
            check(rc == 0, 'builds %s outside the tree%s' %
                  (name, '' if rc == 0 else ': ' + err[-1500:]))
        rc, out, _ = run(['readelf', '-d', 'ct_static'], cwd=proj)
        check('libnvheap' not in out, 'ct_static needs no libnvheap.so')

        env.pop('PKG_CONFIG_PATH')
        args = ['--seed', '1', '--budget', '120']
        rc, out, _ = run(['./ct'] + args, env=env, cwd=proj)
        crashtest_ok(rc, out, 0, 'the program (shared library)')
        rc, out, err = run(['./ct_broken'] + args, env=env, cwd=proj)
        crashtest_ok(rc, out, 1, 'the planted bug')
        check('replay: ./ct_broken --workload stack-push-pop --seed 1' in
              err, 'its failures name a replay command')
        rc, out, _ = run(['./ct_static'] + args, env=env, cwd=proj)
        crashtest_ok(rc, out, 0, 'the program (static library)')
        rc, out, _ = run([os.path.join(prefix, 'bin', 'nvheap'), 'crashtest',
                          './ct.so'] + args, env=env, cwd=proj)
        crashtest_ok(rc, out, 0, 'the shared object under the installed '
                     'nvheap crashtest')

        env['NVHEAP_PERSIST'] = 'sim'
        pool = os.path.join(tmp, 'nf.pool')
        rc, _, err = run(['./noflush', pool], env=env, cwd=proj)
        check('missing flush' in err and 'nvh_close' in err,
              'NVHEAP_PERSIST=sim reports the unflushed store: ' +
              (err.strip().splitlines() or ['nothing'])[0])
        os.unlink(pool)
        rc, _, err = run(['./flushed', pool], env=env, cwd=proj)
        check(rc == 0 and 'missing flush' not in err,
              'and nothing once it is flushed (exit %d)' % rc)
    print('test_install: %d failures' % failures)
    return 1 if failures else 0


if __name__ == '__main__':
    sys.exit(main())
