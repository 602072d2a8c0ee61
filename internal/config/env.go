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
		f, ok := fields[name]
		if !ok {
			base, isFile := strings.CutSuffix(name, "_FILE")
			if f, ok = fields[base]; !ok || !isFile {
				return fmt.Errorf("unknown environment variable %s", name)
			}
			b, err := os.ReadFile(val)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			val = strings.TrimRight(string(b), "\r\n")
		}
		if err := setValue(f, val); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	return nil
}

func collectEnv(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		tag, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
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
