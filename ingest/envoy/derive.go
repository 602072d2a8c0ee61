package envoy

import (
	"fmt"
	"math"
	"net/netip"
	"strconv"
	"strings"
)

const maxInt64 = math.MaxInt64

// parseCount reads a count field (status, bytes, milliseconds): "" is 0;
// else a whole number in [0, max], in decimal or, as a JSON number may
// be, with a fraction or exponent that leaves it whole.
func parseCount(field, s string, max int64) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		f, ferr := strconv.ParseFloat(s, 64)
		if ferr != nil || math.IsInf(f, 0) || math.IsNaN(f) || f != math.Trunc(f) {
			return 0, fmt.Errorf("%s %q is not a whole number", field, s)
		}
		if f < 0 || f > float64(max) || f >= 1<<63 {
			return 0, rangeError(field, s, f < 0, max)
		}
		n = int64(f)
	}
	if n < 0 || n > max {
		return 0, rangeError(field, s, n < 0, max)
	}
	return n, nil
}

func rangeError(field, s string, negative bool, max int64) error {
	switch {
	case negative:
		return fmt.Errorf("%s %s is negative", field, s)
	case max == maxInt64:
		return fmt.Errorf("%s %s is too large", field, s)
	}
	return fmt.Errorf("%s %s is out of range (0–%d)", field, s, max)
}

// service names the service a request went to:
//   - an Istio cluster direction|port|subset|host gives its host, with
//     "<name>.<namespace>.svc.<cluster domain>" shortened to
//     "<name>.<namespace>";
//   - a server sidecar's inbound cluster has no host ("inbound|8000||"):
//     the host then comes from the Istio mTLS server name
//     (outbound_.<port>_.<subset>_.<host>), else from the authority;
//   - another cluster name is the service (shortened as a host is),
//     except Istio's catch-alls
//     (PassthroughCluster, BlackHoleCluster, InboundPassthroughCluster…),
//     which give the authority's host, as does a record without cluster.
func service(cluster, sni, authority string) string {
	if _, rest, ok := strings.Cut(cluster, "|"); ok {
		if host := rest[strings.LastIndexByte(rest, '|')+1:]; host != "" {
			return serviceName(host)
		}
		if host := sniHost(sni); host != "" {
			return serviceName(host)
		}
	} else if cluster != "" && !catchAll(cluster) {
		return serviceName(cluster)
	}
	return serviceName(hostOnly(authority))
}

func catchAll(cluster string) bool {
	return cluster == "PassthroughCluster" || cluster == "BlackHoleCluster" ||
		strings.HasPrefix(cluster, "InboundPassthroughCluster")
}

// sniHost returns the host of an Istio mTLS SNI
// "outbound_.8000_._.httpbin.foo.svc.cluster.local", else "".
func sniHost(sni string) string {
	rest, ok := strings.CutPrefix(sni, "outbound_.")
	if !ok {
		return ""
	}
	parts := strings.SplitN(rest, "_.", 3)
	if len(parts) != 3 {
		return ""
	}
	return parts[2]
}

// serviceName shortens a Kubernetes service host
// "reviews.default.svc.cluster.local" (or "reviews.default.svc") to
// "reviews.default"; other hosts stay as they are.
func serviceName(host string) string {
	if i := strings.Index(host, ".svc."); i > 0 {
		return host[:i]
	}
	if h, ok := strings.CutSuffix(host, ".svc"); ok && h != "" {
		return h
	}
	return host
}

// hostOnly drops the port of an authority: "httpbin:8000" → "httpbin",
// "[::1]:8080" → "::1".
func hostOnly(authority string) string {
	if strings.HasPrefix(authority, "[") {
		if i := strings.IndexByte(authority, ']'); i > 0 {
			return authority[1:i]
		}
		return authority
	}
	if i := strings.LastIndexByte(authority, ':'); i >= 0 && strings.IndexByte(authority[:i], ':') < 0 && allDigits(authority[i+1:]) {
		return authority[:i]
	}
	return authority
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// actor returns the calling workload's identity from a downstream peer URI
// SAN: the first spiffe:// URI of a comma-separated list, else the first
// URI.
func actor(san string) string {
	if !strings.Contains(san, ",") {
		return san
	}
	first := ""
	for u := range strings.SplitSeq(san, ",") {
		u = strings.TrimSpace(u)
		if strings.HasPrefix(u, "spiffe://") {
			return u
		}
		if first == "" {
			first = u
		}
	}
	return first
}

// srcIP returns the client address: the first X-Forwarded-For entry when
// it is an IP address, else the IP of the downstream remote address.
func srcIP(xff, remote string) string {
	if xff != "" {
		first, _, _ := strings.Cut(xff, ",")
		if ip, ok := parseIP(strings.TrimSpace(first)); ok {
			return ip
		}
	}
	if ip, ok := parseIP(remote); ok {
		return ip
	}
	return ""
}

// parseIP reads "10.0.0.1", "10.0.0.1:80", "::1", "[::1]" or "[::1]:80"
// and returns the address in canonical form, an IPv4-mapped IPv6 address
// as IPv4, without zone.
func parseIP(s string) (string, bool) {
	if s == "" {
		return "", false
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		ap, perr := netip.ParseAddrPort(s)
		switch {
		case perr == nil:
			a = ap.Addr()
		case len(s) > 2 && s[0] == '[' && s[len(s)-1] == ']':
			if a, err = netip.ParseAddr(s[1 : len(s)-1]); err != nil {
				return "", false
			}
		default:
			return "", false
		}
	}
	return a.Unmap().WithZone("").String(), true
}
