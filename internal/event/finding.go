package event

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Severity levels, lowest first.
var Severities = []string{"info", "low", "medium", "high", "critical"}

// Finding is one rule match: what detection publishes to the FINDINGS
// stream, what is stored in the alerts table and posted to Slack.
type Finding struct {
	// AlertID is stable for a rule and its matching events, so a
	// redelivered event yields the same id and sinks can drop the repeat.
	AlertID string `json:"alert_id"`
	// Time is the time of the (last) matching event.
	Time time.Time `json:"time"`
	// DetectedAt is when the rule matched.
	DetectedAt time.Time `json:"detected_at"`
	// RuleID is the rule's id.
	RuleID string `json:"rule_id"`
	// RuleTitle is the rule's fixed title.
	RuleTitle string `json:"rule_title"`
	// RuleVersion identifies the version of the rule that raised it (a
	// hash of what decides the rule's findings; see detect.Rule.Version).
	RuleVersion string `json:"rule_version,omitempty"`
	// Summary is the rule's summary template rendered for this match; it
	// is the alert's title in storage and in Slack.
	Summary string `json:"summary"`
	// Severity is one of Severities.
	Severity string `json:"severity"`
	// Tags are MITRE ATT&CK ids and other labels.
	Tags []string `json:"tags,omitempty"`
	// EventIDs are the ids of the matching events (for a stateful rule,
	// a bounded sample of the events it counted).
	EventIDs []string `json:"event_ids"`
	// GroupKey, Count, FirstSeen and LastSeen describe what a stateful
	// rule counted: the group key (the entity to act on), how many
	// matches, and the first and last of their times. Empty for a
	// single-event finding.
	GroupKey  string    `json:"group_key,omitempty"`
	Count     int       `json:"count,omitempty"`
	FirstSeen time.Time `json:"first_seen,omitzero"`
	LastSeen  time.Time `json:"last_seen,omitzero"`
	// Event is the (last) matching event.
	Event Event `json:"event"`
	// Update marks a later state of a finding already published, with the
	// same AlertID: a dedup rule's count of the period so far (Count,
	// LastSeen and EventIDs grow; Time stays). Stores keep the finding's
	// latest state; notifiers do not post it again.
	Update bool `json:"update,omitempty"`
}

// MsgID is the finding's message id on the bus, which the bus's duplicate
// window drops repeats by: the alert id, and for a count above one (an
// update, or a first firing that updates were folded into before it was
// published) the alert id and count, so that each state of a finding is
// published once: a replay after a crash may fold into a first firing
// updates that came after it was published.
func (f *Finding) MsgID() string {
	if f.Update || f.Count > 1 {
		return f.AlertID + "/" + strconv.Itoa(f.Count)
	}
	return f.AlertID
}

// AlertID derives a finding id from the rule and the matching event ids.
func AlertID(ruleID string, eventIDs ...string) string {
	var buf [256]byte // ids are short: hashed without allocating
	b := append(buf[:0], ruleID...)
	for _, id := range eventIDs {
		b = append(b, 0)
		b = append(b, id...)
	}
	sum := sha256.Sum256(b)
	var out [32]byte
	hex.Encode(out[:], sum[:16])
	return string(out[:])
}
