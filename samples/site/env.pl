#!/usr/bin/perl
# Dumps the CGI environment the script received, one NAME=value a line.
use strict;
use warnings;
print "Content-Type: text/plain\r\n\r\n";
print "$_=$ENV{$_}\n" for sort keys %ENV;
