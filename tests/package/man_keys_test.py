#!/usr/bin/env python3
"""Every key the config parser accepts is documented in cgihost.toml(5).

The keys come from the parser itself: each check_keys(TABLE, PATH, {...})
call in config/load.cpp lists what a table accepts (an unknown key is an
error there). The man page documents a key as a ".TP" entry whose tag is
".B key", under the ".SS" heading of its table ("[identity]",
"[pools.NAME]", "[[handlers]]"; the top-level keys under ".SH TOP-LEVEL
KEYS"). Fails naming each key missing from the page, and each key the page
documents that the parser does not accept.

Usage: man_keys_test.py LOAD_CPP MAN_PAGE
"""
import re
import sys


def parser_keys(source):
    """{table: set(keys)}; table "" is the top level."""
    tables = {}
    calls = list(re.finditer(r'check_keys\(\s*([^,]+?)\s*,\s*([^,]+?)\s*,\s*\{([^}]*)\}\s*\)',
                             source))
    if not calls:
        raise SystemExit("no check_keys(...) call found in the parser: has it changed?")
    for call in calls:
        path = call.group(2)
        if path.startswith('"'):
            table = path.strip('"')
        else:
            # A variable: its last assignment before the call, e.g.
            # `const std::string p = "fastcgi";` or `p = "pools." + name;`.
            before = source[:call.start()]
            assigns = re.findall(r'\b' + re.escape(path) + r'\s*=\s*"([^"]*)"', before)
            if not assigns:
                raise SystemExit(f"cannot tell which table check_keys({path}, ...) checks")
            table = assigns[-1]
        table = re.sub(r'[.\[]$', '', table)  # "pools." -> pools, "handlers[" -> handlers
        tables.setdefault(table, set()).update(re.findall(r'"([^"]*)"', call.group(3)))
    return tables


def man_keys(page):
    """{table: set(keys)} as documented; sections named as the parser names tables."""
    tables = {}
    section = None
    lines = page.splitlines()
    for i, line in enumerate(lines):
        if line.startswith('.SH'):
            section = "" if 'TOP-LEVEL KEYS' in line else None
        elif line.startswith('.SS'):
            m = re.match(r'\.SS \[\[?([a-z_]+)(?:\.NAME)?\]\]?$', line)
            section = m.group(1) if m else None
            if section is not None:
                tables.setdefault(section, set())
        elif section is not None and line == '.TP' and i + 1 < len(lines):
            m = re.match(r'\.B ([a-z_]+)$', lines[i + 1])
            if m:
                tables.setdefault(section, set()).add(m.group(1))
    return tables


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    accepted = parser_keys(open(sys.argv[1], encoding='utf-8').read())
    documented = man_keys(open(sys.argv[2], encoding='utf-8').read())
    problems = []
    # The top level's tables are documented as sections of their own.
    for key in sorted(accepted.get("", set())):
        if key not in documented.get("", set()) and key not in documented:
            problems.append(f'top-level key "{key}": neither a key under TOP-LEVEL KEYS nor '
                            f'a section [{key}]')
    count = 0
    for table, keys in sorted(accepted.items()):
        if table == "":
            count += len(keys)
            continue
        for key in sorted(keys):
            count += 1
            if key not in documented.get(table, set()):
                problems.append(f'[{table}] {key}: accepted by the parser, not in the man page')
    for table, keys in sorted(documented.items()):
        for key in sorted(keys - accepted.get(table, set())):
            problems.append(f'[{table}] {key}: in the man page, not accepted by the parser')
    for p in problems:
        print("FAIL", p)
    print(f"{count} keys in {len(accepted)} tables checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == '__main__':
    sys.exit(main())
