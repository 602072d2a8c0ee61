// Package alert delivers findings to people: it renders an event.Finding as
// a Slack Block Kit message and posts it through an incoming webhook or a bot
// token, or logs it when no Slack is configured.
//
// Every string that comes from an event is attacker-controlled (a user agent,
// an IAM user name, a log message), so everything put into a message goes
// through Escape first: Slack must never turn alert content into @channel
// pings, user mentions or disguised links.
//
// Notifiers are safe for concurrent use and hold no locks across a delivery,
// so a slow or failing alert never delays another one.
package alert

import (
	"context"

	"github.com/tripline/tripline/internal/event"
)

// Notifier delivers one finding. Implementations must be safe for concurrent
// use. An error that retrying cannot fix satisfies IsPermanent.
type Notifier interface {
	// Notify delivers f, returning when it was accepted or failed.
	Notify(ctx context.Context, f event.Finding) error
}

// severityEmoji maps each of event.Severities to the Slack emoji shown in the
// message header.
var severityEmoji = map[string]string{
	"info":     ":large_blue_circle:",
	"low":      ":large_green_circle:",
	"medium":   ":large_yellow_circle:",
	"high":     ":large_orange_circle:",
	"critical": ":rotating_light:",
}

// emojiFor returns the header emoji of a severity, a question mark for an
// unknown one.
func emojiFor(severity string) string {
	if e, ok := severityEmoji[severity]; ok {
		return e
	}
	return ":grey_question:"
}
