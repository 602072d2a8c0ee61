package gcplog

import (
	"cmp"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// DefaultMaxDataBytes is the default Decoder.MaxDataBytes: 1 MiB, four
// times Cloud Logging's 256 KiB limit on one entry.
const DefaultMaxDataBytes = 1 << 20

// ErrTooLarge reports a push message whose data exceeds
// Decoder.MaxDataBytes once decoded.
var ErrTooLarge = errors.New("message.data exceeds the size limit")

func (d Decoder) maxDataBytes() int {
	if d.MaxDataBytes <= 0 {
		return DefaultMaxDataBytes
	}
	return d.MaxDataBytes
}

// pushMessage is the message of a Pub/Sub push request. Push endpoints
// receive the id and publish time both in camelCase and, deprecated, in
// snake_case; either is accepted.
type pushMessage struct {
	Data             string            `json:"data"`
	Attributes       map[string]string `json:"attributes"`
	MessageID        string            `json:"messageId"`
	MessageIDSnake   string            `json:"message_id"`
	PublishTime      string            `json:"publishTime"`
	PublishTimeSnake string            `json:"publish_time"`
}

// ID is the message id, "" when the request has none.
func (m *pushMessage) ID() string { return cmp.Or(m.MessageID, m.MessageIDSnake) }

// name names the message in errors.
func (m *pushMessage) name() string {
	if id := m.ID(); id != "" {
		return strconv.Quote(truncate(id, 64))
	}
	return "(no messageId)"
}

// decodeData decodes the base64 data (standard or URL alphabet, padding
// optional), refusing to produce more than max bytes.
func (m *pushMessage) decodeData(max int) ([]byte, error) {
	s := strings.TrimRight(m.Data, "=")
	if s == "" {
		return nil, errors.New("message.data is empty (a Cloud Logging sink puts the LogEntry there)")
	}
	if n := base64.RawStdEncoding.DecodedLen(len(s)); n > max {
		return nil, fmt.Errorf("%w: about %d bytes, limit %d", ErrTooLarge, n, max)
	}
	b, err := base64.RawStdEncoding.DecodeString(s)
	if err != nil {
		var err2 error
		if b, err2 = base64.RawURLEncoding.DecodeString(s); err2 != nil {
			return nil, fmt.Errorf("message.data is not base64: %w", err)
		}
	}
	return b, nil
}

// pubsubInfo is the "pubsub" object added to the Raw of a pushed entry.
type pubsubInfo struct {
	MessageID    string            `json:"messageId,omitempty"`
	PublishTime  string            `json:"publishTime,omitempty"`
	Subscription string            `json:"subscription,omitempty"`
	Attributes   map[string]string `json:"attributes,omitempty"`
}

// addTo returns the JSON object entry with a "pubsub" member describing
// the message. entry is a valid JSON object (it was decoded) without a
// pubsub member of its own.
func (m *pushMessage) addTo(entry []byte, subscription string) ([]byte, error) {
	info, err := json.Marshal(pubsubInfo{
		MessageID:    m.ID(),
		PublishTime:  cmp.Or(m.PublishTime, m.PublishTimeSnake),
		Subscription: subscription,
		Attributes:   m.Attributes,
	})
	if err != nil {
		return nil, fmt.Errorf("pubsub context: %w", err)
	}
	obj := strings.TrimRight(string(entry), " \t\r\n")
	obj = strings.TrimSuffix(obj, "}")
	body := strings.TrimRight(obj, " \t\r\n")
	out := make([]byte, 0, len(entry)+len(info)+12)
	out = append(out, obj...)
	if !strings.HasSuffix(body, "{") { // a non-empty object
		out = append(out, ',')
	}
	out = append(out, `"pubsub":`...)
	out = append(out, info...)
	return append(out, '}'), nil
}
