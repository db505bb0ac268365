#!/usr/bin/env python3
"""Lists the C++ functions in the given folders longer than N lines.

    scripts/function_lengths.py [--min N] FOLDER_OR_FILE...

Prints one line per function longer than N lines (default 60), longest first:
its length, file:line of its first signature line, and a qualified-ish name
(enclosing classes, then the name as written, `cls::f` for an out-of-line
definition). The length counts from the first line of the signature to the
closing brace, both included.

A brace-matching heuristic for clang-formatted C++, not a parser: comments,
string, character and raw string literals are blanked first; a `{` opened
outside any function starts a function when the text since the previous
`;`, `{` or `}` (its signature) holds a `(`, and does not start a namespace,
class, struct, union or enum. Everything up to the matching `}` belongs to
that function: lambdas and local classes count toward their enclosing one.
Python 3, standard library only.
"""

import argparse
import os
import re
import sys

EXTENSIONS = (".cpp", ".hpp", ".cc", ".h", ".hh", ".cxx", ".ipp")
SCOPE_KEYWORDS = re.compile(r"^\s*(template\s*<.*>\s*)?(namespace|class|struct|union|enum)\b", re.S)
ACCESS = re.compile(r"^\s*(public|private|protected)\s*:\s*$")
TYPE_NAME = re.compile(r"\b(class|struct|union)\s+(?:\[\[[^\]]*\]\]\s*)?([A-Za-z_]\w*)")
IDENT_BEFORE_PAREN = re.compile(r"((?:[A-Za-z_~]\w*\s*::\s*)*(?:operator\s*[^\s(]+|~?[A-Za-z_]\w*))\s*$")


def blank_literals(text):
    """Comments and literals replaced by spaces; newlines kept (lines stay put)."""
    out = []
    i, n = 0, len(text)

    def blank(s):
        return "".join("\n" if c == "\n" else " " for c in s)

    while i < n:
        c = text[i]
        if text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(blank(text[i:j]))
            i = j
        elif text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(blank(text[i:j]))
            i = j
        elif c == '"':
            # A raw string: R"delim( ... )delim", with an optional u8/u/U/L prefix.
            k = i
            while k > 0 and (text[k - 1].isalnum() or text[k - 1] == "_"):
                k -= 1
            if text[k:i] in ("R", "u8R", "uR", "UR", "LR"):
                open_paren = text.find("(", i)
                delim = text[i + 1 : open_paren]
                end = text.find(")" + delim + '"', open_paren)
                j = n if end < 0 else end + len(delim) + 2
            else:
                j = i + 1
                while j < n and text[j] != '"' and text[j] != "\n":
                    j += 2 if text[j] == "\\" else 1
                j += 1
            out.append('"' + blank(text[i + 1 : j - 1]) + '"')
            i = j
        elif c == "'":
            # A digit separator (1'000) or a character literal.
            k = i
            while k > 0 and (text[k - 1].isalnum() or text[k - 1] in "_'"):
                k -= 1
            if k < i and text[k].isdigit():
                out.append(c)
                i += 1
                continue
            j = i + 1
            while j < n and text[j] != "'" and text[j] != "\n":
                j += 2 if text[j] == "\\" else 1
            j += 1
            out.append("'" + blank(text[i + 1 : j - 1]) + "'")
            i = j
        else:
            out.append(c)
            i += 1
    return "".join(out)


def function_name(signature, classes):
    sig = " ".join(signature.split())
    # A test macro: TEST_P(Suite, Name) names itself.
    m = re.match(r"^(TEST\w*|BENCHMARK\w*)\s*\(([^)]*)\)", sig)
    if m:
        return "%s(%s)" % (m.group(1), ", ".join(p.strip() for p in m.group(2).split(",")))
    # The identifier before the first top-level '(' (a constructor's
    # initializer list comes after it).
    depth = 0
    for idx, ch in enumerate(sig):
        if ch in "<[":
            depth += 1
        elif ch in ">]" and depth > 0:
            depth -= 1
        elif ch == "(" and depth == 0:
            m = IDENT_BEFORE_PAREN.search(sig[:idx])
            if m:
                name = re.sub(r"\s+", "", m.group(1)) if "operator" not in m.group(1) else m.group(1).strip()
                return "::".join(classes + [name])
            break
        elif ch == "=" and depth == 0 and "operator" not in sig[:idx]:
            m = re.search(r"([A-Za-z_]\w*)\s*$", sig[:idx])
            if m:  # a lambda or initializer bound to a name
                return "::".join(classes + [m.group(1)])
    return "::".join(classes + ["<" + sig[:40] + ">"])


def scan(path):
    """Yields (first line, length, name) of every function in `path`."""
    with open(path, encoding="utf-8", errors="replace") as f:
        text = blank_literals(f.read())
    # Each open brace outside a function: (kind, start line, name); kind:
    # "class", "other".
    stack = []
    signature, sig_line, parens = "", None, 0
    in_function = 0  # brace depth inside the current function
    in_expression = 0  # brace depth inside a signature (a lambda or braced
    # initializer in a constructor's initializer list or a default argument)
    function = None
    for lineno, line in enumerate(text.split("\n"), start=1):
        if line.lstrip().startswith("#"):
            continue
        if not in_function and not in_expression and ACCESS.match(line):
            signature, sig_line, parens = "", None, 0
            continue
        for col, ch in enumerate(line):
            if in_function:
                if ch == "{":
                    in_function += 1
                elif ch == "}":
                    in_function -= 1
                    if in_function == 0:
                        start, name = function
                        yield start, lineno - start + 1, name
                        signature, sig_line, parens = "", None, 0
                continue
            if in_expression:
                in_expression += {"{": 1, "}": -1}.get(ch, 0)
                continue
            if ch == "{":
                glued = col > 0 and (line[col - 1].isalnum() or line[col - 1] in "_>")
                if parens > 0 or (glued and "(" in signature):
                    in_expression = 1
                    continue
                if "(" in signature and not SCOPE_KEYWORDS.match(signature):
                    classes = [s[2] for s in stack if s[0] == "class"]
                    function = (sig_line or lineno, function_name(signature, classes))
                    in_function = 1
                    continue
                m = TYPE_NAME.search(signature) if SCOPE_KEYWORDS.match(signature) else None
                stack.append(("class", lineno, m.group(2)) if m else ("other", lineno, ""))
                signature, sig_line, parens = "", None, 0
            elif ch == "}":
                if stack:
                    stack.pop()
                signature, sig_line, parens = "", None, 0
            elif ch == ";" and parens == 0:
                signature, sig_line, parens = "", None, 0
            else:
                if sig_line is None and not ch.isspace():
                    sig_line = lineno
                parens += {"(": 1, ")": -1}.get(ch, 0)
                signature += ch
        signature += "\n"


def files_under(paths):
    for p in paths:
        if os.path.isfile(p):
            yield p
            continue
        for root, dirs, names in os.walk(p):
            dirs.sort()
            for name in sorted(names):
                if name.endswith(EXTENSIONS):
                    yield os.path.join(root, name)


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--min", type=int, default=60, metavar="N", help="list functions longer than N lines (60)")
    ap.add_argument("paths", nargs="+", help="folders (searched recursively) or files")
    args = ap.parse_args(argv)
    rows = []
    for path in files_under(args.paths):
        for start, length, name in scan(path):
            if length > args.min:
                rows.append((length, "%s:%d" % (path, start), name))
    rows.sort(key=lambda r: (-r[0], r[1]))
    width = max((len(r[1]) for r in rows), default=0)
    for length, where, name in rows:
        print("%5d  %-*s  %s" % (length, width, where, name))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
