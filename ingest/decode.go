// Package ingest receives records from log sources, decodes each into one
// normalized event.Event, and hands batches to a Publisher that stores them
// in JetStream.
package ingest

import (
	"errors"
	"fmt"
	"time"

	"github.com/tripline/tripline/ingest/apigw"
	"github.com/tripline/tripline/ingest/azurelog"
	"github.com/tripline/tripline/ingest/envoy"
	"github.com/tripline/tripline/ingest/gcplog"
	"github.com/tripline/tripline/ingest/syslog"
	"github.com/tripline/tripline/ingest/tail"
	"github.com/tripline/tripline/internal/event"
)

// Decoder turns one record of a source into a normalized event. rec is
// one record as split by SplitRecords, not yet validated: a JSON object,
// or for LineRecords decoders a text line. The decoder must parse it, and
// may keep it as ev.Raw when it is a JSON object.
//
// A decoder may also implement Enveloped (its records may come wrapped in
// envelopes) and ContentIDs (its event ids are content hashes).
type Decoder interface {
	Decode(rec []byte, ev *event.Event) error
}

// ContentIDs is implemented by decoders whose records have no id of their
// own, so that every event id they make is a content hash of the record
// (event.ContentID). ContentIDs reports whether that is so.
//
// The ingest handler drops a repeated id within one request as a resend,
// unless the decoder makes content ids: then identical records are
// distinct events (two identical "login failed" lines), and the n-th
// repeat of an id in a request gets the id "<id>-<n>". The numbering
// depends only on the order of the records in the body, so a retry of the
// same request makes the same ids.
type ContentIDs interface {
	ContentIDs() bool
}

func makesContentIDs(dec Decoder) bool {
	c, ok := dec.(ContentIDs)
	return ok && c.ContentIDs()
}

// AcksRejected is implemented by decoders whose producer retries every
// answer but 2xx for as long as it can (a Pub/Sub push subscription): a
// request whose every record was dead-lettered is answered 200, since a
// retry could only dead-letter them again. AcksRejected reports whether
// that is so.
type AcksRejected interface {
	AcksRejected() bool
}

func acksRejected(dec Decoder) bool {
	a, ok := dec.(AcksRejected)
	return ok && a.AcksRejected()
}

// SourceConfig holds the settings of the decoders that have any.
type SourceConfig struct {
	// JSON names the time and message fields of generic JSON logs.
	JSON JSONConfig `yaml:"json"`
	// APIGateway maps API Gateway access log keys to fields.
	APIGateway apigw.Config `yaml:"apigateway"`
	// Envoy names the fields a text access log format appends.
	Envoy envoy.Decoder `yaml:"envoy"`
	// GCP bounds Pub/Sub push messages.
	GCP gcplog.Decoder `yaml:"gcp"`
	// Syslog configures the syslog listeners and the time zone of RFC
	// 3164 timestamps.
	Syslog syslog.Config `yaml:"syslog"`
}

// DefaultSourceConfig is the decoders' configuration when unset.
var DefaultSourceConfig = func() SourceConfig {
	c := SourceConfig{JSON: DefaultJSONConfig}
	c.Syslog.Defaults()
	return c
}()

// Validate reports a setting no decoder can work with.
func (c SourceConfig) Validate() error {
	if len(c.JSON.TimeFields) == 0 {
		return errors.New("json.time_fields: must not be empty")
	}
	if err := c.APIGateway.Validate(); err != nil {
		return fmt.Errorf("apigateway: %w", err)
	}
	if err := c.Envoy.Validate(); err != nil {
		return fmt.Errorf("envoy: %w", err)
	}
	if err := c.Syslog.Validate(); err != nil {
		return fmt.Errorf("syslog: %w", err)
	}
	return nil
}

// Decoders returns the decoder of every source Tripline accepts, by name.
func Decoders(cfg SourceConfig) map[string]Decoder {
	return map[string]Decoder{
		"apigateway": apigw.Decoder{Config: cfg.APIGateway, Now: time.Now},
		"azure":      azureDecoder{},
		"cloudtrail": CloudTrail{},
		"envoy":      cfg.Envoy,
		"gcp":        gcpDecoder{cfg.GCP},
		"json":       JSONLog{Config: cfg.JSON, Now: time.Now},
		"k8s-audit":  K8sAudit{},
		"lambda":     Lambda{},
		"syslog":     cfg.Syslog.Decoder(),
		"container":  tail.Decoder{},
	}
}

// gcpDecoder decodes Cloud Logging entries, most often from a Pub/Sub
// push subscription, which redelivers any message not answered 2xx.
type gcpDecoder struct{ gcplog.Decoder }

// AcksRejected implements AcksRejected.
func (gcpDecoder) AcksRejected() bool { return true }

// azureDecoder decodes Azure resource logs, opening the {"records":[...]}
// envelope of a diagnostic settings delivery.
type azureDecoder struct{ azurelog.Decoder }

// Envelopes implements Enveloped.
func (azureDecoder) Envelopes() Envelope { return EnvelopeAzureRecords }

// Event times must fit the event bus (Unix nanoseconds, 1678–2262) and
// ClickHouse's DateTime (1970–2106): [minTime, maxTime).
var (
	minTime = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
	maxTime = time.Date(2106, 1, 1, 0, 0, 0, 0, time.UTC)
)

func timeInRange(t time.Time) bool {
	return !t.Before(minTime) && t.Before(maxTime)
}

// checkTime rejects a time that cannot be stored; field and text name it.
func checkTime(field, text string, t time.Time) error {
	if timeInRange(t) {
		return nil
	}
	return fmt.Errorf("%s %s is out of range (1970–2105)", field, text)
}
