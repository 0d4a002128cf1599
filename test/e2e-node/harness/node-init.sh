#!/bin/bash
# PID 1 of the node sandbox (see sandbox.ts): private /run /var/lib /var/log /opt (containerd and kubelet write to
# hard-coded paths there), then containerd, the images, kubelet and kube-proxy. SIGTERM stops them all.
# Usage: node-init.sh ID WORKDIR IMAGES_DIR BIN_DIR PV_COUNT
set -u
ID=$1 W=$2 IMAGES=$3 BIN=$4 PVS=$5
LOGS=$W/logs
pids=()
say() { echo "node-init[$ID]: $*"; }
stop_all() {
  say "stopping"
  # kubelet and kube-proxy first, containerd (and its shims) last.
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do kill -TERM "${pids[$i]}" 2>/dev/null; done
  wait
  exit 0
}
trap stop_all TERM INT

for d in /run /var/lib /var/log /opt; do mount -t tmpfs -o mode=755 "cim-$ID" "$d" || { say "cannot mount tmpfs on $d"; exit 1; }; done
mkdir -p /run/netns /var/lib/kubelet /var/log/pods /var/log/containers /var/lib/cni /opt/cni
# Local PersistentVolumes (hostPath): world-writable, as the pods run as non-root users (999, 1000).
for ((i = 0; i < PVS; i++)); do mkdir -p "/var/lib/cim-pv/pv-$i" && chmod 0777 "/var/lib/cim-pv/pv-$i"; done

# Per-netns sysctls: routing for pods, bridged pod traffic through iptables (services between pods on the bridge).
echo 1 >/proc/sys/net/ipv4/ip_forward
echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables 2>/dev/null || say "br_netfilter unavailable: bridge-nf-call-iptables not set"

# Service IPs need a route for the node's own clients (kube-proxy DNATs them in OUTPUT, after the route lookup).
# A bridge without ports (no dummy driver in this kernel), not the veth: a service IP kube-proxy does not know is
# dropped here instead of leaving the node.
ip link add svc0 type bridge && ip link set svc0 up && ip route add 10.96.0.0/12 dev svc0 || say "no route for service IPs"

containerd --config "$W/containerd.toml" >>"$LOGS/containerd.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 300); do [ -S /run/containerd/containerd.sock ] && break; sleep 0.1; done
[ -S /run/containerd/containerd.sock ] || { say "containerd did not start"; stop_all; }

start=$(date +%s%N)
for name in pause coredns redis zookeeper cim-server cim-route cim-operator; do
  t="$IMAGES/$name.tar"
  ctr -n k8s.io images import "$t" >>"$LOGS/images.log" 2>&1 || { say "import of $t failed"; tail -5 "$LOGS/images.log"; stop_all; }
done
say "images imported in $((($(date +%s%N) - start) / 1000000)) ms"
touch "$W/images-imported"

"$BIN/kubelet" --config="$W/kubelet.yaml" --kubeconfig="$W/kubelet.kubeconfig" --hostname-override="$(cat "$W/node-name")" \
  --node-ip="$(cat "$W/node-ip")" --v=1 >>"$LOGS/kubelet.log" 2>&1 &
pids+=($!)
"$BIN/kube-proxy" --config="$W/kube-proxy.yaml" --v=1 >>"$LOGS/kube-proxy.log" 2>&1 &
pids+=($!)
say "kubelet and kube-proxy started"
wait
