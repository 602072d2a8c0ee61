package config

import (
	"fmt"
	"os"
	"reflect"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts every environment variable Tripline reads.
const EnvPrefix = "TRIPLINE_"

// applyEnv sets every key named by a TRIPLINE_<SECTION>_<KEY> variable, or
// read from the file named by TRIPLINE_<SECTION>_<KEY>_FILE. Unknown
// TRIPLINE_ variables are errors (TRIPLINE_TEST_* are left to tests).
func applyEnv(cfg *Config, environ []string) error {
	fields := map[string]reflect.Value{}
	collectEnv(reflect.ValueOf(cfg).Elem(), "TRIPLINE", fields)
	for _, kv := range environ {
		name, val, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) || strings.HasPrefix(name, EnvPrefix+"TEST_") {
			continue
		}
		base, isFile := strings.CutSuffix(name, "_FILE")
		f, ok := fields[name]
		if ok {
			isFile = false
		} else if f, ok = fields[base]; !ok || !isFile {
			var key string
			if f, key, ok = mapEntry(fields, base); !ok {
				return fmt.Errorf("unknown environment variable %s", name)
			}
			if isFile {
				var err error
				if val, err = readSecret(val); err != nil {
					return fmt.Errorf("%s: %w", name, err)
				}
			}
			if f.IsNil() {
				f.Set(reflect.MakeMap(f.Type()))
			}
			f.SetMapIndex(reflect.ValueOf(key), reflect.ValueOf(val))
			continue
		}
		if isFile {
			var err error
			if val, err = readSecret(val); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
		if err := setValue(f, val); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

// readSecret reads a value from the file at path, without its line end.
func readSecret(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

// mapEntry finds the map[string]string field that name sets an entry of:
// TRIPLINE_INGEST_TOKENS_K8S_AUDIT sets ingest.tokens["k8s-audit"] (the
// key lower-cased, "_" read as "-").
func mapEntry(fields map[string]reflect.Value, name string) (reflect.Value, string, bool) {
	for prefix, f := range fields {
		if f.Kind() != reflect.Map {
			continue
		}
		if key, ok := strings.CutPrefix(name, prefix+"_"); ok && key != "" {
			return f, strings.ReplaceAll(strings.ToLower(key), "_", "-"), true
		}
	}
	return reflect.Value{}, "", false
}

func collectEnv(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		tag, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		if opts == "inline" {
			collectEnv(v.Field(i), prefix, out)
			continue
		}
		if tag == "" || tag == "-" {
			continue
		}
		name := prefix + "_" + strings.ToUpper(tag)
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.Type() != reflect.TypeFor[time.Duration]() {
			collectEnv(f, name, out)
			continue
		}
		out[name] = f
	}
}

var durationType = reflect.TypeFor[time.Duration]()

func setValue(f reflect.Value, s string) error {
	if f.Type() == durationType {
		d, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		f.SetInt(int64(d))
		return nil
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return err
		}
		f.SetBool(b)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return err
		}
		f.SetInt(n)
	case reflect.Slice:
		var parts []string
		for p := range strings.SplitSeq(s, ",") {
			if p = strings.TrimSpace(p); p != "" {
				parts = append(parts, p)
			}
		}
		f.Set(reflect.ValueOf(parts))
	default:
		return fmt.Errorf("cannot set %s from the environment", f.Type())
	}
	return nil
}
