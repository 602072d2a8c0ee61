package detect

// Merge combines two rule sets in which override takes precedence: each
// rule of override whose id is that of a rule of base takes that rule's
// place, and the other rules of override follow the rules of base, in
// their order. replaced lists the ids of the base rules so replaced, in
// the order of base.
//
// It is how the user's rules (LoadPaths of rules.paths) are combined with
// the built-in pack (LoadFS of rules.Builtin): a user who copies a
// built-in rule to tune it keeps its id, and the copy replaces the
// built-in rule rather than clashing with it. Replacing a rule is not an
// error; report replaced as a notice. A rule in the result that replaced
// another is a copy of the override rule with Overrides set to the base
// rule; base and override are not modified.
//
// Merge does not check ids within one set: the loaders already report a
// repeated id in the files they load as a *LoadError and leave that rule
// out. A repeated id that reaches NewEngine anyway is reported there.
func Merge(base, override []*Rule) (rules []*Rule, replaced []string) {
	byID := make(map[string]*Rule, len(override))
	for _, r := range override {
		if r != nil {
			if _, dup := byID[r.ID]; !dup {
				byID[r.ID] = r
			}
		}
	}
	used := make(map[*Rule]bool, len(byID))
	rules = make([]*Rule, 0, len(base)+len(override))
	for _, b := range base {
		o := (*Rule)(nil)
		if b != nil {
			o = byID[b.ID]
		}
		if o == nil || used[o] {
			rules = append(rules, b)
			continue
		}
		c := *o
		c.Overrides = b
		rules = append(rules, &c)
		used[o] = true
		replaced = append(replaced, b.ID)
	}
	for _, r := range override {
		if !used[r] {
			rules = append(rules, r)
		}
	}
	return rules, replaced
}
