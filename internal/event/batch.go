package event

import (
	"encoding/json"
	"fmt"
)

// MarshalBatch encodes events for one bus message.
func MarshalBatch(evs []Event) ([]byte, error) {
	return json.Marshal(evs)
}

// UnmarshalBatch decodes a bus message written by MarshalBatch.
func UnmarshalBatch(b []byte) ([]Event, error) {
	var evs []Event
	if err := json.Unmarshal(b, &evs); err != nil {
		return nil, fmt.Errorf("event batch: %w", err)
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
