#!/usr/bin/perl
# Broken on purpose: a Status that is not three digits. cgihost: 502.
print "Status: OK\nContent-Type: text/plain\n\nfine?\n";
