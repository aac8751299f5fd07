#!/usr/bin/env python3
"""Run one libFuzzer target for a while and say what happened.

    run.py --time SECONDS --corpus DIR BINARY [SEED_DIR...] -- [FLAGS...]

Runs BINARY (a libFuzzer program) on DIR (kept between runs, created if
missing) plus the seed directories, for SECONDS, with the flags after
`--`.  libFuzzer's output goes to BINARY.log; what matters is printed:
its first and last coverage lines, the final statistics, the target's own
summary lines, and then one line

    fuzz NAME: N executions in S s (R/s), cov C ft F, corpus K inputs
    (B bytes) in DIR; nothing found

or `FOUND <crash|leak|timeout|oom|...>: <input file>` followed by the end
of the log (the sanitizer report).  Exit status 0 if nothing was found,
1 if something was, 2 if the fuzzer could not run.
"""
import argparse
import os
import re
import subprocess
import sys
import time


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument('--time', type=int, default=60)
    ap.add_argument('--corpus', required=True)
    ap.add_argument('binary')
    ap.add_argument('seeds', nargs='*')
    args, extra = ap.parse_known_args()
    extra = [a for a in extra if a != '--']
    name = os.path.basename(args.binary)
    os.makedirs(args.corpus, exist_ok=True)
    art = os.path.join(os.path.dirname(args.corpus), name + '-findings')
    os.makedirs(art, exist_ok=True)
    before = set(os.listdir(art))
    log_path = args.binary + '.log'
    cmd = [args.binary, '-max_total_time=%d' % args.time, '-timeout=10',
           '-print_final_stats=1', '-artifact_prefix=' + art + '/'] + extra
    cmd += [args.corpus] + args.seeds
    print('fuzz %s: %s' % (name, ' '.join(cmd)), flush=True)
    t0 = time.time()
    with open(log_path, 'w') as log:
        rc = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT)
    secs = time.time() - t0
    with open(log_path, errors='replace') as f:
        lines = f.read().splitlines()

    cov = [l for l in lines if re.match(r'#\d+\s+(INITED|DONE|NEW|pulse|REDUCE)', l)]
    inited = [l for l in cov if 'INITED' in l]
    for l in inited[:1] + cov[-1:]:
        print('  ' + l)
    stats = {}
    for l in lines:
        m = re.match(r'stat::(\w+):\s+(\d+)', l)
        if m:
            stats[m.group(1)] = int(m.group(2))
            print('  ' + l)
        elif l.startswith(name + ':'):
            print('  ' + l)
    last = cov[-1] if cov else ''
    m = re.search(r'cov: (\d+) ft: (\d+) corp: (\d+)/', last)
    c, ft = (m.group(1), m.group(2)) if m else ('?', '?')
    files = [os.path.join(args.corpus, n) for n in os.listdir(args.corpus)]
    nbytes = sum(os.path.getsize(p) for p in files)
    execs = stats.get('number_of_executed_units', 0)
    found = sorted(set(os.listdir(art)) - before)
    summary = ('fuzz %s: %d executions in %.0f s (%.0f/s), cov %s ft %s, '
               'corpus %d inputs (%d bytes) in %s; ' %
               (name, execs, secs, execs / secs if secs else 0, c, ft,
                len(files), nbytes, args.corpus))
    if rc == 0 and not found:
        print(summary + 'nothing found', flush=True)
        return 0
    if not execs and not found:
        print('\n'.join(lines[-40:]))
        print(summary + 'the fuzzer did not run (exit %d)' % rc, flush=True)
        return 2
    print('\n'.join(lines[-60:]))
    kinds = sorted({f.split('-')[0] for f in found}) or ['exit %d' % rc]
    print(summary + 'FOUND %s: %s (log: %s)' %
          (', '.join(kinds),
           ' '.join(os.path.join(art, f) for f in found) or '-', log_path),
          flush=True)
    return 1


if __name__ == '__main__':
    sys.exit(main())
