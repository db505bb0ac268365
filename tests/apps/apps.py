#!/usr/bin/env python3
"""Real applications through cgihost (issue 13): DokuWiki, WordPress,
gitweb, cgit and a front-controller app, each also behind nginx.

Usage: apps.py --cgihost BUILD/cgihost APP   (APP: dokuwiki, wordpress,
gitweb, cgit, frontcontroller). Exit 0 when every check passed, 1 when one
failed (each is printed with its reason), 77 when the test cannot run here."""

import argparse
import importlib
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import harness  # noqa: E402

APPS = ["dokuwiki", "wordpress", "gitweb", "cgit", "frontcontroller"]


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--cgihost", required=True)
    p.add_argument("app", choices=APPS)
    args = p.parse_args()
    module = importlib.import_module(args.app)
    checks = harness.Checks(args.app)
    started = time.monotonic()
    try:
        module.run(os.path.abspath(args.cgihost), checks)
    except harness.Skip as e:
        print(f"SKIP {args.app}: {e}")
        return harness.SKIP
    except Exception as e:  # noqa: BLE001 - a set-up that failed is a failed check
        checks.results.append(("set-up", False, str(e)))
        print(f"FAIL {args.app}: set-up\n{e}")
    failed = checks.failed()
    took = time.monotonic() - started
    print(f"{args.app}: {len(checks.results) - len(failed)} passed, {len(failed)} failed ({took:.1f}s)")
    for name in failed:
        print(f"  failed: {name}")
    return 1 if failed or not checks.results else 0


if __name__ == "__main__":
    sys.exit(main())
