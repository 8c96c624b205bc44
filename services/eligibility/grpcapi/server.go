// Package grpcapi is the gRPC edge of the eligibility self-test.
package grpcapi

import (
	"context"
	"strconv"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/timestamppb"

	eligibilityv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/eligibility/v1"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/app"
	"github.com/fidelis-loyalty/fidelis/services/eligibility/domain"
)

// ServiceName is the service's fully qualified name.
const ServiceName = "fidelis.eligibility.v1.EligibilityService"

// Server implements fidelis.eligibility.v1.EligibilityService.
type Server struct {
	eligibilityv1.UnimplementedEligibilityServiceServer
	app *app.Service
}

// Register adds the service to a gRPC server.
func Register(s grpc.ServiceRegistrar, a *app.Service) {
	eligibilityv1.RegisterEligibilityServiceServer(s, &Server{app: a})
}

func (s *Server) GetQuestions(ctx context.Context, r *eligibilityv1.GetQuestionsRequest) (*eligibilityv1.GetQuestionsResponse, error) {
	resp := &eligibilityv1.GetQuestionsResponse{}
	var evidence map[domain.Question]*domain.Evidence
	if r.GetProgrammeId() != "" {
		d, err := s.app.Data(ctx, r.GetProgrammeId(), asOf(r.GetAsOf()))
		if err != nil {
			return nil, err
		}
		evidence = d.Evidence()
		resp.WindowStart, resp.WindowEnd = timestamppb.New(d.From), timestamppb.New(d.To)
	}
	for _, q := range domain.Specs() {
		resp.Questions = append(resp.Questions, &eligibilityv1.QuestionInfo{
			Question: eligibilityv1.Question(q.Question), Text: q.Text, AnswerField: q.AnswerField, FigureField: q.FigureField,
			FigureLabel: q.FigureLabel, IfYes: q.IfYes, IfNo: q.IfNo, Evidence: evidenceToProto(evidence[q.Question]),
		})
	}
	return resp, nil
}

func (s *Server) SelfTest(ctx context.Context, r *eligibilityv1.SelfTestRequest) (*eligibilityv1.SelfTestResponse, error) {
	res, err := s.app.SelfTest(ctx, r.GetProgrammeId(), asOf(r.GetAsOf()), repliesOf(r.GetAnswers()))
	if err != nil {
		return nil, err
	}
	resp := &eligibilityv1.SelfTestResponse{Yes: int32(res.Yes), No: int32(res.No), Summary: res.Summary,
		Verdict: eligibilityv1.Verdict_VERDICT_LOYALTY_PROGRAMME}
	if res.Verdict == domain.RetentionFirst {
		resp.Verdict = eligibilityv1.Verdict_VERDICT_RETENTION_WITHOUT_CARD
	}
	for _, f := range res.Findings {
		resp.Findings = append(resp.Findings, &eligibilityv1.Finding{
			Question: eligibilityv1.Question(f.Question), Text: f.Text, Answer: answerToProto(f.Answer),
			Source: eligibilityv1.Source(f.Source), Reason: f.Reason, Implication: f.Implication(),
			Evidence: evidenceToProto(f.Evidence),
		})
	}
	return resp, nil
}

func asOf(t *timestamppb.Timestamp) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.AsTime()
}

// answerOf maps the caller's answer; a value the enum does not define is
// Undefined, which the domain refuses with the other problems.
func answerOf(a eligibilityv1.Answer) domain.Answer {
	switch a {
	case eligibilityv1.Answer_ANSWER_UNSPECIFIED:
		return domain.Unanswered
	case eligibilityv1.Answer_ANSWER_YES:
		return domain.Yes
	case eligibilityv1.Answer_ANSWER_NO:
		return domain.No
	}
	return domain.Undefined
}

func answerToProto(a domain.Answer) eligibilityv1.Answer {
	switch a {
	case domain.Yes:
		return eligibilityv1.Answer_ANSWER_YES
	case domain.No:
		return eligibilityv1.Answer_ANSWER_NO
	}
	return eligibilityv1.Answer_ANSWER_UNSPECIFIED
}

func evidenceToProto(e *domain.Evidence) *eligibilityv1.Evidence {
	if e == nil {
		return nil
	}
	out := &eligibilityv1.Evidence{Answer: answerToProto(e.Answer), Detail: e.Detail}
	if e.Figure != nil {
		out.Figure = e.Figure.String()
	}
	return out
}

// repliesOf passes the answers and figures on as given: the domain checks
// them all, so that one error names every problem.
func repliesOf(a *eligibilityv1.Answers) map[domain.Question]domain.Reply {
	if a == nil {
		a = &eligibilityv1.Answers{}
	}
	count := func(v *int64) string {
		if v == nil {
			return ""
		}
		return strconv.FormatInt(*v, 10)
	}
	return map[domain.Question]domain.Reply{
		domain.Identification:  {Answer: answerOf(a.GetIdentifiesAllCustomers()), Figure: a.GetIdentifiedShare()},
		domain.Recurrence:      {Answer: answerOf(a.GetLowRecurrence()), Figure: a.GetPurchasesPerCustomerYear()},
		domain.Portfolio:       {Answer: answerOf(a.GetSmallPortfolio()), Figure: count(a.Contacts)},
		domain.Competition:     {Answer: answerOf(a.GetWeaklyContested())},
		domain.TargetedActions: {Answer: answerOf(a.GetFewTargetedActions()), Figure: count(a.TargetedActionsPerYear)},
	}
}
