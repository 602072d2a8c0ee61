package tail

import (
	"strconv"
	"strings"

	"github.com/tripline/tripline/internal/jsonenc"
)

// Info is what the path of a container log file says about its
// container. Fields the path does not carry are empty.
type Info struct {
	Namespace   string
	Pod         string
	PodUID      string
	Container   string
	ContainerID string
	// Restart is the container's restart count (the file name of a
	// /var/log/pods file), -1 when the path does not say.
	Restart int
}

// PathInfo parses the path of a container log file, in any of these
// layouts (the directory above may differ, e.g. /host/var/log when the
// node's /var/log is mounted in a pod):
//
//	…/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log
//	…/pods/<namespace>_<pod>_<uid>/<container>/<restart>.log.<suffix>   (rotated: .20260102-150405, .gz)
//	…/containers/<pod>_<namespace>_<container>-<64 hex id>.log          (kubelet's symlinks)
//	…/containers/<64 hex id>/<64 hex id>-json.log[.<n>]                 (docker json-file)
//
// ok is false for any other path.
func PathInfo(path string) (Info, bool) {
	info := Info{Restart: -1}
	parts := strings.Split(path, "/")
	n := len(parts)
	if n < 2 {
		return info, false
	}
	file, dir := parts[n-1], parts[n-2]

	// …/pods/<ns>_<pod>_<uid>/<container>/<restart>.log[.<suffix>]
	if n >= 4 && parts[n-4] == "pods" {
		num, rest, ok := strings.Cut(file, ".log")
		pod := strings.Split(parts[n-3], "_")
		if ok && (rest == "" || rest[0] == '.') && len(pod) == 3 && pod[0] != "" && pod[1] != "" && pod[2] != "" && dir != "" {
			if r, err := strconv.Atoi(num); err == nil && r >= 0 && isDigits(num) {
				info.Namespace, info.Pod, info.PodUID, info.Container, info.Restart = pod[0], pod[1], pod[2], dir, r
				return info, true
			}
		}
	}
	// …/containers/<pod>_<ns>_<container>-<id>.log
	if dir == "containers" {
		name, ok := strings.CutSuffix(file, ".log")
		f := strings.Split(name, "_")
		if ok && len(f) == 3 && f[0] != "" && f[1] != "" {
			if i := strings.LastIndexByte(f[2], '-'); i > 0 && isContainerID(f[2][i+1:]) {
				info.Pod, info.Namespace, info.Container, info.ContainerID = f[0], f[1], f[2][:i], f[2][i+1:]
				return info, true
			}
		}
	}
	// …/containers/<id>/<id>-json.log[.<n>]
	if n >= 3 && parts[n-3] == "containers" && isContainerID(dir) {
		rest, ok := strings.CutPrefix(file, dir+"-json.log")
		if ok && (rest == "" || rest[0] == '.' && isDigits(rest[1:])) {
			info.ContainerID = dir
			return info, true
		}
	}
	return info, false
}

// merge fills the empty fields of i from o.
func (i Info) merge(o Info) Info {
	fill := func(a *string, b string) {
		if *a == "" {
			*a = b
		}
	}
	fill(&i.Namespace, o.Namespace)
	fill(&i.Pod, o.Pod)
	fill(&i.PodUID, o.PodUID)
	fill(&i.Container, o.Container)
	fill(&i.ContainerID, o.ContainerID)
	if i.Restart < 0 {
		i.Restart = o.Restart
	}
	return i
}

func isDigits(s string) bool {
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// isContainerID reports whether s is a 64-digit lower-case hex id.
func isContainerID(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := range len(s) {
		if c := s[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// fileMeta is what every event of a file carries from its path: the
// Raw members (rendered once) and the normalized Service and Target.
type fileMeta struct {
	raw             []byte // `,"namespace":"…",…` or empty
	service, target string
}

// newMeta renders info. Service is "<namespace>/<pod>" (what a responder
// looks up with kubectl), Target the container name, else its id.
func newMeta(info Info) *fileMeta {
	m := &fileMeta{target: info.Container}
	if m.target == "" {
		m.target = info.ContainerID
	}
	if info.Namespace != "" && info.Pod != "" {
		m.service = info.Namespace + "/" + info.Pod
	}
	add := func(k, v string) {
		if v != "" {
			m.raw = append(m.raw, `,"`+k+`":`...)
			m.raw = jsonenc.AppendString(m.raw, v)
		}
	}
	add("namespace", info.Namespace)
	add("pod", info.Pod)
	add("pod_uid", info.PodUID)
	add("container", info.Container)
	add("container_id", info.ContainerID)
	if info.Restart >= 0 {
		m.raw = append(m.raw, `,"restart":`...)
		m.raw = strconv.AppendInt(m.raw, int64(info.Restart), 10)
	}
	return m
}
