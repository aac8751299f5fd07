#!/usr/bin/env python3
"""Run one test program, print its output in one piece (so parallel runs
under `scons -j` do not interleave), and exit with its status.

Usage: run_suite.py PROGRAM [ARGS...]
"""
import subprocess
import sys
import time

start = time.monotonic()
p = subprocess.run(sys.argv[1:], stdout=subprocess.PIPE,
                   stderr=subprocess.STDOUT)
out = p.stdout.decode(errors='replace')
status = 'ok' if p.returncode == 0 else f'FAILED (exit {p.returncode})'
sys.stdout.write(out + f'--- {sys.argv[1]}: {status} in '
                 f'{time.monotonic() - start:.1f}s\n')
sys.exit(1 if p.returncode else 0)
