package detect

import (
	"bytes"
	"errors"
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
// rules as YAML documents separated by "---". Every problem is reported,
// as a *LoadError where it has a position; rules with problems are left
// out and the others are returned. Rule ids must be unique.
func LoadFS(fsys fs.FS, dir string) ([]*Rule, []error) {
	var c collector
	err := fs.WalkDir(fsys, dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			c.errs = append(c.errs, fmt.Errorf("%s: %w", p, err))
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
			c.errs = append(c.errs, fmt.Errorf("%s: %w", p, err))
			return nil
		}
		c.add(Parse(p, data))
		return nil
	})
	if err != nil {
		c.errs = append(c.errs, err)
	}
	return c.finish()
}

// LoadPaths loads rules like LoadFS from files and directories on disk. A
// file is loaded whatever its extension; a directory contributes its
// *.yml and *.yaml files.
func LoadPaths(paths []string) ([]*Rule, []error) {
	var c collector
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			c.errs = append(c.errs, err)
			continue
		}
		if !st.IsDir() {
			data, err := readLimited(os.DirFS(filepath.Dir(p)), filepath.Base(p))
			if err != nil {
				c.errs = append(c.errs, fmt.Errorf("%s: %w", p, err))
				continue
			}
			c.add(Parse(p, data))
			continue
		}
		rules, errs := LoadFS(os.DirFS(p), ".")
		for _, r := range rules {
			r.File = filepath.Join(p, filepath.FromSlash(r.File))
		}
		for _, err := range errs {
			var le *LoadError
			if errors.As(err, &le) {
				le.File = filepath.Join(p, filepath.FromSlash(le.File))
			}
		}
		c.rules = append(c.rules, rules...)
		c.errs = append(c.errs, errs...)
	}
	return c.finish()
}

// Parse loads and compiles the rules of one rule file; name is used in
// errors and Rule.File. It checks id uniqueness within the file only.
func Parse(name string, data []byte) ([]*Rule, []error) {
	var c collector
	if len(data) > MaxRuleFile {
		return nil, []error{&LoadError{File: name, Line: 1, Column: 1,
			Err: fmt.Errorf("file larger than %d bytes", MaxRuleFile)}}
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
			c.errs = append(c.errs, yamlError(name, err))
			break // the decoder cannot resume after a syntax error
		}
		if len(doc.Content) == 0 {
			continue
		}
		root := doc.Content[0]
		if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
			continue // empty document
		}
		r, errs := parseRule(src, root)
		c.errs = append(c.errs, errs...)
		if r != nil {
			c.rules = append(c.rules, r)
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

func (c *collector) add(rules []*Rule, errs []error) {
	c.rules = append(c.rules, rules...)
	c.errs = append(c.errs, errs...)
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
