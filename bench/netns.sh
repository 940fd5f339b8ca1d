# SPDX-License-Identifier: GPL-2.0
# Sourced by bench/lib.sh (so by demo.sh, migrate.sh, criu.sh, ws.sh,
# compress.sh): two network namespaces joined by a veth pair.
#
#   netns_up TAG NET     namespaces TAG-src-PID and TAG-dst-PID, veth ends
#                        TAGPIDa (NET.1/24, source) and TAGPIDb (NET.2/24);
#                        sets SRC DST VA VB SRC_IP DST_IP
#   netns_qdisc ARGS...  `tc qdisc add dev ... root ARGS` on both veth
#                        ends (e.g. netem delay 5ms; tbf rate 100mbit ...)
#   netns_down           removes both namespaces (the veth pair with them)
# Root.  TAG + PID must fit an interface name (15 characters with the a/b).

netns_up() {
	SRC=$1-src-$$ DST=$1-dst-$$ VA=$1$$a VB=$1$$b
	SRC_IP=$2.1 DST_IP=$2.2
	ip netns add "$SRC"
	ip netns add "$DST"
	ip link add "$VA" type veth peer name "$VB"
	ip link set "$VA" netns "$SRC"
	ip link set "$VB" netns "$DST"
	ip -n "$SRC" addr add "$SRC_IP/24" dev "$VA"
	ip -n "$DST" addr add "$DST_IP/24" dev "$VB"
	ip -n "$SRC" link set lo up
	ip -n "$DST" link set lo up
	ip -n "$SRC" link set "$VA" up
	ip -n "$DST" link set "$VB" up
}

netns_qdisc() {
	ip netns exec "$SRC" tc qdisc add dev "$VA" root "$@"
	ip netns exec "$DST" tc qdisc add dev "$VB" root "$@"
}

netns_down() {
	[ -n "${SRC:-}" ] && ip netns del "$SRC" 2>/dev/null
	[ -n "${DST:-}" ] && ip netns del "$DST" 2>/dev/null
	return 0
}
