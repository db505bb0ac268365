#!/usr/bin/perl
# Broken on purpose: the headers never end (no blank line). cgihost: 502.
print "Content-Type: text/plain\n";
