#!/usr/bin/env bash
# Sends emulator commands (one per line on stdin) to the simulator's console on
# 127.0.0.1:$1, waiting for the "> " prompt after each so ipmi_sim never sees a
# half-closed socket. Fails if any answer starts with "**".
set -euo pipefail
exec perl -MIO::Socket::INET -e '
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $ARGV[0], Proto => "tcp", Timeout => 5)
        or die "console 127.0.0.1:$ARGV[0]: $!\n";
    sub prompt { my $buf = ""; while ($buf !~ /> $/) { my $n = sysread($s, my $c, 512); die "console closed\n" unless $n; $buf .= $c } return $buf }
    prompt(); print $s "noecho\n"; prompt();
    my $failed = 0;
    while (my $line = <STDIN>) { chomp $line; next unless $line =~ /\S/; print $s "$line\n"; my $out = prompt(); if ($out =~ /\*\*/) { print STDERR "$line: $out\n"; $failed = 1 } }
    exit $failed;' "$1"
