#!/usr/bin/perl
# Broken on purpose: the body starts without headers. cgihost: 502.
print "Hello world\n\n";
