#!/usr/bin/perl
# A minimal FastCGI application (libfcgi-perl) for the pool tests: the same
# behaviours as the PHP test scripts, picked by the script's base name, so the
# pool is tested with a second program and nothing is special-cased for PHP.
# Started like php-cgi: the listening socket is fd 0; it serves at most
# PHP_FCGI_MAX_REQUESTS requests (when set and not 0), then exits.
use strict;
use warnings;
use FCGI;
use POSIX ();

# FCGI_APP_IGNORE_TERM=1 in its environment: SIGTERM is ignored (the pool
# must end it with SIGKILL after stop_grace).
$SIG{TERM} = 'IGNORE' if $ENV{FCGI_APP_IGNORE_TERM};

my %env;
my $request = FCGI::Request(\*STDIN, \*STDOUT, \*STDERR, \%env, 0);
my $budget = $ENV{PHP_FCGI_MAX_REQUESTS} // 0;
my $served = 0;

while ($request->Accept() >= 0) {
  my ($name) = ($env{SCRIPT_NAME} // '') =~ m{([^/]+?)(?:\.[^./]*)?$};
  $name //= '';
  my %q = map { split /=/, $_, 2 } grep { length } split /&/, ($env{QUERY_STRING} // '');
  if ($name eq 'hello') {
    print "Content-Type: text/plain\r\n\r\nhello $$";
  } elsif ($name eq 'missing') {
    print "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nnope";
  } elsif ($name eq 'fatal') {
    print STDERR "fatal: the test asked for it\n";
    print "Status: 500 Internal Server Error\r\nContent-Type: text/plain\r\n\r\nfatal";
  } elsif ($name eq 'echo') {
    my $left = $env{CONTENT_LENGTH} // 0;
    my $body = '';
    while ($left > 0) {
      my $n = read(STDIN, my $chunk, $left > 65536 ? 65536 : $left);
      last unless $n;
      $body .= $chunk;
      $left -= $n;
    }
    binmode STDOUT;
    print "Content-Type: application/octet-stream\r\n\r\n", $body;
  } elsif ($name eq 'warn') {
    # A STDERR record before any STDOUT.
    print STDERR "warned by the script\n";
    $request->Flush();
    print "Content-Type: text/plain\r\n\r\nok";
  } elsif ($name eq 'warn_late') {
    # The response begins, then a STDERR record, then the rest.
    print "Content-Type: text/plain\r\n\r\npart1 ";
    $request->Flush();
    select(undef, undef, undef, 0.2);
    print STDERR "late warning\n";
    $request->Flush();
    print "part2";
  } elsif ($name eq 'pause') {
    # The head and a first piece, then $q{s} seconds of silence, then the rest.
    print "Content-Type: text/plain\r\n\r\npart1 ";
    $request->Flush();
    sleep($q{s} // 5);
    print "part2";
  } elsif ($name eq 'sleep') {
    sleep($q{s} // 5);
    print "Content-Type: text/plain\r\n\r\nwoke";
  } elsif ($name eq 'crash') {
    kill 'KILL', $$;
  } elsif ($name eq 'crash_once') {
    # Dies the first time for marker file $q{m}, answers afterwards.
    unless (-e $q{m}) {
      open(my $fh, '>', $q{m}) or die "marker: $!";
      close $fh;
      kill 'KILL', $$;
    }
    print "Content-Type: text/plain\r\n\r\nsurvived";
  } elsif ($name eq 'orphan') {
    # A child that leaves this process's group and session and sleeps; the
    # answer is its pid.
    my $pid = fork();
    if (defined $pid && $pid == 0) {
      POSIX::setsid();
      POSIX::close($_) for 0 .. 255;
      sleep 60;
      POSIX::_exit(0);
    }
    print "Content-Type: text/plain\r\n\r\n", $pid // 0;
  } elsif ($name eq 'interim') {
    print "Status: 100 Continue\r\nContent-Type: text/plain\r\n\r\nafter";
  } elsif ($name eq 'info') {
    print "Content-Type: text/plain\r\n\r\n",
      join('|', $env{SCRIPT_NAME} // '', $env{PATH_INFO} // '', $env{QUERY_STRING} // '', $env{REQUEST_METHOD} // '');
  } else {
    print "Status: 404 Not Found\r\nContent-Type: text/plain\r\n\r\nunknown $name";
  }
  $request->Finish();
  last if $budget && ++$served >= $budget;
}
