package rules

import (
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"
)

// OptionalIDs returns the ids of the optional rules, sorted: a rule's id
// is its file name without .yaml.
func OptionalIDs() []string {
	entries, _ := fs.ReadDir(Optional, "optional")
	var ids []string
	for _, e := range entries {
		if id, ok := strings.CutSuffix(e.Name(), ".yaml"); ok {
			ids = append(ids, id)
		}
	}
	return ids
}

// Pack returns the rule files to load as the built-in pack: every rule of
// Builtin, and the optional rules whose ids are listed ("all": every
// one), beside them at the root. An unknown id is an error naming the
// optional rules.
func Pack(optional []string) (fs.FS, error) {
	if len(optional) == 0 {
		return Builtin, nil
	}
	ids := OptionalIDs()
	chosen := map[string]bool{}
	for _, id := range optional {
		switch {
		case id == "all":
			for _, id := range ids {
				chosen[id+".yaml"] = true
			}
		case slices.Contains(ids, id):
			chosen[id+".yaml"] = true
		default:
			return nil, fmt.Errorf("no optional rule %q (optional rules: %s, or all)", id, strings.Join(ids, ", "))
		}
	}
	return &pack{chosen: chosen}, nil
}

// pack is Builtin with chosen files of optional/ at its root.
type pack struct{ chosen map[string]bool }

// Open implements fs.FS.
func (p *pack) Open(name string) (fs.File, error) {
	if p.chosen[name] {
		return Optional.Open(path.Join("optional", name))
	}
	return Builtin.Open(name)
}

// ReadDir implements fs.ReadDirFS.
func (p *pack) ReadDir(name string) ([]fs.DirEntry, error) {
	entries, err := fs.ReadDir(Builtin, name)
	if err != nil || name != "." {
		return entries, err
	}
	extra, err := fs.ReadDir(Optional, "optional")
	if err != nil {
		return nil, errors.Join(errors.New("rules: reading optional/"), err)
	}
	for _, e := range extra {
		if p.chosen[e.Name()] {
			entries = append(entries, e)
		}
	}
	slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return entries, nil
}
