#!/usr/bin/perl
# An nph- script: its output is the whole HTTP response, passed on unparsed.
$| = 1;
print "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nX-Nph: yes\r\nConnection: close\r\n\r\n";
print "raw bytes from an nph script\n";
