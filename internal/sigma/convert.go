// Package sigma converts Sigma rules (https://sigmahq.io, specification
// v2) into Tripline rule files: detections into a when expression over
// the source's records, correlations into stateful rules. What has no
// faithful translation is refused with a reason, or converted with a
// warning that says what differs; every converted rule is compiled with
// detect.Parse before it is returned. docs/sigma.md describes the mapping.
package sigma

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/tripline/tripline/detect"
)

// Status is the outcome of converting one Sigma rule.
type Status int

const (
	// Clean is a rule converted without warnings.
	Clean Status = iota
	// Warned is a rule converted with warnings: it runs, but something
	// is read differently from Sigma's definition (see Warnings).
	Warned
	// Refused is a rule that was not converted (see Reason).
	Refused
	// Merged is a base rule of a correlation, converted as part of the
	// correlation's rule only (Sigma's generate: false).
	Merged
)

func (s Status) String() string {
	return [...]string{"clean", "warnings", "refused", "merged"}[s]
}

// Result is the conversion of one Sigma document.
type Result struct {
	// File is the input file (with #n for a later document of a
	// multi-document file); Title and SigmaID are the Sigma rule's.
	File, Title, SigmaID string
	// Logsource is the Sigma logsource, for reports.
	Logsource Logsource
	Status    Status
	// ID is the Tripline rule id; Rule the rule file's content.
	ID   string
	Rule []byte
	// Warnings say what the converted rule reads differently; Reason
	// why a rule was refused, or which correlation a merged rule is in.
	Warnings []string
	Reason   string
}

// Input is one Sigma file.
type Input struct {
	Name string
	Data []byte
}

// Options tune the output.
type Options struct {
	// Schema is the $schema reference of the yaml-language-server
	// comment each rule file starts with; "" means "./schema.json".
	Schema string
}

// Convert converts every document of the inputs. Correlation rules may
// name base rules of any input. Results are in input order.
func Convert(inputs []Input, opts Options) []*Result {
	if opts.Schema == "" {
		opts.Schema = "./schema.json"
	}
	c := &converter{opts: opts, ids: map[string]bool{}, byRef: map[string]*item{}}
	for _, in := range inputs {
		for _, d := range ParseFile(in.Name, in.Data) {
			it := &item{doc: d, res: &Result{File: d.where(), Title: d.Title, SigmaID: d.ID, Logsource: d.Logsource}}
			c.items = append(c.items, it)
			for _, r := range d.refs() {
				c.byRef[r] = it
			}
		}
	}
	for _, it := range c.items {
		if it.doc.Err == nil && it.doc.Correlation == nil {
			c.translate(it)
		}
	}
	for _, it := range c.items {
		switch {
		case it.doc.Err != nil:
			it.res.Status, it.res.Reason = Refused, it.doc.Err.Error()
		case it.doc.Correlation != nil:
			c.correlate(it)
		}
	}
	for _, it := range c.items {
		if it.doc.Err == nil && it.doc.Correlation == nil && it.res.Status != Merged {
			c.emitDetection(it)
		}
	}
	out := make([]*Result, len(c.items))
	for i, it := range c.items {
		out[i] = it.res
	}
	return out
}

type converter struct {
	opts  Options
	items []*item
	byRef map[string]*item
	ids   map[string]bool
}

// item is a document in conversion.
type item struct {
	doc   *Document
	res   *Result
	t     *target
	when  *node
	warns []string
	err   error // why the detection could not be translated
}

// translate translates a detection rule's logsource and detection.
func (c *converter) translate(it *item) {
	t, err := resolveLogsource(it.doc.Logsource)
	if err != nil {
		it.err = err
		return
	}
	tr := &translator{t: t}
	n, err := tr.detection(it.doc.Detection)
	if err != nil {
		it.err = err
		return
	}
	if n.op == "false" {
		it.err = errors.New("the detection can never match")
		return
	}
	it.t, it.when, it.warns = t, n, tr.warns
}

func (c *converter) emitDetection(it *item) {
	if it.err != nil {
		it.res.Status, it.res.Reason = Refused, it.err.Error()
		return
	}
	r := c.header(it.doc, it.t, it.warns)
	r.when = it.when.render()
	r.summary = strings.ReplaceAll(it.doc.Title, "{{", "{ {") + ": " + it.t.summary
	c.finish(it.res, r)
}

// rule is a Tripline rule to write.
type rule struct {
	id, title, severity, description, when, summary string
	sources, tags, references                       []string
	stateKey                                        string
	state                                           []kv
	warns                                           []string
}

type kv struct {
	k string
	v any
}

var levels = map[string]string{
	"informational": "info", "low": "low", "medium": "medium", "high": "high", "critical": "critical",
}

// header fills the metadata of a rule from a Sigma document.
func (c *converter) header(d *Document, t *target, warns []string) *rule {
	r := &rule{title: d.Title, sources: t.sources, references: d.References, warns: append([]string(nil), warns...)}
	var ok bool
	if r.severity, ok = levels[d.Level]; !ok {
		r.severity = "medium"
		r.warns = append(r.warns, fmt.Sprintf("level %q is not a Sigma level: severity medium", d.Level))
	}
	var other []string
	for _, tag := range d.Tags {
		if tag = strings.ToLower(tag); strings.HasPrefix(tag, "attack.") {
			r.tags = append(r.tags, tag)
		} else {
			other = append(other, tag)
		}
	}
	var b strings.Builder
	if d.Description != "" {
		b.WriteString(d.Description + "\n\n")
	}
	if len(d.FalsePositives) > 0 {
		b.WriteString("False positives: " + strings.Join(d.FalsePositives, "; ") + "\n\n")
	}
	fmt.Fprintf(&b, "Converted by tripline rules import-sigma from Sigma rule %q", d.Title)
	if d.ID != "" {
		b.WriteString(" (" + d.ID + ")")
	}
	if d.Author != "" {
		b.WriteString(", author: " + d.Author)
	}
	if d.Status != "" {
		b.WriteString(", status: " + d.Status)
	}
	b.WriteString("; Detection Rule License 1.1.")
	if len(other) > 0 {
		b.WriteString(" Other Sigma tags: " + strings.Join(other, ", ") + ".")
	}
	if d.Status == "deprecated" || d.Status == "unsupported" {
		r.warns = append(r.warns, "Sigma status is "+d.Status)
	}
	r.description = b.String()
	r.id = c.newID(d)
	return r
}

var slugRE = regexp.MustCompile(`[^a-z0-9]+`)

// newID derives a unique Tripline id from the title: sigma-<slug>.
func (c *converter) newID(d *Document) string {
	slug := strings.Trim(slugRE.ReplaceAllString(strings.ToLower(d.Title), "-"), "-")
	if slug == "" {
		slug = "rule"
	}
	id := "sigma-" + slug
	if len(id) > 110 {
		id = strings.TrimRight(id[:110], "-")
	}
	base := id
	for n := 2; c.ids[id]; n++ {
		suffix := fmt.Sprintf("-%d", n)
		if n == 2 && len(d.ID) >= 8 {
			suffix = "-" + strings.ToLower(d.ID[:8])
		}
		id = base + suffix
	}
	c.ids[id] = true
	return id
}

// finish renders a rule, compiles it and records the result.
func (c *converter) finish(res *Result, r *rule) {
	data, err := r.marshal(c.opts.Schema)
	if err == nil {
		err = compile(r.id, data)
	}
	if err != nil {
		delete(c.ids, r.id)
		res.Status, res.Reason = Refused, "the converted rule does not compile: "+err.Error()
		return
	}
	res.ID, res.Rule, res.Warnings, res.Status = r.id, data, r.warns, Clean
	if len(r.warns) > 0 {
		res.Status = Warned
	}
}

// compile loads a rule file with the detect package, as Tripline would.
func compile(id string, data []byte) error {
	rules, errs := detect.Parse(id+".yaml", data)
	if len(errs) > 0 {
		msgs := make([]string, len(errs))
		for i, e := range errs {
			msgs[i] = e.Error()
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	if len(rules) != 1 {
		return fmt.Errorf("got %d rules, want 1", len(rules))
	}
	return nil
}

// Counts are the results of a conversion by status.
type Counts struct{ Total, Clean, Warned, Refused, Merged int }

// Count counts results by status.
func Count(results []*Result) Counts {
	var n Counts
	for _, r := range results {
		n.Total++
		switch r.Status {
		case Clean:
			n.Clean++
		case Warned:
			n.Warned++
		case Refused:
			n.Refused++
		case Merged:
			n.Merged++
		}
	}
	return n
}

// FileName is the output file name of a converted rule.
func (r *Result) FileName() string { return r.ID + ".yaml" }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
