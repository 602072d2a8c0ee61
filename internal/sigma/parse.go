package sigma

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Document is one YAML document of a Sigma file: a detection rule or a
// correlation rule.
type Document struct {
	// File is the file the document came from and Index its position
	// (0-based) among the file's documents; Line is its first line.
	File  string
	Index int
	Line  int

	Title          string
	ID             string
	Name           string
	Status         string
	Description    string
	References     []string
	Author         string
	Tags           []string
	FalsePositives []string
	Level          string
	Logsource      Logsource
	// Detection is the detection mapping (nil for a correlation rule).
	Detection *yaml.Node
	// Correlation is set for a correlation rule.
	Correlation *Correlation
	// Err is why the document could not be read; the other fields may
	// be partly set.
	Err error
}

// Logsource is a Sigma rule's logsource.
type Logsource struct {
	Category string `yaml:"category"`
	Product  string `yaml:"product"`
	Service  string `yaml:"service"`
}

// String renders the logsource as product/service/category.
func (l Logsource) String() string {
	var parts []string
	for _, kv := range [][2]string{{"product", l.Product}, {"service", l.Service}, {"category", l.Category}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+": "+kv[1])
		}
	}
	if len(parts) == 0 {
		return "{}"
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// Correlation is the correlation section of a Sigma correlation rule
// (Sigma specification v2, "Sigma Correlation Rules").
type Correlation struct {
	Type     string    `yaml:"type"`
	Rules    []string  `yaml:"rules"`
	GroupBy  []string  `yaml:"group-by"`
	Timespan string    `yaml:"timespan"`
	Generate bool      `yaml:"generate"`
	Aliases  yaml.Node `yaml:"aliases"`
	// Condition is {gte: N} and the like, with field for value_count.
	Condition map[string]any `yaml:"condition"`
}

// rawDoc is a document as decoded; Sigma has many optional keys, which
// are ignored.
type rawDoc struct {
	Title          string       `yaml:"title"`
	ID             string       `yaml:"id"`
	Name           string       `yaml:"name"`
	Status         string       `yaml:"status"`
	Description    string       `yaml:"description"`
	References     []string     `yaml:"references"`
	Author         string       `yaml:"author"`
	Tags           []string     `yaml:"tags"`
	FalsePositives yaml.Node    `yaml:"falsepositives"`
	Level          string       `yaml:"level"`
	Logsource      Logsource    `yaml:"logsource"`
	Detection      yaml.Node    `yaml:"detection"`
	Correlation    *Correlation `yaml:"correlation"`
	Action         string       `yaml:"action"`
}

// ParseFile reads the documents of a Sigma file. A document that cannot
// be read is returned with Err set; a YAML syntax error ends the file.
func ParseFile(name string, data []byte) []*Document {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var docs []*Document
	for i := 0; ; i++ {
		var n yaml.Node
		err := dec.Decode(&n)
		if err == io.EOF {
			break
		}
		d := &Document{File: name, Index: i}
		if err != nil {
			d.Err = fmt.Errorf("YAML: %w", err)
			docs = append(docs, d)
			break
		}
		if len(n.Content) == 0 || (n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null") {
			continue
		}
		d.Line = n.Content[0].Line
		d.Err = d.read(n.Content[0])
		docs = append(docs, d)
	}
	return docs
}

func (d *Document) read(n *yaml.Node) error {
	if n.Kind != yaml.MappingNode {
		return errors.New("a Sigma rule must be a YAML mapping")
	}
	var r rawDoc
	if err := n.Decode(&r); err != nil {
		return fmt.Errorf("reading the rule: %w", err)
	}
	d.Title, d.ID, d.Name, d.Status = strings.TrimSpace(r.Title), r.ID, r.Name, r.Status
	d.Description, d.References, d.Author = strings.TrimSpace(r.Description), r.References, r.Author
	d.Tags, d.Level, d.Logsource, d.Correlation = r.Tags, strings.ToLower(r.Level), r.Logsource, r.Correlation
	switch r.FalsePositives.Kind {
	case yaml.ScalarNode:
		if r.FalsePositives.Tag != "!!null" {
			d.FalsePositives = []string{r.FalsePositives.Value}
		}
	case yaml.SequenceNode:
		for _, e := range r.FalsePositives.Content {
			if e.Kind == yaml.ScalarNode {
				d.FalsePositives = append(d.FalsePositives, e.Value)
			}
		}
	}
	switch {
	case r.Action != "":
		return fmt.Errorf("action: %s documents (Sigma 1 rule collections) are not supported: write each rule out", r.Action)
	case d.Title == "":
		return errors.New("missing title")
	case r.Correlation != nil:
		return nil
	case r.Detection.Kind != yaml.MappingNode:
		return errors.New("missing detection (or it is not a mapping)")
	}
	d.Detection = &r.Detection
	return nil
}

// ref is how other rules name this one: its name, else its id.
func (d *Document) refs() []string {
	var out []string
	for _, s := range []string{d.Name, d.ID} {
		if s != "" {
			out = append(out, s)
		}
	}
	return out
}

// where names the document in messages: file, and #n for a later
// document of a multi-document file.
func (d *Document) where() string {
	if d.Index == 0 {
		return d.File
	}
	return fmt.Sprintf("%s#%d", d.File, d.Index+1)
}
