// Package domain is the loyalty eligibility self-test: the established
// five questions a business answers to decide whether it should run a
// card-based loyalty programme. A majority of yes says to work on retention
// without a card first; a majority of no says a programme makes sense.
//
// Each question is decided by the caller's yes or no, else by a figure the
// caller gives, else by the programme's own data (Evidence). A question that
// nothing decides, an answer that is neither yes nor no, a figure that is not
// a number in range, or an answer that contradicts the caller's own figure is
// an InvalidArgument naming the field, every question at fault in one error.
package domain

import (
	"fmt"
	"strings"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// Question is one of the five, numbered as asked.
type Question int

// The questions.
const (
	Identification Question = iota + 1
	Recurrence
	Portfolio
	Competition
	TargetedActions
)

// Thresholds of the questions.
const (
	// LowRecurrence: fewer purchases per customer per year than this.
	LowRecurrence = 3
	// SmallPortfolio: fewer contacts than this.
	SmallPortfolio = 50_000
	// FewTargetedActions: fewer targeted, personalised actions in 12
	// months than this, i.e. less than one a month.
	FewTargetedActions = 12
)

func below(n int64) func(decimal.Decimal) bool {
	limit := decimal.NewFromInt(n)
	return func(d decimal.Decimal) bool { return d.LessThan(limit) }
}

// Answer is yes, no, or none given.
type Answer int

// Answers.
const (
	Unanswered Answer = iota
	Yes
	No
)

// Undefined is an answer that is neither yes, no nor none (a value the
// caller's protocol does not define): Score refuses it.
const Undefined Answer = -1

func (a Answer) String() string {
	switch a {
	case Yes:
		return "yes"
	case No:
		return "no"
	}
	return "no answer"
}

func answerOf(yes bool) Answer {
	if yes {
		return Yes
	}
	return No
}

// Spec is how a question is asked and decided.
type Spec struct {
	Question Question
	Text     string
	// AnswerField and FigureField name the request fields that answer it
	// (FigureField is empty when no figure decides it).
	AnswerField, FigureField string
	// FigureLabel says what the figure is, and its unit.
	FigureLabel string
	// FigureHint says what a valid figure is, with an example; a bad
	// figure is refused with "must be " + FigureHint.
	FigureHint string
	// Integer figures are counts.
	Integer bool
	// Min and Max bound the figure (Max zero: unbounded).
	Min, Max decimal.Decimal
	// YesWhen decides the answer from the figure; Rule says how, in words.
	YesWhen func(decimal.Decimal) bool
	Rule    string
	// IfYes and IfNo say what each answer means for the verdict.
	IfYes, IfNo string
}

// Specs are the five questions' specs, in order.
func Specs() []Spec {
	one := decimal.NewFromInt(1)
	return []Spec{{
		Question: Identification, Text: "Do you identify 100% of your buying customers?",
		AnswerField: "answers.identifies_all_customers", FigureField: "answers.identified_share",
		FigureLabel: "share of sales made to identified customers (0 to 1)", Min: decimal.Zero, Max: one,
		YesWhen: func(d decimal.Decimal) bool { return d.Equal(one) }, Rule: "yes only at 1 (100%)", FigureHint: "a share between 0 and 1, like 0.875 for 87.5%",
		IfYes: "You already know every buyer: a card would add no identification you lack.",
		IfNo:  "A card would identify the buyers you cannot recognise today.",
	}, {
		Question: Recurrence, Text: "Is your activity low-recurrence (fewer than 3 purchases per customer per year)?",
		AnswerField: "answers.low_recurrence", FigureField: "answers.purchases_per_customer_year",
		FigureLabel: "purchases per customer per year", Min: decimal.Zero,
		YesWhen: below(LowRecurrence), Rule: "yes below 3", FigureHint: "a number of purchases per customer per year, 0 or more, like 2.5",
		IfYes: "Customers buy too rarely to collect and spend points: a card would seldom be used.",
		IfNo:  "Frequent purchases give a card many occasions to reward and to learn.",
	}, {
		Question: Portfolio, Text: "Is your customer portfolio small (under 50,000 contacts)?",
		AnswerField: "answers.small_portfolio", FigureField: "answers.contacts",
		FigureLabel: "customer contacts", Integer: true, Min: decimal.Zero,
		YesWhen: below(SmallPortfolio), Rule: "yes below 50,000", FigureHint: "a whole number of customer contacts, 0 or more, like 12500",
		IfYes: "A small portfolio can be known and served one by one, without the cost of a programme.",
		IfNo:  "A large portfolio needs a programme to recognise customers at scale.",
	}, {
		Question: Competition, Text: "Is your offer weakly contested?",
		AnswerField: "answers.weakly_contested",
		IfYes:       "With few alternatives on offer, customers have little to be won back from.",
		IfNo:        "In a contested market a programme gives customers a reason to come back.",
	}, {
		Question: TargetedActions, Text: "Have you so far run few targeted, personalised loyalty actions (fewer than 12 in the last 12 months)?",
		AnswerField: "answers.few_targeted_actions", FigureField: "answers.targeted_actions_per_year",
		FigureLabel: "targeted, personalised actions in the last 12 months", Integer: true, Min: decimal.Zero,
		YesWhen: below(FewTargetedActions), Rule: "yes below 12", FigureHint: "a whole number of actions in the last 12 months, 0 or more, like 6",
		IfYes: "Start with targeted, personalised actions on the data you have: they cost far less than a card.",
		IfNo:  "You already run targeted actions: a programme can structure and scale them.",
	}}
}

// Reply is the caller's answer to a question and the figure, if any, as
// the caller gave them: Score checks both.
type Reply struct {
	Answer Answer
	// Figure is a decimal number as written ("87.5", "12840"); empty for
	// none.
	Figure string
}

// Evidence is what a programme's own data says about a question.
type Evidence struct {
	// Answer is Unanswered when the data cannot decide (Detail says why).
	Answer Answer
	// Figure is the measured value, when there is one.
	Figure *decimal.Decimal
	Detail string
}

// Source is what decided a question.
type Source int

// Sources.
const (
	FromAnswer Source = iota + 1
	FromFigure
	FromData
)

// Finding is a decided question.
type Finding struct {
	Spec
	Answer Answer
	Source Source
	// Reason says what decided it and on which figure.
	Reason string
	// Evidence is the programme data's view, even when the caller decided.
	Evidence *Evidence
}

// Implication is what the finding's answer means for the verdict.
func (f *Finding) Implication() string {
	if f.Answer == Yes {
		return f.IfYes
	}
	return f.IfNo
}

// Verdict is the test's conclusion.
type Verdict int

// Verdicts.
const (
	// RetentionFirst: a majority of yes; work on retention without a card.
	RetentionFirst Verdict = iota + 1
	// LoyaltyProgramme: a majority of no; a card-based programme makes sense.
	LoyaltyProgramme
)

// Result is the scored test.
type Result struct {
	Verdict  Verdict
	Yes, No  int
	Summary  string
	Findings []Finding
}

// Score decides each question and the verdict. replies and evidence are
// by question; either may lack any.
func Score(replies map[Question]Reply, evidence map[Question]*Evidence) (*Result, error) {
	res := &Result{}
	var bad []fault.Violation
	for _, spec := range Specs() {
		f, vs := decide(spec, replies[spec.Question], evidence[spec.Question])
		if len(vs) > 0 {
			bad = append(bad, vs...)
			continue
		}
		res.Findings = append(res.Findings, f)
		if f.Answer == Yes {
			res.Yes++
		} else {
			res.No++
		}
	}
	if err := fault.InvalidFields(bad); err != nil {
		return nil, err
	}
	if res.Yes > res.No {
		res.Verdict = RetentionFirst
		res.Summary = fmt.Sprintf("%d of 5 answers are yes: work on retention without a card first. "+
			"Identify, target and personalise with the customer data you have; a card would cost more than it brings.", res.Yes)
	} else {
		res.Verdict = LoyaltyProgramme
		res.Summary = fmt.Sprintf("%d of 5 answers are no: a card-based loyalty programme makes sense. "+
			"It would identify your buyers, reward their frequency and structure your targeted actions.", res.No)
	}
	return res, nil
}

func decide(spec Spec, r Reply, ev *Evidence) (Finding, []fault.Violation) {
	f := Finding{Spec: spec, Evidence: ev}
	var bad []fault.Violation
	if r.Answer != Unanswered && r.Answer != Yes && r.Answer != No {
		bad = append(bad, fault.Violation{Field: spec.AnswerField, Msg: "must be yes or no (ANSWER_YES or ANSWER_NO), or left out"})
	}
	var figure decimal.Decimal
	var fromFigure Answer
	if r.Figure != "" {
		d, ok := parseFigure(spec, r.Figure)
		switch {
		case spec.FigureField == "":
			bad = append(bad, fault.Violation{Field: spec.AnswerField, Msg: "this question takes no figure"})
		case !ok:
			bad = append(bad, fault.Violation{Field: spec.FigureField, Msg: "must be " + spec.FigureHint})
		default:
			figure, fromFigure = d, answerOf(spec.YesWhen(d))
		}
	}
	if len(bad) > 0 {
		return f, bad
	}
	switch {
	case r.Answer != Unanswered && fromFigure != Unanswered && r.Answer != fromFigure:
		return f, []fault.Violation{{Field: spec.AnswerField, Msg: fmt.Sprintf(
			"you answered %s, but your %s of %s means %s (%s): correct one of them", r.Answer, spec.FigureLabel,
			figure.String(), fromFigure, spec.Rule)}}
	case r.Answer != Unanswered:
		f.Answer, f.Source, f.Reason = r.Answer, FromAnswer, "You answered "+r.Answer.String()+"."
		if fromFigure != Unanswered {
			f.Reason += fmt.Sprintf(" Your %s of %s agrees.", spec.FigureLabel, figure.String())
		}
		if ev != nil && ev.Answer != Unanswered && ev.Answer != r.Answer {
			f.Reason += " Your programme's data says " + ev.Answer.String() + ": " + ev.Detail + "."
		}
	case fromFigure != Unanswered:
		f.Answer, f.Source = fromFigure, FromFigure
		f.Reason = fmt.Sprintf("From your figure: %s of %s, so %s (%s).", spec.FigureLabel, figure.String(), fromFigure, spec.Rule)
	case ev != nil && ev.Answer != Unanswered:
		f.Answer, f.Source = ev.Answer, FromData
		f.Reason = "From your programme's data: " + ev.Detail + "."
	default:
		msg := "missing: answer yes or no"
		if spec.FigureField != "" {
			msg += ", or give " + spec.FigureField + " (" + spec.FigureLabel + ")"
		}
		switch {
		case ev != nil && ev.Detail != "":
			msg += "; " + ev.Detail
		case spec.FigureField == "":
			msg += "; only you can judge this"
		}
		return f, []fault.Violation{{Field: spec.AnswerField, Msg: msg}}
	}
	return f, nil
}

// plainNumber is digits, optionally a point and more digits, optionally
// after a minus (which the bounds then refuse, with the same message): no
// exponent, sign or separator that decimal parsing would also take.
func plainNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, point := strings.Cut(s, ".")
	digits := func(p string) bool {
		return p != "" && strings.Trim(p, "0123456789") == ""
	}
	return digits(whole) && (!point || digits(frac))
}

// parseFigure reads a figure as the caller wrote it; false when it is not a
// number within the spec's bounds (a whole one for a count).
func parseFigure(spec Spec, s string) (decimal.Decimal, bool) {
	s = strings.TrimSpace(s)
	if !plainNumber(s) {
		return decimal.Decimal{}, false
	}
	d, err := decimal.NewFromString(s)
	switch {
	case err != nil, d.LessThan(spec.Min), !spec.Max.IsZero() && d.GreaterThan(spec.Max), spec.Integer && !d.IsInteger():
		return decimal.Decimal{}, false
	}
	return d, true
}
