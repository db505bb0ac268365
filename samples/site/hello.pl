#!/usr/bin/perl
# A Perl CGI hello: the smallest valid document response.
use strict;
use warnings;
print "Content-Type: text/plain; charset=utf-8\r\n\r\n";
print "Hello from Perl $^V\n";
