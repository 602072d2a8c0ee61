package event

import (
	"bytes"
	"testing"
)

// TestFindingUpdate: an update has a message id of its own per count, and
// a finding encoded before updates existed decodes as an original.
func TestFindingUpdate(t *testing.T) {
	f := Finding{AlertID: "a1", Count: 1}
	if got := f.MsgID(); got != "a1" {
		t.Errorf("original: MsgID %q", got)
	}
	f.Count = 3 // updates folded into it
	if got := f.MsgID(); got != "a1/3" {
		t.Errorf("original of count 3: MsgID %q", got)
	}
	f.Update = true
	if got := f.MsgID(); got != "a1/3" {
		t.Errorf("update: MsgID %q", got)
	}
	b, err := MarshalFinding(&f)
	if err != nil {
		t.Fatal(err)
	}
	if g, err := UnmarshalFinding(b); err != nil || !g.Update || g.MsgID() != "a1/3" {
		t.Errorf("round trip: %+v, %v", g, err)
	}
	old := `{"alert_id":"a1","time":"2026-01-01T00:00:00Z","detected_at":"2026-01-01T00:00:01Z","rule_id":"r","rule_title":"R","summary":"s","severity":"low","event_ids":["e"],"group_key":"k","count":1,"event":{}}`
	g, err := UnmarshalFinding([]byte(old))
	if err != nil || g.Update || g.MsgID() != "a1" || g.Count != 1 {
		t.Errorf("old finding: %+v, %v", g, err)
	}
	f.Update = false
	if b, _ := MarshalFinding(&f); string(b) == "" || bytes.Contains(b, []byte(`"update"`)) {
		t.Errorf("an original carries the update field: %s", b)
	}
}

// TestAlertIDStable: alert ids do not change between versions, so that a
// finding redelivered across an upgrade is still recognised.
func TestAlertIDStable(t *testing.T) {
	for _, tt := range []struct {
		got, want string
	}{
		{AlertID("aws-root-account-used", "e1"), "9ffd8ff51d76ead3f0289600dc75cccf"},
		{AlertID("r", "a", "b"), "f17f817c39fd66728b2acec9f2bf8edb"},
		{AlertID("r"), "454349e422f05297191ead13e21d3db5"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %s, want %s", tt.got, tt.want)
		}
	}
}
