// Package tracepb converts the SDK's spans (sdk.Spans) to and from their
// protobuf form (wtb.trace.v1), which both wtb.runner.v1 and wtb.remote.v1
// carry.
package tracepb

import (
	tracev1 "github.com/wtbench/wtb/proto/wtb/trace/v1"
	"github.com/wtbench/wtb/sdk"
	"google.golang.org/protobuf/types/known/timestamppb"
)

// ToProto converts a node run's spans (none and nothing dropped: nil).
func ToProto(s sdk.Spans) *tracev1.Spans {
	if len(s.Spans) == 0 && s.Dropped == 0 {
		return nil
	}
	out := &tracev1.Spans{Dropped: s.Dropped, Spans: make([]*tracev1.Span, len(s.Spans))}
	for i, x := range s.Spans {
		out.Spans[i] = &tracev1.Span{TraceId: x.TraceID, SpanId: x.SpanID, ParentSpanId: x.ParentID, Name: x.Name,
			Kind: x.Kind, Start: timestamppb.New(x.Start), End: timestamppb.New(x.End), Status: x.Status,
			StatusMessage: x.StatusMessage, AttributesJson: x.Attributes, EventsJson: x.Events, Service: x.Service,
			Scope: x.Scope, Source: x.Source}
	}
	return out
}

// FromProto converts wire spans (nil: none).
func FromProto(p *tracev1.Spans) sdk.Spans {
	if p == nil {
		return sdk.Spans{}
	}
	out := sdk.Spans{Dropped: p.GetDropped()}
	if n := len(p.GetSpans()); n > 0 {
		out.Spans = make([]sdk.Span, n)
	}
	for i, x := range p.GetSpans() {
		out.Spans[i] = sdk.Span{TraceID: x.GetTraceId(), SpanID: x.GetSpanId(), ParentID: x.GetParentSpanId(),
			Name: x.GetName(), Kind: x.GetKind(), Start: x.GetStart().AsTime(), End: x.GetEnd().AsTime(),
			Status: x.GetStatus(), StatusMessage: x.GetStatusMessage(), Attributes: x.GetAttributesJson(),
			Events: x.GetEventsJson(), Service: x.GetService(), Scope: x.GetScope(), Source: x.GetSource()}
	}
	return out
}
