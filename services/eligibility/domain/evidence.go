package domain

import (
	"fmt"
	"strconv"
	"time"

	"github.com/shopspring/decimal"
)

// ProgrammeData is what a programme's own data holds for the test, over a
// 12-month window.
type ProgrammeData struct {
	From, To time.Time
	// Members enrolled by To.
	Members int64
	// Buyers and their purchases (identified sales) in the window.
	Buyers, Purchases int64
	// StorePurchases are the purchases made in store (channel POS): the
	// identified sales that the stores' anonymous ones compare with.
	StorePurchases int64
	// FirstPurchase is the programme's first purchase ever (zero: none).
	FirstPurchase time.Time
	// AnonymousSales were reported by stores over AnonymousStoreDays
	// store-days of the window.
	AnonymousSales, AnonymousStoreDays int64
	// Targeted counts the targeted actions active in the window; nil when
	// no source of them could be read.
	Targeted *TargetedCount
}

// TargetedCount is the targeted, personalised actions found: rewards and
// partner offers restricted to tiers or segments. Unread names the sources
// that could not be read.
type TargetedCount struct {
	Rewards, PartnerOffers int64
	Unread                 []string
}

// minHistory is the least buying history that says how often members buy.
const minHistory = 28 * 24 * time.Hour

// Evidence says what the data answers, question by question.
func (d *ProgrammeData) Evidence() map[Question]*Evidence {
	window := fmt.Sprintf("the 12 months to %s", d.To.Format(time.DateOnly))
	ev := map[Question]*Evidence{
		Competition: {Detail: "only you can judge how contested your offer is"},
	}

	// Stores report their anonymous sales: only the purchases members make
	// in store compare with them (online, every buyer is known).
	switch sales := d.StorePurchases + d.AnonymousSales; {
	case d.AnonymousStoreDays == 0:
		ev[Identification] = &Evidence{Detail: "no store has reported its anonymous sales for " + window +
			" (LedgerService.ReportAnonymousSales), so the identified share is unknown"}
	case sales == 0:
		ev[Identification] = &Evidence{Detail: "no sales in store in " + window}
	default:
		share := decimal.NewFromInt(d.StorePurchases).Div(decimal.NewFromInt(sales)).Truncate(4)
		ev[Identification] = &Evidence{Answer: answerOf(d.AnonymousSales == 0), Figure: &share, Detail: fmt.Sprintf(
			"%s%% of in-store sales identified in %s: %s purchases by members in store, %s anonymous sales reported by stores "+
				"(online and other channels are left out: stores do not report them)",
			share.Shift(2).String(), window, count(d.StorePurchases), count(d.AnonymousSales))}
	}

	start := d.From
	if d.FirstPurchase.After(start) {
		start = d.FirstPurchase
	}
	switch span := d.To.Sub(start); {
	case d.Buyers == 0:
		ev[Recurrence] = &Evidence{Detail: "no member bought in " + window}
	case span < minHistory:
		ev[Recurrence] = &Evidence{Detail: "less than 4 weeks of purchases, too few to tell how often members buy"}
	default:
		rate := decimal.NewFromInt(d.Purchases).Div(decimal.NewFromInt(d.Buyers))
		over := window
		if start.After(d.From) {
			// Annualise a shorter history.
			rate = rate.Mul(decimal.NewFromInt(int64(d.To.Sub(d.From)))).Div(decimal.NewFromInt(int64(span)))
			over = fmt.Sprintf("the %d days since the first purchase, annualised", int(span.Hours()/24))
		}
		rate = rate.Truncate(2)
		ev[Recurrence] = &Evidence{Answer: answerOf(rate.LessThan(decimal.NewFromInt(LowRecurrence))), Figure: &rate, Detail: fmt.Sprintf(
			"%s purchases per buying member per year: %s purchases by %s members over %s",
			rate.String(), count(d.Purchases), count(d.Buyers), over)}
	}

	if d.Members == 0 {
		ev[Portfolio] = &Evidence{Detail: "the programme has no members yet"}
	} else {
		n := decimal.NewFromInt(d.Members)
		ev[Portfolio] = &Evidence{Answer: answerOf(d.Members < SmallPortfolio), Figure: &n,
			Detail: count(d.Members) + " members enrolled (customers without a card are not counted)"}
	}

	if t := d.Targeted; t == nil {
		ev[TargetedActions] = &Evidence{Detail: "neither the rewards nor the partner offers could be read, so targeted actions cannot be counted"}
	} else {
		total := t.Rewards + t.PartnerOffers
		n := decimal.NewFromInt(total)
		detail := fmt.Sprintf("%s targeted actions active in %s: %s rewards and %s partner offers restricted to tiers or segments",
			count(total), window, count(t.Rewards), count(t.PartnerOffers))
		for _, u := range t.Unread {
			detail += "; the " + u + " could not be read"
		}
		ev[TargetedActions] = &Evidence{Answer: answerOf(total < FewTargetedActions), Figure: &n, Detail: detail}
	}
	return ev
}

// count writes n with thousands separators.
func count(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := n < 0
	if neg {
		s = s[1:]
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
}

// RewardOffer is a reward of a programme's catalogue, as the count of
// targeted actions reads it: whom it is restricted to and when it was on
// offer (a zero time: unbounded).
type RewardOffer struct {
	MinTier    string
	Segments   int
	Active     bool
	Created    time.Time
	ValidFrom  time.Time
	ValidUntil time.Time
	// Updated is when an inactive reward was deactivated.
	Updated time.Time
}

// PartnerOffer is a partner's offer: whom it is restricted to and when it
// was on offer (a zero time: unbounded).
type PartnerOffer struct {
	Tiers, Segments int
	Created         time.Time
	ValidFrom       time.Time
	ValidUntil      time.Time
}
