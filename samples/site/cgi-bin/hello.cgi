#!/bin/sh
# Run without an interpreter: the script itself is executed (it must be executable).
printf 'Content-Type: text/plain\r\n\r\nHello from a shell CGI, PATH_INFO=%s QUERY_STRING=%s\n' "$PATH_INFO" "$QUERY_STRING"
