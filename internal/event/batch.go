package event

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// Batches of events travel on the bus in a compact binary form: JSON would
// re-validate every raw record on each encode and decode, which measured
// as the largest cost of the whole pipeline.
//
//	batch  = version:byte count:uvarint event*
//	event  = time:varint(unix ns) ingested:varint(unix ns) string*14
//	         status_code:varint bytes_out:varint duration_ms:float64 raw:bytes
//	string = len:uvarint bytes
const batchVersion = 1

// MarshalBatch encodes events for one bus message.
func MarshalBatch(evs []Event) ([]byte, error) {
	n := 1 + binary.MaxVarintLen64
	for i := range evs {
		e := &evs[i]
		n += 3*binary.MaxVarintLen64 + 8 + 15*binary.MaxVarintLen32 + len(e.Raw) +
			len(e.Source) + len(e.EventID) + len(e.Account) + len(e.Region) + len(e.Service) +
			len(e.Actor) + len(e.SrcIP) + len(e.UserAgent) + len(e.Action) + len(e.Target) +
			len(e.Outcome) + len(e.ErrorCode) + len(e.Message)
	}
	b := make([]byte, 0, n)
	b = append(b, batchVersion)
	b = binary.AppendUvarint(b, uint64(len(evs)))
	for i := range evs {
		e := &evs[i]
		b = binary.AppendVarint(b, unixNano(e.Time))
		b = binary.AppendVarint(b, unixNano(e.IngestedAt))
		for _, s := range [...]string{e.Source, e.EventID, e.Account, e.Region, e.Service, e.Actor,
			e.SrcIP, e.UserAgent, e.Action, e.Target, e.Outcome, e.ErrorCode, e.Message} {
			b = binary.AppendUvarint(b, uint64(len(s)))
			b = append(b, s...)
		}
		b = binary.AppendVarint(b, int64(e.StatusCode))
		b = binary.AppendVarint(b, e.BytesOut)
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(e.DurationMS))
		b = binary.AppendUvarint(b, uint64(len(e.Raw)))
		b = append(b, e.Raw...)
	}
	return b, nil
}

func unixNano(t time.Time) int64 {
	if t.IsZero() {
		return math.MinInt64
	}
	return t.UnixNano()
}

func fromUnixNano(n int64) time.Time {
	if n == math.MinInt64 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

var errBatch = errors.New("event batch: truncated or corrupt")

// batchReader reads the fields of an encoded batch.
type batchReader struct {
	b   []byte
	err error
}

func (r *batchReader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err, r.b = errBatch, nil
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *batchReader) bytes() []byte {
	l, n := binary.Uvarint(r.b)
	if n <= 0 || l > uint64(len(r.b)-n) {
		r.err, r.b = errBatch, nil
		return nil
	}
	v := r.b[n : n+int(l) : n+int(l)]
	r.b = r.b[n+int(l):]
	return v
}

func (r *batchReader) string() string { return string(r.bytes()) }

// UnmarshalBatch decodes a bus message written by MarshalBatch. The events'
// Raw fields share b's memory.
func UnmarshalBatch(b []byte) ([]Event, error) {
	if len(b) == 0 || b[0] != batchVersion {
		return nil, fmt.Errorf("event batch: unknown encoding version")
	}
	count, n := binary.Uvarint(b[1:])
	// Each event takes at least 30 bytes, which bounds the allocation.
	if n <= 0 || count > uint64(len(b))/30 {
		return nil, errBatch
	}
	r := batchReader{b: b[1+n:]}
	evs := make([]Event, count)
	for i := range evs {
		e := &evs[i]
		e.Time = fromUnixNano(r.varint())
		e.IngestedAt = fromUnixNano(r.varint())
		for _, p := range [...]*string{&e.Source, &e.EventID, &e.Account, &e.Region, &e.Service, &e.Actor,
			&e.SrcIP, &e.UserAgent, &e.Action, &e.Target, &e.Outcome, &e.ErrorCode, &e.Message} {
			*p = r.string()
		}
		e.StatusCode = int(r.varint())
		e.BytesOut = r.varint()
		if len(r.b) < 8 {
			return nil, errBatch
		}
		e.DurationMS = math.Float64frombits(binary.LittleEndian.Uint64(r.b))
		r.b = r.b[8:]
		if raw := r.bytes(); len(raw) > 0 {
			e.Raw = raw
		}
		if r.err != nil {
			return nil, r.err
		}
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("event batch: %d trailing bytes", len(r.b))
	}
	return evs, nil
}

// BatchID derives a stable message id for a batch from its event ids: the
// event's own id for a batch of one, else a hash of all ids in order.
func BatchID(evs []Event) string {
	if len(evs) == 1 {
		return evs[0].EventID
	}
	ids := make([]string, len(evs))
	for i := range evs {
		ids[i] = evs[i].EventID
	}
	return "b-" + AlertID("batch", ids...)
}

// MarshalFinding encodes a finding for one bus message.
func MarshalFinding(f *Finding) ([]byte, error) {
	return json.Marshal(f)
}

// UnmarshalFinding decodes a bus message written by MarshalFinding.
func UnmarshalFinding(b []byte) (Finding, error) {
	var f Finding
	if err := json.Unmarshal(b, &f); err != nil {
		return f, fmt.Errorf("finding: %w", err)
	}
	return f, nil
}
