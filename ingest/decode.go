// Package ingest receives records from log sources, decodes each into one
// normalized event.Event, and hands batches to a Publisher that stores them
// in JetStream.
package ingest

import (
	"time"

	"github.com/tripline/tripline/internal/event"
)

// Decoder turns one record of a source into a normalized event. rec is
// one JSON value; the decoder may keep it as ev.Raw.
type Decoder interface {
	Decode(rec []byte, ev *event.Event) error
}

// Decoders returns the decoder of every source Tripline accepts, by name.
func Decoders(jsonCfg JSONConfig) map[string]Decoder {
	return map[string]Decoder{
		"cloudtrail": CloudTrail{},
		"json":       JSONLog{Config: jsonCfg, Now: time.Now},
	}
}
