#!/usr/bin/perl
# Echoes a POST body back, with its length, as the CGI spec hands it over.
use strict;
use warnings;
binmode STDIN;
binmode STDOUT;
my $len = $ENV{CONTENT_LENGTH} || 0;
my $body = '';
while (length($body) < $len) {
  my $n = read(STDIN, $body, $len - length($body), length($body));
  last unless $n;
}
print "Content-Type: application/octet-stream\r\n";
print "Content-Length: " . length($body) . "\r\n\r\n";
print $body;
