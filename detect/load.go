package detect

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v3"
)

// MaxRuleFile caps the size of one rule file in bytes.
const MaxRuleFile = 1 << 20

// LoadFS loads and compiles every rule in the *.yml and *.yaml files under
// dir of fsys (recursively, in lexical order). A file may hold several
// rules as YAML documents separated by "---", and list and macro
// documents, whose names are shared by all the files loaded. Every
// problem is reported, as a *LoadError where it has a position; rules
// with problems are left out and the others are returned. Rule ids and
// list and macro names must be unique.
func LoadFS(fsys fs.FS, dir string) ([]*Rule, []error) {
	var u unit
	u.walk(fsys, dir, func(p string) string { return p })
	return u.load()
}

// LoadPaths loads rules like LoadFS from files and directories on disk. A
// file is loaded whatever its extension; a directory contributes its
// *.yml and *.yaml files. Lists and macros are shared by all of them.
func LoadPaths(paths []string) ([]*Rule, []error) {
	var u unit
	u.paths(paths)
	return u.load()
}

// Parse loads and compiles the rules of one rule file; name is used in
// errors and Rule.File. It checks id uniqueness within the file only, and
// its rules may use only the lists and macros it defines.
func Parse(name string, data []byte) ([]*Rule, []error) {
	var u unit
	u.parse(name, data)
	return u.load()
}

// LoadSet loads the built-in pack (the rule files at the root of builtin,
// recursively; none when builtin is nil) and the user's rule files and
// directories (paths) as one rule set. Lists and macros are shared by
// every file of both, so a user's rule may use a built-in macro, and a
// user's list or macro replaces the built-in one of the same name, for
// every rule (a site's own $trusted_ci_roles). Rules are combined as
// Merge does: a user's rule replaces the built-in rule of the same id.
// replaced lists the ids of the built-in rules so replaced, then the
// $names of the built-in lists and macros replaced. Ids and names must be
// unique within the built-in pack and within the user's files; errors are
// reported as LoadFS does.
func LoadSet(builtin fs.FS, paths []string) (rules []*Rule, replaced []string, errs []error) {
	var b, u unit
	if builtin != nil {
		b.walk(builtin, ".", func(p string) string { return p })
	}
	u.paths(paths)
	defs, names, defErrs := newScope(b.defs(), u.defs())
	base, errs := b.compile(defs, defErrs)
	user, uerrs := u.compile(defs, defErrs)
	rules, replaced = Merge(base, user)
	return rules, append(replaced, names...), append(errs, uerrs...)
}

// unit is what one loader call reads: rule, list and macro documents and
// problems, in load order. Rules are compiled once every definition is
// known.
type unit struct {
	items []unitItem
}

// unitItem is a document or a problem.
type unitItem struct {
	errs []error
	rule *pendingRule
	def  *definition
}

func (u *unit) fail(err error) { u.items = append(u.items, unitItem{errs: []error{err}}) }

// walk reads the rule files under dir of fsys, naming each file name(p).
func (u *unit) walk(fsys fs.FS, dir string, name func(p string) string) {
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			u.fail(fmt.Errorf("%s: %w", name(p), err))
			if d != nil && d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || !isRuleFile(p) {
			return nil
		}
		data, err := readLimited(fsys, p)
		if err != nil {
			u.fail(fmt.Errorf("%s: %w", name(p), err))
			return nil
		}
		u.parse(name(p), data)
		return nil
	})
	if err != nil {
		u.fail(err)
	}
}

// paths reads files and directories on disk.
func (u *unit) paths(paths []string) {
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			u.fail(err)
			continue
		}
		if !st.IsDir() {
			data, err := readLimited(os.DirFS(filepath.Dir(p)), filepath.Base(p))
			if err != nil {
				u.fail(fmt.Errorf("%s: %w", p, err))
				continue
			}
			u.parse(p, data)
			continue
		}
		u.walk(os.DirFS(p), ".", func(rel string) string { return filepath.Join(p, filepath.FromSlash(rel)) })
	}
}

// parse reads the documents of one rule file.
func (u *unit) parse(name string, data []byte) {
	if len(data) > MaxRuleFile {
		u.fail(&LoadError{File: name, Line: 1, Column: 1, Err: fmt.Errorf("file larger than %d bytes", MaxRuleFile)})
		return
	}
	src := newSource(name, data)
	dec := yaml.NewDecoder(bytes.NewReader(data))
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if err == io.EOF {
			break
		}
		if err != nil {
			u.fail(yamlError(name, err))
			break // the decoder cannot resume after a syntax error
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // empty document
		}
		var it unitItem
		if isDefinition(root) {
			it.def, it.errs = parseDefinition(src, root)
		} else {
			it.rule, it.errs = parseRule(src, root)
		}
		u.items = append(u.items, it)
	}
}

// defs returns the unit's valid definitions, in order.
func (u *unit) defs() []*definition {
	var out []*definition
	for _, it := range u.items {
		if it.def != nil {
			out = append(out, it.def)
		}
	}
	return out
}

// load compiles a unit on its own.
func (u *unit) load() ([]*Rule, []error) {
	defs, _, defErrs := newScope(u.defs())
	return u.compile(defs, defErrs)
}

// compile compiles the unit's rules with defs and returns them with every
// problem in load order (defErrs are the problems of the definitions),
// leaving out the rules with problems and repeated ids.
func (u *unit) compile(defs *scope, defErrs map[*definition][]error) ([]*Rule, []error) {
	var c collector
	for _, it := range u.items {
		c.errs = append(c.errs, it.errs...)
		if it.def != nil {
			c.errs = append(c.errs, defErrs[it.def]...)
		}
		if it.rule != nil {
			r, errs := it.rule.compile(defs)
			c.errs = append(c.errs, errs...)
			if r != nil {
				c.rules = append(c.rules, r)
			}
		}
	}
	return c.finish()
}

func isRuleFile(p string) bool {
	ext := strings.ToLower(path.Ext(p))
	return ext == ".yml" || ext == ".yaml"
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxRuleFile+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxRuleFile {
		return nil, fmt.Errorf("file larger than %d bytes", MaxRuleFile)
	}
	return data, nil
}

// collector gathers rules and errors and rejects duplicate ids.
type collector struct {
	rules []*Rule
	errs  []error
}

func (c *collector) finish() ([]*Rule, []error) {
	seen := make(map[string]*Rule, len(c.rules))
	out := c.rules[:0]
	for _, r := range c.rules {
		if first, dup := seen[r.ID]; dup {
			c.errs = append(c.errs, duplicateError(r, first))
			continue
		}
		seen[r.ID] = r
		out = append(out, r)
	}
	return out, c.errs
}

// duplicateError is the *LoadError of rule r, whose id the earlier rule
// first has.
func duplicateError(r, first *Rule) *LoadError {
	return &LoadError{File: r.File, Line: r.idLine, Column: r.idCol, RuleID: r.ID, Err: &duplicateIDError{first: first}}
}

// duplicateIDError says where a repeated rule id was first defined. It
// reads first.File when printed, so that it names the path LoadPaths gives
// the rules of a directory after LoadFS loaded them.
type duplicateIDError struct{ first *Rule }

func (e *duplicateIDError) Error() string {
	return fmt.Sprintf("duplicate rule id (first defined at %s:%d)", e.first.File, e.first.idLine)
}
