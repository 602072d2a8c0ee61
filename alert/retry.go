package alert

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"time"

	"github.com/slack-go/slack"

	"github.com/tripline/tripline/internal/event"
)

// RetryPolicy configures WithRetry. Zero fields take their values from
// DefaultRetryPolicy.
type RetryPolicy struct {
	// MaxAttempts is the number of deliveries tried, the first included.
	MaxAttempts int
	// Initial is the backoff before the second attempt; it doubles for
	// each attempt after that.
	Initial time.Duration
	// Max caps the backoff. A rate limit's Retry-After is honoured even
	// when it is longer.
	Max time.Duration
}

// DefaultRetryPolicy returns the default policy: 5 attempts, backoff from
// 500ms doubling up to 30s, with jitter.
func DefaultRetryPolicy() RetryPolicy {
	return RetryPolicy{MaxAttempts: 5, Initial: 500 * time.Millisecond, Max: 30 * time.Second}
}

// withDefaults fills zero or negative fields from DefaultRetryPolicy.
func (p RetryPolicy) withDefaults() RetryPolicy {
	d := DefaultRetryPolicy()
	if p.MaxAttempts <= 0 {
		p.MaxAttempts = d.MaxAttempts
	}
	if p.Initial <= 0 {
		p.Initial = d.Initial
	}
	if p.Max <= 0 {
		p.Max = d.Max
	}
	if p.Max < p.Initial {
		p.Max = p.Initial
	}
	return p
}

// backoff returns the wait after the given failed attempt (1-based): the
// rate limit's Retry-After plus up to 10% jitter if err carries one, else
// exponential backoff with equal jitter, in [d/2, d] for d = min(Max,
// Initial*2^(attempt-1)).
func (p RetryPolicy) backoff(attempt int, err error) time.Duration {
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok && rl.RetryAfter > 0 {
		return rl.RetryAfter + rand.N(rl.RetryAfter/10+1)
	}
	d := p.Max
	if shift := attempt - 1; shift < 62 {
		if x := p.Initial << shift; x > 0 && x < p.Max {
			d = x
		}
	}
	return d/2 + rand.N(d/2+1)
}

// WithRetry returns a Notifier that retries n's transient failures with
// exponential backoff and jitter, honouring a rate limit's Retry-After
// (*slack.RateLimitedError). It does not retry errors that satisfy
// IsPermanent, and it stops when ctx is done or when the next wait would
// pass ctx's deadline. Its error says how many attempts were made and wraps
// the last attempt's error.
//
// The returned Notifier keeps no mutable state, so concurrent alerts never
// wait for one another.
func WithRetry(n Notifier, p RetryPolicy) Notifier {
	return &retrier{next: n, policy: p.withDefaults(), sleep: sleepCtx}
}

// retrier is the Notifier of WithRetry.
type retrier struct {
	next   Notifier
	policy RetryPolicy
	// sleep waits d or until ctx is done; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// Notify implements Notifier.
func (r *retrier) Notify(ctx context.Context, f event.Finding) error {
	for attempt := 1; ; attempt++ {
		err := r.next.Notify(ctx, f)
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			return fmt.Errorf("alert: stopped after %d attempt(s): %w; last error: %w", attempt, context.Cause(ctx), err)
		case IsPermanent(err):
			return fmt.Errorf("alert: permanent failure after %d attempt(s), not retried: %w", attempt, err)
		case attempt >= r.policy.MaxAttempts:
			return fmt.Errorf("alert: gave up after %d attempt(s): %w", attempt, err)
		}
		wait := r.policy.backoff(attempt, err)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("alert: gave up after %d attempt(s), next retry in %s would pass the deadline: %w", attempt, wait.Round(time.Millisecond), err)
		}
		if serr := r.sleep(ctx, wait); serr != nil {
			return fmt.Errorf("alert: stopped after %d attempt(s): %w; last error: %w", attempt, serr, err)
		}
	}
}

// sleepCtx waits d, returning early with ctx's cause when ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// Permanent marks err as one that retrying cannot fix, so that WithRetry
// returns it at once. It returns nil for a nil err.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// permanentError is the error of Permanent.
type permanentError struct{ err error }

// Error implements error.
func (e *permanentError) Error() string { return e.err.Error() }

// Unwrap returns the marked error.
func (e *permanentError) Unwrap() error { return e.err }

// transientSlackErrors are the Web API error codes worth retrying; every
// other code (invalid_auth, channel_not_found, not_in_channel, ...) is a
// configuration or payload problem that a retry repeats.
var transientSlackErrors = map[string]bool{
	"ratelimited":         true,
	"rate_limited":        true,
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
}

// IsPermanent reports whether err is a failure that retrying cannot fix:
// an error marked with Permanent, a Slack Web API error other than a rate
// limit or a server-side failure (invalid_auth, channel_not_found, ...), or
// an HTTP 4xx other than 408 and 429 (an incoming webhook's invalid_token,
// no_service, channel_not_found, invalid_payload). Network errors, 5xx and
// rate limits are transient.
func IsPermanent(err error) bool {
	if err == nil {
		return false
	}
	if _, ok := errors.AsType[*permanentError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return false
	}
	if sc, ok := errors.AsType[slack.StatusCodeError](err); ok {
		c := sc.Code
		return c >= 400 && c < 500 && c != http.StatusRequestTimeout && c != http.StatusTooManyRequests
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return !transientSlackErrors[se.Err]
	}
	return false
}
