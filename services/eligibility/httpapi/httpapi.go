// Package httpapi serves the eligibility self-test as JSON over HTTP and
// as a web page, through the service's gRPC client: the same validation and
// answers as over gRPC.
//
//	GET  /eligibility                       the page
//	GET  /api/v1/eligibility/questions      ?programme_id=&as_of= (RFC 3339)
//	POST /api/v1/eligibility/self-test      a SelfTestRequest in JSON
//
// Every request authenticates as gRPC calls do: its "Authorization: Bearer
// <key>" header is passed on to the service (the page asks for the key).
// Bodies are the protobuf JSON mapping of the messages. Errors are
// {"code": "INVALID_ARGUMENT", "message": "...", "violations":
// [{"field": "...", "description": "..."}]} with the matching HTTP status.
// A body with values that do not read ("contacts": "12.5") is still
// scored for the rest, so that one 400 names every field at fault.
package httpapi

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/domain"
)

//go:embed web
var web embed.FS

// maxBody bounds a request body.
const maxBody = 64 << 10

// Handler serves the routes above.
func Handler(c eligibilityv1.EligibilityServiceClient, log *slog.Logger) http.Handler {
	h := &handler{c: c, log: log}
	static, err := fs.Sub(web, "web")
	if err != nil {
		panic(err) // the embedded directory is there
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/eligibility/questions", h.questions)
	mux.HandleFunc("POST /api/v1/eligibility/self-test", h.selfTest)
	mux.HandleFunc("GET /eligibility", func(w http.ResponseWriter, r *http.Request) {
		r2 := r.Clone(r.Context())
		r2.URL.Path = "/"
		page(http.FileServerFS(static)).ServeHTTP(w, r2)
	})
	mux.Handle("GET /eligibility/", page(http.StripPrefix("/eligibility", http.FileServerFS(static))))
	return mux
}

// page sets the headers of the page and its assets: nothing from elsewhere.
func page(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		next.ServeHTTP(w, r)
	})
}

// outgoing is the context of the service call a request makes: with the
// request's credentials.
func outgoing(r *http.Request) context.Context {
	if a := r.Header.Get("Authorization"); a != "" {
		return metadata.AppendToOutgoingContext(r.Context(), "authorization", a)
	}
	return r.Context()
}

type handler struct {
	c   eligibilityv1.EligibilityServiceClient
	log *slog.Logger
}

func (h *handler) questions(w http.ResponseWriter, r *http.Request) {
	req := &eligibilityv1.GetQuestionsRequest{ProgrammeId: r.URL.Query().Get("programme_id")}
	if v := r.URL.Query().Get("as_of"); v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			writeError(w, invalid([]violation{{Field: "as_of", Description: "must be a time in RFC 3339, like 2026-03-10T09:30:00Z"}}))
			return
		}
		req.AsOf = timestamppb.New(t)
	}
	resp, err := h.c.GetQuestions(outgoing(r), req)
	h.reply(w, r, resp, err)
}

func (h *handler) selfTest(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		writeError(w, status.New(codes.InvalidArgument, "request body too large or unreadable"))
		return
	}
	req := &eligibilityv1.SelfTestRequest{}
	bad, ok := decode(body, req)
	if !ok {
		writeError(w, status.New(codes.InvalidArgument, "request body: not a JSON object (a SelfTestRequest in the protobuf JSON mapping)"))
		return
	}
	resp, err := h.c.SelfTest(outgoing(r), req)
	switch status.Code(err) {
	case codes.Unauthenticated, codes.PermissionDenied, codes.ResourceExhausted, codes.Unavailable:
		h.reply(w, r, nil, err) // who may ask comes before what was asked
		return
	}
	if len(bad) > 0 {
		if c := status.Code(err); c == codes.Internal || c == codes.Unknown {
			h.log.ErrorContext(r.Context(), "eligibility http", slog.String("path", r.URL.Path), slog.Any("error", err))
		}
		writeError(w, invalid(merge(bad, err)))
		return
	}
	h.reply(w, r, resp, err)
}

// merge puts the fields of the body that did not read with the problems the
// service found in the rest, in question order. A bad figure is worded as
// the service words it; a question whose answer or figure did not read, or
// a message that did not read at all, keeps only that problem, not the
// service's "missing" about it.
func merge(bad []violation, err error) []violation {
	specs := domain.Specs()
	question := func(field string) int {
		for i, s := range specs {
			if field == s.AnswerField || (s.FigureField != "" && field == s.FigureField) {
				return i
			}
		}
		return -1
	}
	named := map[int]bool{}
	for i, v := range bad {
		q := question(v.Field)
		if q < 0 {
			continue
		}
		named[q] = true
		switch {
		case v.Field != specs[q].FigureField:
		case v.kind == protoreflect.StringKind: // a JSON number, say
			bad[i].Description = "must be a string in double quotes: " + specs[q].FigureHint
		default:
			bad[i].Description = "must be " + specs[q].FigureHint
		}
	}
	out := slices.Clone(bad)
	if st := status.Convert(err); err != nil && st.Code() == codes.InvalidArgument {
		for _, v := range fieldViolations(st) {
			if q := question(v.Field); (q < 0 || !named[q]) && !slices.ContainsFunc(bad, func(b violation) bool {
				return strings.HasPrefix(v.Field, b.Field+".")
			}) {
				out = append(out, v)
			}
		}
	}
	slices.SortStableFunc(out, func(a, b violation) int { return cmp.Compare(question(a.Field), question(b.Field)) })
	return out
}

// invalid is an InvalidArgument naming each field at fault.
func invalid(vs []violation) *status.Status {
	br := &errdetails.BadRequest{}
	msgs := make([]string, len(vs))
	for i, v := range vs {
		br.FieldViolations = append(br.FieldViolations, &errdetails.BadRequest_FieldViolation{Field: v.Field, Description: v.Description})
		msgs[i] = v.Field + ": " + v.Description
	}
	st := status.New(codes.InvalidArgument, strings.Join(msgs, "; "))
	if withDetails, err := st.WithDetails(br); err == nil {
		st = withDetails
	}
	return st
}

func fieldViolations(st *status.Status) []violation {
	var vs []violation
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, v := range br.GetFieldViolations() {
				vs = append(vs, violation{Field: v.GetField(), Description: v.GetDescription()})
			}
		}
	}
	return vs
}

func (h *handler) reply(w http.ResponseWriter, r *http.Request, resp proto.Message, err error) {
	if err != nil {
		st := status.Convert(err)
		if st.Code() == codes.Internal || st.Code() == codes.Unknown {
			h.log.ErrorContext(r.Context(), "eligibility http", slog.String("path", r.URL.Path), slog.Any("error", err))
		}
		writeError(w, st)
		return
	}
	b, err := protojson.Marshal(resp)
	if err != nil {
		writeError(w, status.New(codes.Internal, "internal error"))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(b)
}

type violation struct {
	Field       string `json:"field"`
	Description string `json:"description"`
	// kind is the field's, for a value of the body that did not read.
	kind protoreflect.Kind
}

type errorBody struct {
	Code       string      `json:"code"`
	Message    string      `json:"message"`
	Violations []violation `json:"violations,omitempty"`
}

// httpStatus maps a gRPC code as the usual gRPC-HTTP gateways do.
func httpStatus(c codes.Code) int {
	switch c {
	case codes.InvalidArgument, codes.FailedPrecondition, codes.OutOfRange:
		return http.StatusBadRequest
	case codes.NotFound:
		return http.StatusNotFound
	case codes.AlreadyExists:
		return http.StatusConflict
	case codes.PermissionDenied:
		return http.StatusForbidden
	case codes.Unauthenticated:
		return http.StatusUnauthorized
	case codes.Unavailable:
		return http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		return http.StatusGatewayTimeout
	case codes.ResourceExhausted:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

func writeError(w http.ResponseWriter, st *status.Status) {
	body := errorBody{Code: codeName(st.Code()), Message: st.Message(), Violations: fieldViolations(st)}
	w.Header().Set("Content-Type", "application/json")
	if st.Code() == codes.Unauthenticated {
		w.Header().Set("WWW-Authenticate", `Bearer realm="fidelis"`)
	}
	w.WriteHeader(httpStatus(st.Code()))
	_ = json.NewEncoder(w).Encode(body)
}

// codeName is a code's canonical name: InvalidArgument -> INVALID_ARGUMENT.
func codeName(c codes.Code) string {
	var b strings.Builder
	for i, r := range c.String() {
		if i > 0 && unicode.IsUpper(r) {
			b.WriteByte('_')
		}
		b.WriteRune(unicode.ToUpper(r))
	}
	return b.String()
}
