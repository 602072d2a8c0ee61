package pipeline

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tripline/tripline/detect"
	"github.com/tripline/tripline/internal/config"
)

// ruleSet is one generation of the loaded rules.
type ruleSet struct {
	gen    uint64
	engine *detect.Engine
	// versions are the rules' versions by id.
	versions map[string]string
}

// Rules holds the running rules and replaces them on Reload: the set is
// compiled aside and swapped whole, the detect stage takes it for its
// next batch and the state stage before its next match (SetRules). A
// rule that fails to load keeps its previous version running.
type Rules struct {
	cfg config.Rules
	log *slog.Logger
	// OnSwap, if set, is called with each new set's rules and
	// generation, after it is current (under Reload's lock, so in order).
	OnSwap func(rules []*detect.Rule, gen uint64)

	mu  sync.Mutex // one reload at a time
	cur atomic.Pointer[ruleSet]
}

// NewRules loads the configured rules, logging those that fail, and
// returns them as generation 1.
func NewRules(cfg config.Rules, log *slog.Logger) *Rules {
	r := &Rules{cfg: cfg, log: log}
	all, errs := LoadRules(cfg)
	for _, err := range errs {
		log.Error("rule not loaded", "err", err)
	}
	for _, rule := range all {
		if rule.Overrides != nil {
			log.Info("rule replaces the built-in rule of the same id", "rule", rule.ID,
				"file", fmt.Sprintf("%s:%d", rule.File, rule.Line), "builtin", rule.Overrides.File)
		}
	}
	set := r.build(all, 1)
	log.Info("rules loaded", "rules", len(set.engine.Rules()), "failed", len(all)-len(set.engine.Rules())+len(errs))
	r.cur.Store(set)
	return r
}

// build compiles rules into generation gen, logging the rules the engine
// leaves out (it never fails as a whole).
func (r *Rules) build(rules []*detect.Rule, gen uint64) *ruleSet {
	eng, err := detect.NewEngine(rules)
	if err != nil {
		r.log.Error("rule not loaded", "err", err)
	}
	set := &ruleSet{gen: gen, engine: eng, versions: map[string]string{}}
	for _, rule := range eng.Rules() {
		set.versions[rule.ID] = rule.Version
	}
	return set
}

// Engine returns the current engine.
func (r *Rules) Engine() *detect.Engine { return r.cur.Load().engine }

// Generation returns the current set's generation.
func (r *Rules) Generation() uint64 { return r.cur.Load().gen }

// ReloadResult says what a reload changed.
type ReloadResult struct {
	// Generation is the set running after the reload.
	Generation uint64 `json:"generation"`
	// Rules is how many rules run.
	Rules int `json:"rules"`
	// Added, Changed and Removed are rule ids.
	Added   []string `json:"added"`
	Changed []string `json:"changed"`
	Removed []string `json:"removed"`
	// Failed are the load errors; the rules they concern keep their
	// previous version.
	Failed []string `json:"failed"`
}

// Reload loads the configured rules again and, when they differ from
// the running ones, swaps them in. A rule that fails to load keeps its
// previous version, and so does every rule missing from a reload with an
// error that names no rule (see below).
func (r *Rules) Reload() ReloadResult {
	r.mu.Lock()
	defer r.mu.Unlock()
	old := r.cur.Load()
	all, errs := LoadRules(r.cfg)
	res := ReloadResult{Generation: old.gen}
	// A rule whose own error is known keeps its previous version; an
	// error no rule is named in (a file or directory that cannot be
	// read, a file too large, broken YAML) keeps every rule the reload
	// did not load, since any of them may be in it: a rule goes away
	// only in a reload without such errors.
	failedIDs, keepAll := map[string]bool{}, false
	for _, err := range errs {
		res.Failed = append(res.Failed, err.Error())
		var le *detect.LoadError
		if errors.As(err, &le) && le.RuleID != "" {
			failedIDs[le.RuleID] = true
		} else {
			keepAll = true
		}
	}
	loaded := map[string]bool{}
	for _, rule := range all {
		loaded[rule.ID] = true
	}
	for _, rule := range old.engine.Rules() {
		if !loaded[rule.ID] && (keepAll || failedIDs[rule.ID]) {
			all = append(all, rule) // the previous version runs on
			loaded[rule.ID] = true
		}
	}
	next := r.build(all, old.gen+1)
	for id, v := range next.versions {
		switch was, ok := old.versions[id]; {
		case !ok:
			res.Added = append(res.Added, id)
		case was != v:
			res.Changed = append(res.Changed, id)
		}
	}
	for id := range old.versions {
		if _, ok := next.versions[id]; !ok {
			res.Removed = append(res.Removed, id)
		}
	}
	slices.Sort(res.Added)
	slices.Sort(res.Changed)
	slices.Sort(res.Removed)
	res.Rules = len(next.versions)
	for _, e := range res.Failed {
		r.log.Error("rule not reloaded; its previous version runs on", "err", e)
	}
	if len(res.Added)+len(res.Changed)+len(res.Removed) == 0 {
		return res
	}
	r.cur.Store(next)
	res.Generation = next.gen
	if r.OnSwap != nil {
		r.OnSwap(next.engine.Rules(), next.gen)
	}
	r.log.Info("rules reloaded", "generation", next.gen, "rules", res.Rules,
		"added", res.Added, "changed", res.Changed, "removed", res.Removed, "failed", len(res.Failed))
	return res
}

// Watch reloads the rules on SIGHUP and whenever the files under
// rules.paths change (checked every interval; 0 disables the check),
// until ctx ends.
func (r *Rules) Watch(ctx context.Context, interval time.Duration) error {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	var tick <-chan time.Time
	if interval > 0 && len(r.cfg.Paths) > 0 {
		t := time.NewTicker(interval)
		defer t.Stop()
		tick = t.C
	}
	last := r.fingerprint()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-hup:
			r.log.Info("SIGHUP: reloading rules")
			r.Reload()
			last = r.fingerprint()
		case <-tick:
			if fp := r.fingerprint(); fp != last {
				last = fp
				r.Reload()
			}
		}
	}
}

// fingerprint hashes the names and contents of the rule files under
// rules.paths (what the loader reads: a path named directly, and the
// *.yaml and *.yml files of a directory, up to detect.MaxRuleFile bytes
// each), so that an edit, rename or removal changes it. A path that is a
// symbolic link is followed, as the loader follows it.
func (r *Rules) fingerprint() [sha256.Size]byte {
	h := sha256.New()
	add := func(path string) {
		f, err := os.Open(path)
		if err != nil {
			fmt.Fprintf(h, "%s: %v\n", path, err)
			return
		}
		defer f.Close()
		n, err := io.Copy(h, io.LimitReader(f, detect.MaxRuleFile+1))
		fmt.Fprintf(h, "\x00%s %d %v\n", path, n, err)
	}
	for _, p := range r.cfg.Paths {
		root, err := filepath.EvalSymlinks(p)
		if err != nil {
			fmt.Fprintf(h, "%s: %v\n", p, err)
			continue
		}
		if st, err := os.Stat(root); err != nil || !st.IsDir() {
			add(root)
			continue
		}
		_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
			switch {
			case err != nil:
				fmt.Fprintf(h, "%s: %v\n", path, err)
			case !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")):
				add(path)
			}
			return nil
		})
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// reloadHandler serves POST /v1/rules/reload: the reload's result as
// JSON. With token set, the request must carry it as a bearer token;
// without one, the endpoint answers on a loopback listener only.
func (r *Rules) reloadHandler(token string, loopback bool) http.HandlerFunc {
	return func(w http.ResponseWriter, req *http.Request) {
		if token == "" && !loopback {
			http.Error(w, "reloading over the network needs http.auth_token", http.StatusForbidden)
			return
		}
		if token != "" {
			got, ok := strings.CutPrefix(req.Header.Get("Authorization"), "Bearer ")
			if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(token)) != 1 {
				w.Header().Set("WWW-Authenticate", "Bearer")
				http.Error(w, "unauthorized", http.StatusUnauthorized)
				return
			}
		}
		res := r.Reload()
		w.Header().Set("Content-Type", "application/json")
		if len(res.Failed) > 0 {
			w.WriteHeader(http.StatusUnprocessableEntity)
		}
		_ = json.NewEncoder(w).Encode(res)
	}
}
