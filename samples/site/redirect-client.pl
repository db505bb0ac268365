#!/usr/bin/perl
# A client redirect: the browser is sent elsewhere (302).
print "Location: https://example.com/\n\n";
