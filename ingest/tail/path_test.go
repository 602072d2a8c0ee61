package tail

import (
	"strings"
	"testing"
)

func TestPathInfo(t *testing.T) {
	id := strings.Repeat("0123456789abcdef", 4)
	for _, tc := range []struct {
		path string
		want Info
		ok   bool
	}{
		{"/var/log/pods/kube-system_coredns-5d78c9869d-abcde_1f2e3d4c-aaaa-bbbb-cccc-0123456789ab/coredns/0.log",
			Info{Namespace: "kube-system", Pod: "coredns-5d78c9869d-abcde", PodUID: "1f2e3d4c-aaaa-bbbb-cccc-0123456789ab", Container: "coredns", Restart: 0}, true},
		{"/var/log/pods/ns_pod_uid/c/12.log.20260102-150405", Info{Namespace: "ns", Pod: "pod", PodUID: "uid", Container: "c", Restart: 12}, true},
		{"/var/log/pods/ns_pod_uid/c/3.log.20260102-150405.gz", Info{Namespace: "ns", Pod: "pod", PodUID: "uid", Container: "c", Restart: 3}, true},
		{"/host/var/log/pods/ns_pod_uid/c/1.log", Info{Namespace: "ns", Pod: "pod", PodUID: "uid", Container: "c", Restart: 1}, true},
		{"pods/ns_pod_uid/c/0.log", Info{Namespace: "ns", Pod: "pod", PodUID: "uid", Container: "c", Restart: 0}, true},
		{"/var/log/containers/web-7d9f8b6c5d-x2x9k_default_app-" + id + ".log",
			Info{Namespace: "default", Pod: "web-7d9f8b6c5d-x2x9k", Container: "app", ContainerID: id, Restart: -1}, true},
		{"/var/log/containers/p_ns_istio-proxy-" + id + ".log", Info{Namespace: "ns", Pod: "p", Container: "istio-proxy", ContainerID: id, Restart: -1}, true},
		{"/var/lib/docker/containers/" + id + "/" + id + "-json.log", Info{ContainerID: id, Restart: -1}, true},
		{"/var/lib/docker/containers/" + id + "/" + id + "-json.log.3", Info{ContainerID: id, Restart: -1}, true},
		// not container log paths
		{"/var/log/pods/ns_pod/c/0.log", Info{Restart: -1}, false},
		{"/var/log/pods/ns_pod_uid_x/c/0.log", Info{Restart: -1}, false},
		{"/var/log/pods/ns__uid/c/0.log", Info{Restart: -1}, false},
		{"/var/log/pods/ns_pod_uid/c/x.log", Info{Restart: -1}, false},
		{"/var/log/pods/ns_pod_uid/c/-1.log", Info{Restart: -1}, false},
		{"/var/log/pods/ns_pod_uid/c/0.logx", Info{Restart: -1}, false},
		{"/var/log/pods/ns_pod_uid/c/99999999999999999999.log", Info{Restart: -1}, false},
		{"/var/log/other/ns_pod_uid/c/0.log", Info{Restart: -1}, false},
		{"/var/log/containers/p_ns_c-" + id[:63] + ".log", Info{Restart: -1}, false},
		{"/var/log/containers/p_ns_c-" + strings.ToUpper(id) + ".log", Info{Restart: -1}, false},
		{"/var/log/containers/p_ns_" + id + ".log", Info{Restart: -1}, false},
		{"/var/log/containers/p_ns_c-" + id + ".log.1", Info{Restart: -1}, false},
		{"/var/lib/docker/containers/" + id + "/other-json.log", Info{Restart: -1}, false},
		{"/var/lib/docker/containers/" + id + "/" + id + "-json.log.x", Info{Restart: -1}, false},
		{"0.log", Info{Restart: -1}, false},
		{"", Info{Restart: -1}, false},
	} {
		got, ok := PathInfo(tc.path)
		if ok != tc.ok || got != tc.want {
			t.Errorf("PathInfo(%q) = %+v, %v; want %+v, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestInfoMerge(t *testing.T) {
	link := Info{Namespace: "ns", Pod: "p", Container: "c", ContainerID: "id", Restart: -1}
	target := Info{Namespace: "ns", Pod: "p", PodUID: "uid", Container: "c", Restart: 2}
	want := Info{Namespace: "ns", Pod: "p", PodUID: "uid", Container: "c", ContainerID: "id", Restart: 2}
	if got := link.merge(target); got != want {
		t.Errorf("merge = %+v, want %+v", got, want)
	}
}

func TestNewMeta(t *testing.T) {
	m := newMeta(Info{Namespace: "ns", Pod: "p\"q", Container: "c", Restart: 3})
	if m.service != `ns/p"q` || m.target != "c" || string(m.raw) != `,"namespace":"ns","pod":"p\"q","container":"c","restart":3` {
		t.Errorf("%+v %s", m, m.raw)
	}
	m = newMeta(Info{ContainerID: "abc", Restart: -1})
	if m.service != "" || m.target != "abc" || string(m.raw) != `,"container_id":"abc"` {
		t.Errorf("%+v %s", m, m.raw)
	}
}
