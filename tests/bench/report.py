#!/usr/bin/env python3
"""report.py -- the performance report: run the benchmarks, plot them, and
rewrite the table in README.md.

  report.py [options] BENCH NVKV_SERVER ROOT [-- BENCH_ARGS...]

  scons mode=release bench-report [bench_args='...'] [bench_n=N]

1. Runs BENCH once with --csv OUT/results.csv --wear-hist OUT/wear.csv
   (fresh files; BENCH_ARGS appended), then tests/bench/redis_compare.sh
   for nvkv-server vs redis-server with redis-benchmark -P 1 and -P 16 on
   /dev/shm with PMEM_IS_PMEM_FORCE=1, appending kv rows to results.csv.
   What they print passes through; on a terminal a status line shows what
   is running and for how long.
2. Plots with gnuplot: OUT/ratios.png (nvheap / libpmemobj per workload),
   OUT/wear.png (how often cache lines are flushed: alloc-free-64 and
   tx-update-8, both libraries), OUT/space.png (space workloads).
3. Rewrites what lies between the lines <!-- bench-table-start --> and
   <!-- bench-table-end --> in README.md, and nothing else.
OUT is ROOT/docs/bench.  Exits 1 when a benchmark, a plot or the README
rewrite failed (plots and table are then left as they were), 2 on usage.

--plot-only skips step 1 and works from the CSVs already in OUT (e.g. a
hand-made sample, with --out and --readme pointing elsewhere); the README
line then says where the figures came from.
"""
import argparse
import csv
import datetime
import json
import math
import os
import platform
import selectors
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

HEADER = ('workload,kind,nvheap,libpmemobj,ratio,unit,nvh_barriers_per_op,'
          'pmdk_barriers_per_op,nvh_lines_per_op,pmdk_lines_per_op,'
          'nvh_hot_meta_per_op,pmdk_hot_meta_per_op,nvh_scaling,'
          'pmdk_scaling,nvh_floor_pct,pmdk_floor_pct').split(',')
WEAR_HEADER = ['workload', 'library', 'flushes_per_kop_lo', 'lines']
WEAR_WORKLOADS = ['alloc-free-64', 'tx-update-8']
START = '<!-- bench-table-start -->'
END = '<!-- bench-table-end -->'
# nvkv-server vs redis-server: (directory, row label, emulated pmem?):
# tmpfs with PMEM_IS_PMEM_FORCE=1, and an ordinary file on disk (msync,
# the default for a user without persistent memory; redis fdatasyncs)
KV_DIRS = (('/dev/shm', '', True), ('/var/tmp', 'disk', False))
KV_PIPELINES = (1, 16)
DEFAULT_KV_N = 100000


class Failed(Exception):
    pass


def say(msg):
    print('report: ' + msg, file=sys.stderr, flush=True)


def hms(s):
    s = int(s)
    return f'{s // 60}m{s % 60:02d}s' if s >= 60 else f'{s}s'


# --- step 1: running -------------------------------------------------------

class Status:
    """A status line at the bottom of a terminal (stderr), redrawn every
    second, cleared before any line of the child's output is printed."""

    def __init__(self, t0):
        self.tty = sys.stderr.isatty()
        self.t0 = t0
        self.text = None

    def clear(self):
        if self.tty and self.text is not None:
            sys.stderr.write('\r\033[K')
            sys.stderr.flush()

    def draw(self, text):
        self.text = text
        if self.tty:
            sys.stderr.write('\r\033[K' + text[:shutil.get_terminal_size()
                                               .columns - 1])
            sys.stderr.flush()

    def done(self):
        self.clear()
        self.text = None


def run(label, cmd, env, status, count=None):
    """Run cmd, passing its stdout and stderr through line by line; return
    its exit status.  count: (prefix, total) to show "k/total" done, k
    being the stdout lines starting with prefix."""
    say(f'{label}: {" ".join(shlex.quote(c) for c in cmd)}')
    start = time.monotonic()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, env=env)
    except OSError as e:
        say(f'{label}: cannot run: {e}')
        return 127
    sel = selectors.DefaultSelector()
    bufs = {}
    for f, out in ((p.stdout, sys.stdout), (p.stderr, sys.stderr)):
        os.set_blocking(f.fileno(), False)
        sel.register(f, selectors.EVENT_READ, out)
        bufs[f] = b''
    done = 0

    def show():
        now = time.monotonic()
        k = f', {done}/{count[1]} done' if count and count[1] else ''
        status.draw(f'[report] {label}{k}: {hms(now - start)} '
                    f'(total {hms(now - status.t0)})')

    def emit(out, data):
        nonlocal done
        status.clear()
        text = data.decode(errors='replace')
        out.write(text)
        out.flush()
        if count and out is sys.stdout:
            done += sum(1 for ln in text.splitlines()
                        if ln.startswith(count[0]))
        show()

    show()
    while sel.get_map():
        for key, _ in sel.select(timeout=1.0):
            f = key.fileobj
            chunk = os.read(f.fileno(), 65536)
            if not chunk:
                if bufs[f]:
                    emit(key.data, bufs[f] + b'\n')
                sel.unregister(f)
                continue
            lines, _, bufs[f] = (bufs[f] + chunk).rpartition(b'\n')
            if lines:
                emit(key.data, lines + b'\n')
        show()
    rc = p.wait()
    status.done()
    say(f'{label}: {"ok" if rc == 0 else f"FAILED (exit {rc})"} in '
        f'{hms(time.monotonic() - start)}')
    return rc


def count_workloads(bench, bench_args):
    """How many result lines the bench will print (for the status line)."""
    n = sum(1 for a in bench_args if a in ('--workload', '-w') or
            a.startswith('--workload='))
    if n:
        return n
    try:
        out = subprocess.run([bench, '--list'], capture_output=True,
                             text=True, timeout=30).stdout
        return len([ln for ln in out.splitlines() if ln.strip()])
    except (OSError, subprocess.SubprocessError):
        return 0


def run_all(a, status):
    results = os.path.join(a.out, 'results.csv')
    wear = os.path.join(a.out, 'wear.csv')
    for f in (results, wear):
        if os.path.exists(f):
            os.unlink(f)
    try:
        usage = subprocess.run([a.bench, '--help'], capture_output=True,
                               text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        raise Failed(f'{a.bench}: {e}')
    if '--csv' not in usage.stdout + usage.stderr or \
            '--wear-hist' not in usage.stdout + usage.stderr:
        raise Failed(f'{a.bench} has no --csv or no --wear-hist option')
    cmd = [a.bench, '--csv', results, '--wear-hist', wear] + a.bench_args
    rc = run('bench', cmd, dict(os.environ), status,
             ('bench ', count_workloads(a.bench, a.bench_args)))
    if rc:
        raise Failed(f'the bench failed (exit {rc}): see its output above; '
                     f'{results} holds what it finished')
    if a.no_kv:
        return
    script = os.path.join(a.root, 'tests', 'bench', 'redis_compare.sh')
    for d, label, pmem in KV_DIRS:
        env = dict(os.environ)
        env.pop('PMEM_IS_PMEM_FORCE', None)
        if pmem:
            env['PMEM_IS_PMEM_FORCE'] = '1'
        for p in KV_PIPELINES:
            # pipelined runs are ~10x faster: give them 10x the requests
            n = a.kv_n * (10 if p > 1 else 1)
            cmd = ['sh', script, '--csv', results]
            if label:
                cmd += ['--label', label]
            rc = run(f'nvkv-server vs redis-server -P {p} in {d}',
                     cmd + [a.server, d, str(n), str(p)], env, status)
            if rc:
                raise Failed(f'redis_compare.sh -P {p} in {d} failed '
                             f'(exit {rc})')


# --- reading the CSVs ------------------------------------------------------

def num(s):
    s = (s or '').strip()
    if not s:
        return None
    v = float(s)
    return v if math.isfinite(v) else None


def read_results(path):
    try:
        with open(path, newline='') as f:
            rows = list(csv.reader(f))
    except OSError as e:
        raise Failed(f'{path}: {e.strerror}')
    if not rows or rows[0] != HEADER:
        raise Failed(f'{path}: the first line is not the header '
                     f'{",".join(HEADER)}')
    out = []
    for i, r in enumerate(rows[1:], 2):
        if not r:
            continue
        if len(r) != len(HEADER):
            raise Failed(f'{path}:{i}: {len(r)} fields, not {len(HEADER)}')
        d = dict(zip(HEADER, r))
        try:
            for k in HEADER:
                if k not in ('workload', 'kind', 'unit'):
                    d[k] = num(d[k])
        except ValueError:
            raise Failed(f'{path}:{i}: a field is not a number')
        if d['kind'] not in ('ops', 'space', 'kv', 'floor'):
            raise Failed(f'{path}:{i}: kind {d["kind"]!r}')
        if d['nvheap'] is None or d['libpmemobj'] is None:
            raise Failed(f'{path}:{i}: {d["workload"]}: no figure')
        if d['ratio'] is None and d['libpmemobj']:
            d['ratio'] = d['nvheap'] / d['libpmemobj']
        out.append(d)
    if not out:
        raise Failed(f'{path}: no rows')
    # grouped (bench's order within a group): pmem, msync, space, kv
    order = {'floor': 0, 'ops': 0, 'msync': 1, 'space': 2, 'kv': 3}
    return sorted(out, key=lambda d: order[group(d)])


def group(d):
    if d['kind'] == 'floor':
        return 'floor'
    return 'msync' if d['workload'].startswith('msync-') else d['kind']


def read_wear(path):
    """{workload: {library: {lo: lines}}}; {} if there is no file."""
    if not os.path.exists(path):
        return {}
    with open(path, newline='') as f:
        rows = list(csv.reader(f))
    if not rows or rows[0] != WEAR_HEADER:
        raise Failed(f'{path}: the first line is not the header '
                     f'{",".join(WEAR_HEADER)}')
    out = {}
    for i, r in enumerate(rows[1:], 2):
        if not r:
            continue
        try:
            w, lib, lo, n = r[0], r[1], float(r[2]), int(r[3])
        except (ValueError, IndexError):
            raise Failed(f'{path}:{i}: not workload,library,lo,lines')
        lib_d = out.setdefault(w, {}).setdefault(lib, {})
        lib_d[lo] = lib_d.get(lo, 0) + n
    return out


# --- step 2: plots ---------------------------------------------------------

def terminal():
    try:
        t = subprocess.run(['gnuplot', '-e', 'set terminal'],
                           capture_output=True, text=True).stderr
    except OSError:
        raise Failed('gnuplot is not installed (apt-get install gnuplot-nox)')
    if 'pngcairo' in t:
        return "pngcairo enhanced font 'Sans,10'"
    return 'png font "DejaVuSans,9"'


def gnuplot(script, png):
    tmp = png + '.tmp'
    script = script.replace('@OUT@', tmp)
    p = subprocess.run(['gnuplot'], input=script, capture_output=True,
                       text=True)
    if p.returncode or not os.path.exists(tmp):
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise Failed(f'gnuplot for {os.path.basename(png)} failed:\n'
                     f'{p.stderr}')
    os.replace(tmp, png)


def q(s):
    """A gnuplot string literal (double quotes, enhanced text escaped)."""
    s = s.replace('\\', '\\\\').replace('"', '\\"')
    for c in '_^@&{}~':
        s = s.replace(c, '\\\\' + c)
    return '"' + s + '"'


def datablock(name, rows):
    return f'${name} << EOD\n' + '\n'.join(
        ' '.join(str(c) for c in r) for r in rows) + '\nEOD\n'


GOOD, BAD = 0x2e8b57, 0xc0392b          # green: nvheap ahead; red: behind
NVH, PMDK = 0x1f77b4, 0xff7f0e          # per-library colours


def plot_ratios(rows, png, term):
    rs = [r for r in rows if r['ratio'] and r['ratio'] > 0 and
          r['kind'] != 'floor']
    if not rs:
        raise Failed('no ratios to plot')
    n = len(rs)
    lo = min(min(r['ratio'] for r in rs), 1.0)
    hi = max(max(r['ratio'] for r in rs), 1.0)
    xmin, xmax = lo / 2.2, hi * 2.2
    data, right, left = [], [], []
    for i, r in enumerate(reversed(rs)):     # first row at the top
        x = r['ratio']
        data.append([x, i, min(x, 1), max(x, 1), i - 0.36, i + 0.36,
                     GOOD if x >= 1 else BAD, q(r['workload'])])
        (right if x >= 1 else left).append([x, i, q(f'{x:.2f}x')])
    names = {'ops': 'throughput, pmem', 'msync': 'throughput, msync',
             'space': 'space', 'kv': 'key-value server'}
    groups = [group(r) for r in rs]
    marks = ''
    for i, g in enumerate(groups):
        y = n - 1 - i                        # this row's y
        if i == 0 or g != groups[i - 1]:
            if i:
                marks += (f'set arrow from graph 0, first {y + 0.5} to '
                          f'graph 1, first {y + 0.5} nohead dt 2 '
                          'lc rgb "#999999"\n')
            marks += (f'set label {q(names[g])} at graph 0.995, first '
                      f'{y + 0.15} right font ",8" tc rgb "#777777"\n')
    s = f'set terminal {term} size 960,{140 + 24 * n}\n'
    s += marks
    s += "set output '@OUT@'\n"
    s += datablock('bars', data)
    s += datablock('right', right or [['NaN', 'NaN', '""']])
    s += datablock('left', left or [['NaN', 'NaN', '""']])
    s += f'''
set title "nvheap / libpmemobj, per workload (kv: nvkv-server / redis-server)\\n{{/*0.85 right of the line: nvheap ahead; space: ratio of user bytes as % of the pool}}"
set logscale x
set xrange [{xmin}:{xmax}]
set yrange [-0.7:{n - 0.3}]
set xtics (0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100) format "%gx"
set mxtics 10
set grid xtics lc rgb "#dddddd"
set ytics nomirror scale 0
set xtics nomirror
set border 3
set xlabel "ratio (log scale)"
set style fill solid 0.85 noborder
set arrow from 1, graph 0 to 1, graph 1 nohead lw 2 lc rgb "#333333" front
unset key
plot $bars using 1:2:3:4:5:6:7:ytic(8) with boxxyerror lc rgb variable, \\
     $right using 1:2:3 with labels left offset 0.6,0 font ",9", \\
     $left using 1:2:3 with labels right offset -0.6,0 font ",9"
'''
    gnuplot(s, png)


def wear_buckets(los):
    """Every power-of-two bucket from the lowest to the highest present
    (bench's bucket 0 holds [0, 2)), so the x axis is uniform."""
    nonzero = sorted(lo for lo in los if lo > 0)
    out = [0.0] if 0 in los else []
    if nonzero:
        lo = min(nonzero[0], 2.0) if out else nonzero[0]
        while lo <= nonzero[-1]:
            out.append(lo)
            lo *= 2
    labels = ['<2' if lo == 0 else f'{lo:g}' for lo in out]
    return out, labels


def plot_wear(wear, png, term):
    libs = [('nvheap', NVH), ('libpmemobj', PMDK)]
    shown = [w for w in WEAR_WORKLOADS if w in wear]
    if not shown:
        raise Failed('wear.csv has no rows for ' + ', '.join(WEAR_WORKLOADS))
    los, labels = wear_buckets({lo for w in shown for lib in wear[w].values()
                                for lo in lib})
    ymax = max(n for w in shown for lib in wear[w].values()
               for n in lib.values())
    s = f'set terminal {term} size {560 * len(shown)},480\n'
    s += "set output '@OUT@'\n"
    s += f'''set multiplot layout 1,{len(shown)} title "Wear: distinct cache lines by how often they are flushed (one counted round per library)" font ",11"
set logscale y
set yrange [0.4:{ymax * 3}]
set xrange [-0.7:{len(los) - 0.3}]
set ytics nomirror
set xtics nomirror rotate by -45 scale 0
set border 3
set grid ytics lc rgb "#e4e4e4"
set xlabel "flushes per 1000 operations (bucket [lo, 2lo); 1000 = once per operation)"
set ylabel "cache lines (log scale)"
set style fill solid 0.85 noborder
set key top right
'''
    xt = ', '.join(f'{q(lb)} {i}' for i, lb in enumerate(labels))
    s += f'set xtics ({xt})\n'
    for w in shown:
        plots = []
        for k, (lib, colour) in enumerate(libs):
            hist = wear[w].get(lib, {})
            off = -0.2 if k == 0 else 0.2
            rows = [[i + off, hist[lo], i + off - 0.19, i + off + 0.19, 0.4,
                     hist[lo]] for i, lo in enumerate(los) if hist.get(lo)]
            name = f'{"n" if k == 0 else "p"}{w.replace("-", "_")}'
            s += datablock(name, rows or [['NaN'] * 6])
            plots.append(f'${name} using 1:2:3:4:5:6 with boxxyerror '
                         f'lc rgb "#{colour:06x}" title {q(lib)}')
        s += f'set title {q(w)}\nplot ' + ', \\\n     '.join(plots) + '\n'
    s += 'unset multiplot\n'
    gnuplot(s, png)


def plot_space(rows, png, term):
    rs = [r for r in rows if r['kind'] == 'space']
    n = len(rs)
    data = [[i - 0.2, r['nvheap'], i + 0.2, r['libpmemobj'],
             q(f'{r["nvheap"]:.1f}%'), q(f'{r["libpmemobj"]:.1f}%')]
            for i, r in enumerate(rs)]
    xt = ', '.join(f'{q(r["workload"])} {i}' for i, r in enumerate(rs))
    s = f'set terminal {term} size {max(480, 200 * n + 200)},420\n'
    s += "set output '@OUT@'\n"
    s += datablock('space', data)
    s += f'''set title "Space: user bytes as % of the pool (higher is better)"
set yrange [0:115]
set ytics 0,20,100 nomirror
set xrange [-0.7:{n - 0.3}]
set xtics ({xt}) nomirror scale 0
set border 3
set grid ytics lc rgb "#e4e4e4"
set ylabel "% of the pool"
set boxwidth 0.38
set style fill solid 0.85 noborder
set key top right
plot $space using 1:2 with boxes lc rgb "#{NVH:06x}" title "nvheap", \\
     $space using 3:4 with boxes lc rgb "#{PMDK:06x}" title "libpmemobj", \\
     $space using 1:2:5 with labels offset 0,0.7 notitle, \\
     $space using 3:4:6 with labels offset 0,0.7 notitle
'''
    gnuplot(s, png)


# --- step 3: the README table ----------------------------------------------

def rate(v, unit):
    if unit == '%':
        return f'{v:.1f} %'
    for div, suf in ((1e9, 'G'), (1e6, 'M'), (1e3, 'k')):
        if abs(v) >= div:
            return f'{sig3(v / div)}{suf} {unit}'
    return f'{sig3(v)} {unit}'


def sig3(x):
    """Three significant digits, trailing zeros kept (59.0, 1.20)."""
    a = abs(x)
    return f'{x:.{2 if a < 10 else 1 if a < 100 else 0}f}'


def pair(a, b, fmt):
    if a is None and b is None:
        return 'n/a'
    f = lambda v: 'n/a' if v is None else format(v, fmt)
    return f'{f(a)} / {f(b)}'


def machine():
    model, cpus = None, 0
    try:
        with open('/proc/cpuinfo') as f:
            for ln in f:
                k, _, v = ln.partition(':')
                k = k.strip()
                if k == 'processor':
                    cpus += 1
                elif k in ('model name', 'Model', 'cpu model') and not model:
                    model = ' '.join(v.split())
    except OSError:
        pass
    cpus = cpus or os.cpu_count() or 0
    d = f'{model or platform.machine()}, {cpus} CPU{"s" if cpus != 1 else ""}'
    try:
        with open('/proc/meminfo') as f:
            kb = int(f.readline().split()[1])
        d += f', {kb / (1 << 20):.0f} GiB RAM'
    except (OSError, ValueError, IndexError):
        pass
    return d + f', Linux {platform.release().split("-")[0]}'


def table(rows, meta, images):
    floors = [r for r in rows if r['kind'] == 'floor']
    rows = [r for r in rows if r['kind'] != 'floor']
    t = ['| workload | nvheap | libpmemobj | ratio | barriers/op '
         '(nvheap / libpmemobj) | % of floor | lines flushed/op | '
         'hottest metadata line flushes/op |',
         '|---|--:|--:|--:|--:|--:|--:|--:|']
    for r in rows:
        other = rate(r['libpmemobj'], r['unit'])
        if r['kind'] == 'kv':
            other += ' (redis-server)'
        t.append('| ' + ' | '.join([
            r['workload'], rate(r['nvheap'], r['unit']), other,
            f'{r["ratio"]:.2f}x' if r['ratio'] is not None else 'n/a',
            pair(r['nvh_barriers_per_op'], r['pmdk_barriers_per_op'], '.2f'),
            pair(r['nvh_floor_pct'], r['pmdk_floor_pct'], '.0f'),
            pair(r['nvh_lines_per_op'], r['pmdk_lines_per_op'], '.2f'),
            pair(r['nvh_hot_meta_per_op'], r['pmdk_hot_meta_per_op'],
                 '.3f')]) + ' |')
    out = ['']
    if floors:
        what = {'floor': 'emulated pmem (one 64-byte store, CLWB, SFENCE)',
                'msync-floor': 'disk file (one 64-byte store, msync of its '
                               'page)'}
        out.append('Floor (the physical limit, measured in the same run): ' +
                   '; '.join(f'{what.get(r["workload"], r["workload"])} '
                             f'{rate(r["nvheap"], "barriers/s")}'
                             for r in floors) +
                   '. % of floor: ops/s as a percentage of floor / '
                   '(barriers per op), the rate if a barrier were all an '
                   'operation cost.')
        out.append('')
    out += [*t, '']
    sc = [r for r in rows if r['nvh_scaling'] is not None or
          r['pmdk_scaling'] is not None]
    if sc:
        f = lambda v: 'n/a' if v is None else f'{v:.2f}x'
        out.append('Two threads over one (ops/s with 2 threads / with 1): ' +
                   '; '.join(f'{r["workload"]} nvheap {f(r["nvh_scaling"])}'
                             f', libpmemobj {f(r["pmdk_scaling"])}'
                             for r in sc) + '.')
        out.append('')
    out.append('Ratio: nvheap / libpmemobj, higher is better for nvheap '
               '(space: user bytes as % of the pool; kv rows: nvkv-server '
               'vs redis-server with appendonly yes, appendfsync always, '
               'both on /dev/shm (kv-disk-*: both in /var/tmp on disk, '
               'nvkv-server on its msync backend), driven by '
               'redis-benchmark -c 50 -P 1 or -P 16 '
               'as named; msync-* rows: pools in an ordinary file on '
               'disk, both libraries msync). Per-op columns: nvheap / libpmemobj, counted '
               'by interposing libpmem; n/a where not counted.')
    out.append('')
    out.append(meta)
    out.append('')
    for alt, path in images:
        out += [f'![{alt}]({path})', '']
    return '\n'.join(out)


def rewrite_readme(path, body):
    try:
        with open(path) as f:
            text = f.read()
    except OSError as e:
        raise Failed(f'{path}: {e.strerror}')
    i, j = text.find(START), text.find(END)
    if i < 0 or j < i or text.count(START) != 1 or text.count(END) != 1:
        raise Failed(f'{path}: needs one line {START} and, after it, one '
                     f'line {END}')
    new = text[:i + len(START)] + '\n' + body + text[j:]
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        f.write(new)
    shutil.copymode(path, tmp)
    os.replace(tmp, path)


# --- main ------------------------------------------------------------------

def parse():
    argv = sys.argv[1:]
    extra = []
    if '--' in argv:
        k = argv.index('--')
        argv, extra = argv[:k], argv[k + 1:]
    ap = argparse.ArgumentParser(
        prog='report.py',
        usage='%(prog)s [options] BENCH NVKV_SERVER ROOT [-- BENCH_ARGS...]',
        description='Run the benchmarks (BENCH, then nvkv-server vs '
        'redis-server), write OUT/results.csv, OUT/wear.csv and PNG plots, '
        'and rewrite the table between the bench-table markers in README.md.')
    ap.add_argument('bench', metavar='BENCH', help='the bench program')
    ap.add_argument('server', metavar='NVKV_SERVER',
                    help='the nvkv-server program')
    ap.add_argument('root', metavar='ROOT', help='the repository root')
    ap.add_argument('--out', metavar='DIR',
                    help='where the CSVs and PNGs go (ROOT/docs/bench)')
    ap.add_argument('--readme', metavar='FILE',
                    help='the README to rewrite (ROOT/README.md)')
    ap.add_argument('--kv-n', type=int, default=DEFAULT_KV_N, metavar='N',
                    help='redis-benchmark requests per test at -P 1 (10x '
                    'that at -P 16; default %(default)s)')
    ap.add_argument('--no-kv', action='store_true',
                    help='skip nvkv-server vs redis-server')
    ap.add_argument('--plot-only', action='store_true',
                    help='run nothing: plot and rewrite the table from the '
                    'CSVs already in OUT')
    ap.add_argument('--via-scons', action='store_true',
                    help='started by `scons mode=release bench-report` (the '
                    'README line says so)')
    a = ap.parse_args(argv)
    a.bench_args = extra
    a.root = os.path.abspath(a.root)
    a.out = os.path.abspath(a.out or os.path.join(a.root, 'docs', 'bench'))
    a.readme = os.path.abspath(a.readme or os.path.join(a.root, 'README.md'))
    if a.kv_n < 1:
        ap.error('--kv-n must be at least 1')
    return a


def command(a):
    if a.via_scons:
        c = 'scons mode=release bench-report'
        if a.bench_args:
            c += f" bench_args='{' '.join(a.bench_args)}'"
        if a.kv_n != DEFAULT_KV_N:
            c += f' bench_n={a.kv_n}'
        return c
    c = ['tests/bench/report.py'] + sys.argv[1:]
    return ' '.join(shlex.quote(x) for x in c)


def main():
    a = parse()
    t0 = time.monotonic()
    status = Status(t0)
    os.makedirs(a.out, exist_ok=True)
    run_json = os.path.join(a.out, 'run.json')
    try:
        if not a.plot_only:
            if os.path.exists(run_json):    # it describes the old CSVs
                os.unlink(run_json)
            run_all(a, status)
            with open(run_json, 'w') as f:
                json.dump({'command': command(a),
                           'date': datetime.date.today().isoformat(),
                           'machine': machine()}, f, indent=1)
                f.write('\n')
        rows = read_results(os.path.join(a.out, 'results.csv'))
        wear = read_wear(os.path.join(a.out, 'wear.csv'))
        if a.plot_only and not os.path.exists(run_json):
            meta = (f'Rendered by `{command(a)}` on '
                    f'{datetime.date.today().isoformat()} from CSVs that '
                    'no benchmark run of this tool wrote: not a '
                    'measurement.')
        else:
            with open(run_json) as f:
                m = json.load(f)
            meta = (f'Generated by `{m["command"]}` on {m["date"]} '
                    f'({m["machine"]}).')
        term = terminal()
        rel = os.path.relpath(a.out, os.path.dirname(a.readme))
        images = []
        plot_ratios(rows, os.path.join(a.out, 'ratios.png'), term)
        images.append(('nvheap / libpmemobj per workload',
                       f'{rel}/ratios.png'))
        if any(w in wear for w in WEAR_WORKLOADS):
            plot_wear(wear, os.path.join(a.out, 'wear.png'), term)
            images.append(('cache-line wear', f'{rel}/wear.png'))
        else:
            say('no wear histograms for ' + ', '.join(WEAR_WORKLOADS) +
                ': no wear.png')
        if any(r['kind'] == 'space' for r in rows):
            plot_space(rows, os.path.join(a.out, 'space.png'), term)
            images.append(('space', f'{rel}/space.png'))
        rewrite_readme(a.readme, table(rows, meta, images))
    except Failed as e:
        status.done()
        say(f'FAILED: {e}')
        say('plots and README table left as they were')
        return 1
    except KeyboardInterrupt:
        status.done()
        say('interrupted')
        return 130
    say(f'done in {hms(time.monotonic() - t0)}: {a.out}/ (results.csv, '
        f'wear.csv, {", ".join(os.path.basename(p) for _, p in images)}), '
        f'{a.readme}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
