#!/usr/bin/perl
# A local redirect (RFC 3875 6.2.2): the server serves /hello.pl instead.
print "Location: /hello.pl\n\n";
