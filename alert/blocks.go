package alert

import (
	"fmt"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/tripline/tripline/internal/event"
)

// Blocks renders f as a Block Kit message:
//
//   - a header with the severity emoji, the severity and the rule title;
//   - a section with the rendered summary (the rule title if it is empty);
//   - a section with the event's message, if it has one;
//   - a section of fields for actor, source IP, account/region, service,
//     action and target, each only when non-empty;
//   - a context line with the event time (RFC 3339), rule id, tags and
//     alert id.
//
// Every string taken from f goes through Escape (with the tighter limits of
// headers and fields where they apply), and mrkdwn text is verbatim, so
// Slack neither links URLs nor parses mentions in it.
func Blocks(f event.Finding) []slack.Block {
	blocks := make([]slack.Block, 0, 5)

	header := emojiFor(f.Severity) + " " + severityLabel(f.Severity) + ": " + f.RuleTitle
	blocks = append(blocks, slack.NewHeaderBlock(plainText(escapeLimit(header, maxHeaderLen))))

	summary := f.Summary
	if summary == "" {
		summary = f.RuleTitle
	}
	if summary != "" {
		blocks = append(blocks, slack.NewSectionBlock(mrkdwn(Escape(summary)), nil, nil))
	}

	if f.Count > 0 {
		// A stateful rule: who, how many, over what time.
		text := fmt.Sprintf("*%d matches* from %s to %s\n*Key* ", f.Count,
			f.FirstSeen.UTC().Format(time.RFC3339), f.LastSeen.UTC().Format(time.RFC3339))
		blocks = append(blocks, slack.NewSectionBlock(labelled(text, f.GroupKey, MaxTextLen), nil, nil))
	}

	if msg := f.Event.Message; msg != "" && msg != f.Summary {
		blocks = append(blocks, slack.NewSectionBlock(labelled("*Message*\n", msg, MaxTextLen), nil, nil))
	}

	if fields := fieldObjects(&f.Event); len(fields) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(nil, fields, nil))
	}

	if ctx := contextElements(&f); len(ctx) > 0 {
		blocks = append(blocks, slack.NewContextBlock("", ctx...))
	}
	return blocks
}

// Fallback returns the plain notification text of f, which Slack shows in
// notifications and where blocks cannot be displayed. It is escaped like
// the blocks.
func Fallback(f event.Finding) string {
	summary := f.Summary
	if summary == "" {
		summary = f.RuleTitle
	}
	return Escape("[" + severityLabel(f.Severity) + "] " + f.RuleTitle + ": " + summary)
}

// severityLabel returns the severity as shown: upper case, UNKNOWN if empty.
func severityLabel(s string) string {
	if s == "" {
		return "UNKNOWN"
	}
	return strings.ToUpper(s)
}

// fieldObjects returns the section fields of the non-empty event fields.
func fieldObjects(e *event.Event) []*slack.TextBlockObject {
	acctRegion := e.Account
	if e.Region != "" {
		if acctRegion != "" {
			acctRegion += " / "
		}
		acctRegion += e.Region
	}
	all := [...]struct{ label, value string }{
		{"*Actor*\n", e.Actor},
		{"*Source IP*\n", e.SrcIP},
		{"*Account / Region*\n", acctRegion},
		{"*Service*\n", e.Service},
		{"*Action*\n", e.Action},
		{"*Target*\n", e.Target},
	}
	var fields []*slack.TextBlockObject
	for _, fv := range all {
		if fv.value == "" {
			continue
		}
		if fields == nil {
			fields = make([]*slack.TextBlockObject, 0, len(all))
		}
		fields = append(fields, labelled(fv.label, fv.value, maxFieldLen))
	}
	return fields
}

// contextElements returns the context line: event time, rule, tags, alert.
func contextElements(f *event.Finding) []slack.MixedElement {
	els := make([]slack.MixedElement, 0, 4)
	t := f.Time
	if t.IsZero() {
		t = f.Event.Time
	}
	if !t.IsZero() {
		els = append(els, mrkdwn("*Event time* "+t.UTC().Format(time.RFC3339)))
	}
	if f.RuleID != "" {
		els = append(els, labelled("*Rule* ", f.RuleID, MaxTextLen))
	}
	if len(f.Tags) > 0 {
		els = append(els, labelled("*Tags* ", strings.Join(f.Tags, ", "), MaxTextLen))
	}
	if f.AlertID != "" {
		els = append(els, labelled("*Alert* ", f.AlertID, MaxTextLen))
	}
	return els
}

// labelled returns a mrkdwn object of a fixed (trusted) label followed by
// value, escaped so that the whole stays within limit.
func labelled(label, value string, limit int) *slack.TextBlockObject {
	return mrkdwn(label + escapeLimit(value, limit-len(label)))
}

// mrkdwn returns a verbatim mrkdwn text object of already escaped text.
func mrkdwn(text string) *slack.TextBlockObject {
	return &slack.TextBlockObject{Type: slack.MarkdownType, Text: text, Verbatim: true}
}

// plainText returns a plain_text object, with emoji shortcodes, of already
// escaped text.
func plainText(text string) *slack.TextBlockObject {
	emoji := true
	return &slack.TextBlockObject{Type: slack.PlainTextType, Text: text, Emoji: &emoji}
}
