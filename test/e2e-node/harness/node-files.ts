/**
 * The node's configuration files: containerd (CRI with restrict_oom_score_adj: the VM lacks CAP_SYS_RESOURCE, so
 * runc cannot lower oom_score_adj), the CNI bridge, kubelet (cgroupfs on cgroup v1, no swap check, cluster DNS at
 * 10.96.0.10, image GC off, low eviction thresholds for a shared disk) and kube-proxy (iptables mode, no global
 * conntrack sysctls). Pure functions of the sandbox's addresses, written into its work directory.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { kubeconfig } from '../../e2e/harness/control-plane.ts';

export const SERVICE_CIDR = '10.96.0.0/12';
export const KUBERNETES_SERVICE_IP = '10.96.0.1';
export const CLUSTER_DNS_IP = '10.96.0.10';
export const CLUSTER_CIDR = '10.244.0.0/16';
export const POD_CIDR = '10.244.0.0/24';
export const PAUSE_IMAGE = 'localhost/cim/pause:1';

export interface NodeFilesInput {
  workDir: string;
  nodeName: string;
  nodeIp: string;
  cgroupRoot: string;
  /** https://<root end of the veth>:<port>: the API server as the node reaches it. */
  apiServer: string;
  kubeletToken: string;
  kubeProxyToken: string;
}

/** The e2e harness's token kubeconfig (the API server's certificate does not name the veth address: not verified). */
export const kubeconfigYaml = kubeconfig;

export function containerdToml(workDir: string): string {
  return `version = 2
root = "${join(workDir, 'containerd')}"
state = "/run/containerd"
[grpc]
  address = "/run/containerd/containerd.sock"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  enable_selinux = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "${join(workDir, 'cni')}"
`;
}

export function cniConflist(): string {
  return JSON.stringify(
    {
      cniVersion: '1.0.0',
      name: 'cim-pods',
      plugins: [
        {
          type: 'bridge',
          bridge: 'cni0',
          isGateway: true,
          // Pods reaching the API server (outside the pod network) leave with the node's address.
          ipMasq: true,
          hairpinMode: true,
          ipam: { type: 'host-local', ranges: [[{ subnet: POD_CIDR }]], routes: [{ dst: '0.0.0.0/0' }] },
        },
        { type: 'portmap', capabilities: { portMappings: true } },
      ],
    },
    null,
    2,
  );
}

export function kubeletYaml(i: NodeFilesInput): string {
  return `apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: ${i.nodeIp}
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
containerRuntimeEndpoint: unix:///run/containerd/containerd.sock
cgroupDriver: cgroupfs
cgroupRoot: /${i.cgroupRoot}
failCgroupV1: false
failSwapOn: false
clusterDNS: [${CLUSTER_DNS_IP}]
clusterDomain: cluster.local
resolvConf: ${join(i.workDir, 'resolv.conf')}
# Reached only through the API server over the sandbox's veth (logs, exec, port-forward).
authentication:
  anonymous: { enabled: true }
  webhook: { enabled: false }
authorization: { mode: AlwaysAllow }
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: { memory.available: "100Mi", nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%" }
serializeImagePulls: false
maxPods: 60
nodeStatusUpdateFrequency: 4s
syncFrequency: 10s
shutdownGracePeriod: 0s
`;
}

export function kubeProxyYaml(i: NodeFilesInput): string {
  return `apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: ${join(i.workDir, 'kube-proxy.kubeconfig')}
mode: iptables
clusterCIDR: ${CLUSTER_CIDR}
hostnameOverride: ${i.nodeName}
bindAddress: ${i.nodeIp}
metricsBindAddress: 127.0.0.1:10249
healthzBindAddress: 127.0.0.1:10256
# These would write machine-wide sysctls (nf_conntrack_max, timeouts); leave them alone.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
`;
}

export function writeNodeFiles(i: NodeFilesInput): void {
  const w = i.workDir;
  writeFileSync(join(w, 'containerd.toml'), containerdToml(w));
  writeFileSync(join(w, 'cni', '10-cim.conflist'), cniConflist());
  writeFileSync(join(w, 'kubelet.yaml'), kubeletYaml(i));
  writeFileSync(join(w, 'kube-proxy.yaml'), kubeProxyYaml(i));
  writeFileSync(join(w, 'kubelet.kubeconfig'), kubeconfigYaml(i.apiServer, `system:node:${i.nodeName}`, i.kubeletToken));
  writeFileSync(join(w, 'kube-proxy.kubeconfig'), kubeconfigYaml(i.apiServer, 'system:kube-proxy', i.kubeProxyToken));
  // Pods with dnsPolicy Default (CoreDNS) get no upstream: nothing is resolved outside the cluster.
  writeFileSync(join(w, 'resolv.conf'), '');
  writeFileSync(join(w, 'node-name'), i.nodeName);
  writeFileSync(join(w, 'node-ip'), i.nodeIp);
}
