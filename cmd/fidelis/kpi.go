package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"cloud.google.com/go/longrunning/autogen/longrunningpb"
	"github.com/google/uuid"
	"github.com/shopspring/decimal"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	ledgerv1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/ledger/v1"
	typev1 "github.com/fidelis-loyalty/fidelis/api/gen/go/fidelis/type/v1"
)

// kpi prints a programme's KPIs for a period as tables.
func kpi(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f serveFlags
	fs := flag.NewFlagSet("kpi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	f.register(fs)
	addr := fs.String("addr", "", "a running server's gRPC address (default: open --db in this process)")
	programme := fs.String("programme", "default", "programme")
	now := time.Now().UTC()
	from := fs.String("from", now.AddDate(0, -1, 0).Format(time.DateOnly), "period start (YYYY-MM-DD, UTC)")
	to := fs.String("to", now.Format(time.DateOnly), "period end, exclusive (YYYY-MM-DD, UTC)")
	refresh := fs.Bool("refresh", false, "refresh the KPI tables (monthly figures, cohorts, churn model) first")
	var key clientKey
	key.register(fs, "with --addr: the API key to call with, of a principal with the bi role (and operator's to --refresh)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	start, err := time.Parse(time.DateOnly, *from)
	if err != nil {
		return fmt.Errorf("--from: %w", err)
	}
	end, err := time.Parse(time.DateOnly, *to)
	if err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	f.logLevel, f.jobsEvery = "warn", 0
	log, err := f.logger(stderr)
	if err != nil {
		return err
	}
	target := *addr
	if target == "" {
		a, k, stop, err := inProcess(ctx, &f, log, "kpi", []string{"bi", "operator"})
		if err != nil {
			return err
		}
		defer stop()
		target, key.key = a, k
	}
	conn, err := key.dial(target, f.peerCA)
	if err != nil {
		return err
	}
	defer conn.Close()
	c := ledgerv1.NewKpiServiceClient(conn)
	if *refresh {
		// A long-running operation of the administration service: start it,
		// then poll it until it is done.
		op, err := ledgerv1.NewLedgerAdminServiceClient(conn).RefreshKpis(ctx, &ledgerv1.RefreshKpisRequest{
			IdempotencyKey: "kpi-refresh-" + uuid.NewString(), ProgrammeId: *programme})
		if err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		var r ledgerv1.RefreshKpisResponse
		if err := awaitOperation(ctx, longrunningpb.NewOperationsClient(conn), op, &r); err != nil {
			return fmt.Errorf("refresh: %w", err)
		}
		fmt.Fprintf(stdout, "refreshed %d members over %d months in %.2fs", r.GetMembers(), r.GetMonths(), r.GetDuration().AsDuration().Seconds())
		if m := r.GetModel(); m != nil {
			fmt.Fprintf(stdout, "; churn model r=%.3f alpha=%.3f a=%.3f b=%.3f (LL %.1f, %d customers)",
				m.GetR(), m.GetAlpha(), m.GetA(), m.GetB(), m.GetLogLikelihood(), m.GetCustomers())
		}
		fmt.Fprintln(stdout)
	}
	k, err := c.GetKpis(ctx, &ledgerv1.GetKpisRequest{ProgrammeId: *programme,
		PeriodStart: timestamppb.New(start), PeriodEnd: timestamppb.New(end)})
	if err != nil {
		return err
	}
	printKPIs(stdout, k, start, end)
	return nil
}

func printKPIs(w io.Writer, k *ledgerv1.GetKpisResponse, from, to time.Time) {
	fmt.Fprintf(w, "programme %s, %s to %s (UTC)\n\n", k.GetProgrammeId(), from.Format(time.DateOnly), to.Format(time.DateOnly))
	m := k.GetMembers()
	t := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "members\tat start\tat end\tnew\tactive start\tactive end\tchurned\tchurn rate\tretention\trepeat rate\t")
	fmt.Fprintf(t, "\t%d\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t\n", m.GetMembersStart(), m.GetMembersEnd(), m.GetNewMembers(),
		m.GetActiveStart(), m.GetActiveEnd(), m.GetChurned(), percent(m.GetChurnRate()), percent(m.GetRetentionRate()), percent(m.GetRepeatPurchaseRate()))
	t.Flush()
	fmt.Fprintln(w)
	t = tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(t, "points\tpartner\tissued\tburned\trefunded\texpired\tclawed back\tbreakage\tredemption\t")
	for _, p := range append(k.GetPoints(), k.GetPointsTotal()) {
		ch := channelName(p.GetChannel())
		if p == k.GetPointsTotal() {
			ch = "total"
		}
		fmt.Fprintf(t, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t\n", ch, p.GetPartnerId(), p.GetIssued(), p.GetBurned(), p.GetRefunded(),
			p.GetExpired(), p.GetClawedBack(), percent(p.GetBreakageRate()), percent(p.GetRedemptionRate()))
	}
	t.Flush()
	fmt.Fprintf(w, "\noutstanding: %d points, %s %s\n", k.GetOutstandingPoints(), k.GetOutstandingValue().GetAmount(),
		k.GetOutstandingValue().GetCurrencyCode())
	for _, d := range []struct {
		name string
		m    map[string]int64
	}{{"segments", k.GetSegments()}, {"tiers", k.GetTiers()}} {
		var parts []string
		for _, s := range slices.Sorted(maps.Keys(d.m)) {
			parts = append(parts, fmt.Sprintf("%s %d", s, d.m[s]))
		}
		fmt.Fprintf(w, "%s: %s\n", d.name, strings.Join(parts, ", "))
	}
	for _, mv := range []struct {
		name  string
		cells []*ledgerv1.TransitionCell
	}{{"segment moves", k.GetSegmentMoves()}, {"tier moves", k.GetTierMoves()}} {
		if len(mv.cells) == 0 {
			continue
		}
		fmt.Fprintf(w, "\n%s (start -> end of period):\n", mv.name)
		t = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(t, "from\tto\tmembers\trow share\t")
		for _, c := range mv.cells {
			fmt.Fprintf(t, "%s\t%s\t%d\t%s\t\n", c.GetFromState(), c.GetToState(), c.GetMembers(), percent(c.GetRowShare()))
		}
		t.Flush()
	}
}

// channelName is a channel as the points table shows it: "pos" for
// CHANNEL_POS, empty for entries without a channel.
func channelName(c typev1.Channel) string {
	if c == typev1.Channel_CHANNEL_UNSPECIFIED {
		return ""
	}
	return strings.ToLower(strings.TrimPrefix(c.String(), "CHANNEL_"))
}

// percent shows a decimal rate as a percentage with one decimal.
func percent(rate string) string {
	d, err := decimal.NewFromString(rate)
	if err != nil {
		return rate
	}
	return d.Shift(2).StringFixed(1) + "%"
}

// awaitOperation polls a long-running operation until it is done, and
// reads its response into into, or returns its error.
func awaitOperation(ctx context.Context, ops longrunningpb.OperationsClient, op *longrunningpb.Operation, into proto.Message) error {
	for !op.GetDone() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		var err error
		if op, err = ops.GetOperation(ctx, &longrunningpb.GetOperationRequest{Name: op.GetName()}); err != nil {
			return err
		}
	}
	if e := op.GetError(); e != nil {
		return status.ErrorProto(e)
	}
	return op.GetResponse().UnmarshalTo(into)
}
