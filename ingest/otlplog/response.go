package otlplog

import (
	"encoding/json"
	"errors"
	"net/http"

	"go.opentelemetry.io/collector/pdata/plog/plogotlp"
	"google.golang.org/protobuf/encoding/protowire"
)

// Response returns the body and Content-Type of a 200 answer: an
// ExportLogsServiceResponse in the request's encoding. partial_success
// is set when rejected > 0 (the client must not retry), or when msg is
// not empty with rejected 0 (a warning, as the specification allows);
// otherwise it is left unset, as the specification requires of a full
// success (an empty message: "{}" or no bytes). It fails with
// ErrUnsupportedMediaType for a content type Decode does not accept.
func Response(contentType string, rejected int, msg string) ([]byte, string, error) {
	ct, err := mediaType(contentType)
	if err != nil {
		return nil, "", err
	}
	if rejected <= 0 && msg == "" {
		// pdata would write an empty partial_success.
		if ct == ContentTypeProto {
			return []byte{}, ct, nil
		}
		return []byte("{}"), ct, nil
	}
	resp := plogotlp.NewExportResponse()
	ps := resp.PartialSuccess()
	ps.SetRejectedLogRecords(int64(max(rejected, 0)))
	ps.SetErrorMessage(validUTF8(msg))
	var b []byte
	if ct == ContentTypeProto {
		b, err = resp.MarshalProto()
	} else {
		b, err = resp.MarshalJSON()
	}
	if err != nil {
		return nil, "", err
	}
	return b, ct, nil
}

// Status returns the body and Content-Type of an error answer with the
// HTTP status code: a google.rpc.Status {code, message} in protobuf for a
// protobuf request, else in JSON (also for an unsupported content type).
// Its code is the gRPC code of the HTTP status, mapped as the
// OpenTelemetry Collector's OTLP receiver does: 400 InvalidArgument (3),
// 401 Unauthenticated (16), 403 PermissionDenied (7), 404
// Unimplemented (12), 429 ResourceExhausted (8), 502, 503 and 504
// Unavailable (14), any other Unknown (2).
func Status(contentType string, code int, msg string) ([]byte, string) {
	rpc := rpcCode(code)
	if ct, err := mediaType(contentType); err == nil && ct == ContentTypeProto {
		var b []byte
		b = protowire.AppendTag(b, 1, protowire.VarintType) // int32 code = 1
		b = protowire.AppendVarint(b, uint64(rpc))
		if msg != "" {
			b = protowire.AppendTag(b, 2, protowire.BytesType) // string message = 2
			b = protowire.AppendString(b, validUTF8(msg))
		}
		return b, ContentTypeProto
	}
	b, _ := json.Marshal(struct {
		Code    int32  `json:"code"`
		Message string `json:"message,omitempty"`
	}{rpc, msg})
	return b, ContentTypeJSON
}

// gRPC status codes (google.rpc.Code).
const (
	codeUnknown           = 2
	codeInvalidArgument   = 3
	codePermissionDenied  = 7
	codeResourceExhausted = 8
	codeUnimplemented     = 12
	codeUnavailable       = 14
	codeUnauthenticated   = 16
)

// rpcCode maps an HTTP status to a gRPC code.
func rpcCode(status int) int32 {
	switch status {
	case http.StatusBadRequest:
		return codeInvalidArgument
	case http.StatusUnauthorized:
		return codeUnauthenticated
	case http.StatusForbidden:
		return codePermissionDenied
	case http.StatusNotFound:
		return codeUnimplemented
	case http.StatusTooManyRequests:
		return codeResourceExhausted
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return codeUnavailable
	}
	return codeUnknown
}

// HTTPStatus is the HTTP status to answer a Decode error with: 400 for
// ErrBadRequest, 415 for ErrUnsupportedMediaType, 413 for
// ErrTooManyRecords (none of them retryable under OTLP/HTTP), else 500.
func HTTPStatus(err error) int {
	switch {
	case errors.Is(err, ErrBadRequest):
		return http.StatusBadRequest
	case errors.Is(err, ErrUnsupportedMediaType):
		return http.StatusUnsupportedMediaType
	case errors.Is(err, ErrTooManyRecords):
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}
