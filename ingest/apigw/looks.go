package apigw

// Looks reports whether a CloudWatch Logs message looks like an API
// Gateway access-log record in JSON under the default keys: a JSON object
// with a top-level request id key (requestId, request_id, ...), an HTTP
// method or status key, and one more key of another role (ip,
// requestTime, resourcePath, protocol, responseLength, ...). It reads the
// top-level keys only, without allocating, so Lambda's Telemetry API
// records ({"time","type","record":{"requestId",...}}) and application
// JSON logs do not match. Text lines (CLF, CSV, XML) never match: nothing
// tells them from other access logs.
func Looks(msg []byte) bool { return Decoder{}.Looks(msg) }

// Looks is the package's Looks under d's key map: a role KeyMap names is
// looked for under that key instead of the defaults.
func (d Decoder) Looks(msg []byte) bool {
	var seen [numRoles]bool
	ok := scanObject(msg, func(key, _ []byte) {
		for r := range numRoles {
			if !seen[r] && d.isKey(r, key) {
				seen[r] = true
			}
		}
	})
	if !ok || !seen[roleRequestID] || !seen[roleMethod] && !seen[roleStatus] {
		return false
	}
	n := 0
	for _, s := range seen {
		if s {
			n++
		}
	}
	return n >= 3
}

// isKey reports whether key is a top-level key of role r.
func (d Decoder) isKey(r role, key []byte) bool {
	if k, ok := d.Config.KeyMap[roleNames[r]]; ok {
		return k == string(key) || hasPathPrefix(k, key)
	}
	for _, k := range defaultKeys[r] {
		if k == string(key) {
			return true
		}
	}
	return false
}

// hasPathPrefix reports whether the dotted key starts with segment+".".
func hasPathPrefix(key string, segment []byte) bool {
	return len(key) > len(segment) && key[len(segment)] == '.' && key[:len(segment)] == string(segment)
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipString returns the index after the string starting at b[i] == '"',
// or -1.
func skipString(b []byte, i int) int {
	for j := i + 1; j < len(b); j++ {
		switch b[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// skipValue returns the index after the value starting at b[i], or -1.
// Objects and arrays are skipped by bracket depth.
func skipValue(b []byte, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = skipString(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) && b[j] != ',' && b[j] != '}' && b[j] != ']' && b[j] != ' ' && b[j] != '\t' && b[j] != '\n' && b[j] != '\r' {
		j++
	}
	if j == i {
		return -1
	}
	return j
}
