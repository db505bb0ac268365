#!/bin/sh
# Lists the functions of the given C++ files (default: spawner/) longer than
# MIN lines (default 60), longest first: "lines file:line name".
# Uses universal-ctags' end-of-scope field; run from the repository root.
MIN=${MIN:-60}
[ $# -eq 0 ] && set -- $(find spawner -name '*.cpp' -o -name '*.hpp' | sort)
ctags -x --_xformat='%N %F %n %{end}' --kinds-c++=f --fields=+ne --language-force=c++ -o - "$@" |
  awk -v min="$MIN" '$4 != "" { n = $4 - $3 + 1; if (n > min) printf "%4d %s:%s %s\n", n, $2, $3, $1 }' |
  sort -rn
