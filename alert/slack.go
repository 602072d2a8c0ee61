package alert

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/tripline/tripline/internal/event"
)

// defaultTimeout bounds one delivery when the caller passes no http.Client.
const defaultTimeout = 30 * time.Second

// defaultClient returns client, or a client with defaultTimeout if nil.
func defaultClient(client *http.Client) *http.Client {
	if client != nil {
		return client
	}
	return &http.Client{Timeout: defaultTimeout}
}

// NewWebhook returns a Notifier that posts to a Slack incoming webhook. A
// nil client means an http.Client with a 30s timeout. The webhook URL is a
// secret: it never appears in the Notifier's errors.
func NewWebhook(webhookURL string, client *http.Client) Notifier {
	w := &webhook{
		url:    webhookURL,
		client: defaultClient(client),
		redact: newRedactor(urlSecrets(webhookURL)...),
	}
	if u, err := url.Parse(webhookURL); err == nil && (u.Scheme == "https" || u.Scheme == "http") && u.Host != "" {
		w.host = u.Host
	}
	return w
}

// webhook is the Notifier of NewWebhook.
type webhook struct {
	url    string
	host   string // empty if url is not a usable http(s) URL
	client *http.Client
	redact redactor
}

// Notify implements Notifier.
func (w *webhook) Notify(ctx context.Context, f event.Finding) error {
	if w.host == "" {
		return Permanent(errors.New("alert: slack webhook: the webhook URL is not a valid http(s) URL"))
	}
	off := false
	msg := slack.WebhookMessage{
		Text:        Fallback(f),
		Blocks:      &slack.Blocks{BlockSet: Blocks(f)},
		UnfurlLinks: &off,
		UnfurlMedia: &off,
	}
	// PostWebhookContext would use http.DefaultClient; this is the same
	// call with our client.
	if err := slack.PostWebhookCustomHTTPContext(ctx, w.url, w.client, &msg); err != nil {
		return fmt.Errorf("alert: slack webhook on %s: %w", w.host, w.redact.err(err))
	}
	return nil
}

// NewBot returns a Notifier that posts to channel with chat.postMessage
// using a bot token. apiURL is the Web API base URL, "" for Slack's own
// (https://slack.com/api/); a trailing slash is added if missing. A nil
// client means an http.Client with a 30s timeout. The token never appears
// in the Notifier's errors.
func NewBot(token, channel, apiURL string, client *http.Client) Notifier {
	opts := []slack.Option{slack.OptionHTTPClient(defaultClient(client))}
	if apiURL != "" {
		if !strings.HasSuffix(apiURL, "/") {
			apiURL += "/"
		}
		opts = append(opts, slack.OptionAPIURL(apiURL))
	}
	return &bot{
		api:     slack.New(token, opts...),
		channel: channel,
		redact:  newRedactor(token),
	}
}

// bot is the Notifier of NewBot.
type bot struct {
	api     *slack.Client
	channel string
	redact  redactor
}

// Notify implements Notifier.
func (b *bot) Notify(ctx context.Context, f event.Finding) error {
	if b.channel == "" {
		return Permanent(errors.New("alert: slack bot: no channel configured"))
	}
	_, _, err := b.api.PostMessageContext(ctx, b.channel,
		slack.MsgOptionBlocks(Blocks(f)...),
		slack.MsgOptionText(Fallback(f), false), // already escaped
		slack.MsgOptionDisableLinkUnfurl(),
		slack.MsgOptionDisableMediaUnfurl(),
		slack.MsgOptionLinkNames(false),
	)
	if err != nil {
		return fmt.Errorf("alert: slack chat.postMessage to %s: %w", b.channel, b.redact.err(err))
	}
	return nil
}

// redacted replaces secrets in error messages.
const redacted = "[REDACTED]"

// minSecretLen is the shortest string a redactor replaces, so that an
// empty or trivial secret does not mangle every message.
const minSecretLen = 4

// redactor removes secrets (a token, a webhook URL) from errors.
type redactor struct {
	r *strings.Replacer
}

// newRedactor returns a redactor of the given secrets; those shorter than
// minSecretLen are ignored.
func newRedactor(secrets ...string) redactor {
	secrets = slices.DeleteFunc(slices.Clone(secrets), func(s string) bool { return len(s) < minSecretLen })
	if len(secrets) == 0 {
		return redactor{}
	}
	// strings.Replacer tries the old strings in argument order at each
	// position, so put longer ones (the whole URL) before their parts.
	slices.SortFunc(secrets, func(a, b string) int {
		if len(a) != len(b) {
			return len(b) - len(a)
		}
		return strings.Compare(a, b)
	})
	secrets = slices.Compact(secrets)
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		pairs = append(pairs, s, redacted)
	}
	return redactor{r: strings.NewReplacer(pairs...)}
}

// urlSecrets returns the forms in which a webhook URL, or its secret path,
// may appear in an error message.
func urlSecrets(raw string) []string {
	secrets := []string{raw}
	u, err := url.Parse(raw)
	if err != nil {
		return secrets
	}
	secrets = append(secrets, u.String(), u.Redacted(), u.RawQuery)
	if u.Path != "" && u.Path != "/" {
		secrets = append(secrets, u.Path, u.EscapedPath(), u.RequestURI())
	}
	if i := strings.LastIndexByte(u.Path, '/'); i >= 0 {
		secrets = append(secrets, u.Path[i+1:]) // the token part
	}
	if p, ok := u.User.Password(); ok {
		secrets = append(secrets, p)
	}
	return secrets
}

// string returns s with every secret replaced.
func (r redactor) string(s string) string {
	if r.r == nil {
		return s
	}
	return r.r.Replace(s)
}

// err returns an error with err's message, secrets replaced, that wraps
// only a cause known not to carry them: a Slack error, a status code, a
// context error or the network error inside a *url.Error (whose URL may be
// the webhook's secret). So errors.As cannot dig a secret out either.
func (r redactor) err(err error) error {
	if err == nil {
		return nil
	}
	cause := safeCause(err)
	if cause != nil && r.string(cause.Error()) != cause.Error() {
		cause = nil
	}
	return &redactedError{msg: r.string(err.Error()), cause: cause}
}

// safeCause returns the part of err worth keeping for errors.Is and
// errors.As, without any *url.Error.
func safeCause(err error) error {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return rl
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok {
		return sc
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return se
	}
	for _, ctxErr := range []error{context.Canceled, context.DeadlineExceeded} {
		if errors.Is(err, ctxErr) {
			return ctxErr
		}
	}
	if ue, ok := errors.AsType[*url.Error](err); ok {
		return safeCause(ue.Err)
	}
	return err
}

// redactedError is an error whose message has had secrets removed.
type redactedError struct {
	msg   string
	cause error
}

// Error implements error.
func (e *redactedError) Error() string { return e.msg }

// Unwrap returns the secret-free cause, if any.
func (e *redactedError) Unwrap() error { return e.cause }
