#!/usr/bin/env python3
"""Every command and option `cgihost --help` lists is in cgihost(8).

Asks the built binary: `cgihost --help` for the commands, then
`cgihost COMMAND [SUBCOMMAND] --help` for each one's subcommands and
options. The man page must name each command in its SYNOPSIS and each
option (roff's "\\-" read as "-") somewhere. Fails naming what is missing.

Usage: man_commands_test.py CGIHOST MAN_PAGE
"""
import re
import subprocess
import sys


def help_of(binary, words):
    out = subprocess.run([binary, *words, '--help'], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        raise SystemExit(f"{' '.join([binary, *words, '--help'])} exited {out.returncode}")
    return out.stdout


def listed(text, heading):
    """The first words of the lines under `heading:` until a blank line."""
    m = re.search(r'^' + heading + r':\n((?:  .*\n)+)', text, re.M)
    return [line.split()[0] for line in m.group(1).splitlines()] if m else []


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    binary, page_path = sys.argv[1], sys.argv[2]
    page = open(page_path, encoding='utf-8').read().replace('\\-', '-')
    synopsis = page[page.index('.SH SYNOPSIS'):page.index('.SH DESCRIPTION')]
    problems, count = [], 0
    todo = [[c] for c in listed(help_of(binary, []), 'Subcommands')]
    while todo:
        words = todo.pop(0)
        text = help_of(binary, words)
        count += 1
        if not re.search(r'\b' + re.escape(words[-1]) + r'\b', synopsis):
            problems.append(f"command {' '.join(words)}: not in the SYNOPSIS")
        todo += [words + [c] for c in listed(text, 'Subcommands')]
        for opt in listed(text, 'Options'):
            for name in opt.split(','):
                count += 1
                if not re.search(r'(?<![\w-])' + re.escape(name) + r'(?![\w-])', page):
                    problems.append(f"{' '.join(words)} {name}: not in the man page")
    for p in problems:
        print("FAIL", p)
    print(f"{count} commands and options checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
