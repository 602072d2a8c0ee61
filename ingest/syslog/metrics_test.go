package syslog_test

import (
	"github.com/tripline/tripline/ingest"
	"github.com/tripline/tripline/ingest/syslog"
)

// The pipeline passes its ingest metrics to the listener.
var _ syslog.Metrics = (*ingest.Metrics)(nil)

// The ingest HTTP handler can use the decoder.
var (
	_ ingest.Decoder     = syslog.Decoder{}
	_ ingest.ContentIDs  = syslog.Decoder{}
	_ ingest.LineRecords = syslog.Decoder{}
)
