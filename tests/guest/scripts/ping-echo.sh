#!/bin/sh
# ping-echo: ping.sh (configure uvdpa.ip, ping uvdpa.peer), then stay up until
# the host has pinged this guest: waits until the kernel answered uvdpa.echo=N
# echo requests (Icmp OutEchoReps in /proc/net/snmp), at most
# uvdpa.echo_wait=S seconds (default 60). Used when the host cannot run the
# guest through run-guest.py (the libvirt test reads the serial log instead).
# Markers: those of ping.sh, then echo_wait (N), echo_replies (replies sent
# while waiting). rc: ping.sh's, or 1 when fewer than N replies went out.
. /lib/uvdpa/lib.sh

echo_reps() {
    awk '/^Icmp:/ { if (!h) { for (i = 1; i <= NF; i++) c[$i] = i; h = 1 }
                    else print $c["OutEchoReps"] }' /proc/net/snmp
}

n=$(arg echo 0)
r0=$(echo_reps)
sh /scripts/ping.sh
rc=$?
[ "$rc" = 0 ] || exit "$rc"
[ "$n" -gt 0 ] || exit 0
mark echo_wait "$n"
wait_echo() { [ $(( $(echo_reps) - r0 )) -ge "$n" ]; }
wait_until "$(arg echo_wait 60)" wait_echo
got=$(( $(echo_reps) - r0 ))
mark echo_replies "$got"
[ "$got" -ge "$n" ] && exit 0
exit 1
