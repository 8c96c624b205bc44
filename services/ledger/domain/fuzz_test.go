package domain

import (
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
	"github.com/fidelis-loyalty/fidelis/services/internal/money"
)

// Any sequence of operations on a member's book — earns by points and by
// purchase, burns, holds captured, released or left to expire, reversals,
// adjustments, settlements, with time moving on — keeps its invariants:
// every entry's postings sum to zero, no balance goes below its floor,
// the balances equal their lots and holds; and a refused operation changes
// nothing and is a fault (a broken rule), never another error or a panic.
func FuzzBookOperations(f *testing.F) {
	f.Add([]byte{0, 50, 1, 20, 2, 10, 3, 0, 0, 90, 4, 0, 7, 5})
	f.Add([]byte{0, 200, 2, 100, 4, 1, 1, 250, 5, 30, 6, 1, 8, 0, 1, 40})
	f.Add([]byte{9, 30, 1, 10, 3, 2, 8, 200, 5, 200, 0, 1})
	f.Fuzz(func(t *testing.T, prog []byte) {
		p := testProgramme(t)
		b := newTestBook(t, p)
		now := t0
		var entries []*Entry
		var holds []string
		prior := map[string][]*Entry{} // the reversals of each entry, as the store keeps them
		for len(prog) >= 2 {
			op, arg := prog[0]%10, int64(prog[1])
			prog = prog[2:]
			before := b.Clone()
			var es []*Entry
			var err error
			switch op {
			case 0: // earn explicit points
				var e *Entry
				e, err = b.Earn(EarnCmd{Points: arg + 1, Channel: ChannelPOS}, now)
				es = append(es, e)
			case 1: // burn
				var e *Entry
				e, err = b.Burn(BurnCmd{Points: arg + 1, Channel: ChannelPOS}, now)
				es = append(es, e)
			case 2: // hold
				var h *Hold
				var e *Entry
				h, e, err = b.Hold(HoldCmd{Points: arg + 1, TTL: time.Duration(arg%5+1) * time.Hour, Channel: ChannelPOS}, now)
				if err == nil {
					holds = append(holds, h.ID)
				}
				es = append(es, e)
			case 3: // capture part or all of a hold
				if len(holds) > 0 {
					var e1, e2 *Entry
					_, e1, e2, err = b.Capture(holds[int(arg)%len(holds)], arg%20+1, now)
					es = append(es, e1, e2)
				}
			case 4: // release a hold
				if len(holds) > 0 {
					var e *Entry
					_, e, err = b.Release(holds[int(arg)%len(holds)], now)
					es = append(es, e)
				}
			case 5: // earn on a purchase (pending for the return window)
				var e *Entry
				amount := money.Money{Amount: decimal.New(arg*100+1, -2), Currency: "EUR"}
				e, err = b.Earn(EarnCmd{Purchase: &amount, Channel: ChannelEcommerce, OccurredAt: now}, now)
				es = append(es, e)
			case 6: // reverse part of an earlier entry
				if len(entries) > 0 {
					orig := entries[int(arg)%len(entries)]
					var e *Entry
					e, err = b.Reverse(ReverseCmd{Original: orig, Prior: prior[orig.ID], Portion: Portion{Points: arg%30 + 1},
						Reason: "return", Channel: ChannelPOS}, now)
					if err == nil {
						prior[orig.ID] = append(prior[orig.ID], e)
					}
					es = append(es, e)
				}
			case 7: // adjust, either way
				var e *Entry
				e, err = b.Adjust(AdjustCmd{Points: arg - 128, Reason: "fuzz", Operator: "ops"}, now)
				es = append(es, e)
			case 8: // time moves on: days, then settle what is due
				now = now.Add(time.Duration(arg%40+1) * 24 * time.Hour)
				b.Settle(now, now)
			case 9: // time moves on: hours
				now = now.Add(time.Duration(arg+1) * time.Hour)
			}
			if err != nil {
				if _, ok := fault.As(err); !ok {
					t.Fatalf("op %d(%d): %v is not a broken rule", op, arg, err)
				}
				if b.Member != before.Member {
					t.Fatalf("op %d(%d) refused (%v) but changed the member: %+v -> %+v", op, arg, err, before.Member, b.Member)
				}
				b = before // the app discards a refused operation's Book
				continue
			}
			for _, e := range es {
				if e == nil {
					continue
				}
				var sum int64
				for _, p := range e.Postings {
					sum += p.Amount
				}
				if sum != 0 {
					t.Fatalf("op %d(%d): entry %s postings sum to %d", op, arg, e.ID, sum)
				}
				entries = append(entries, e)
				// As the app has them: its moves are those this Book made.
				b.AddOriginMoves(e.ID, nil)
			}
			b.RefreshDue()
			if err := b.Check(); err != nil {
				t.Fatalf("after op %d(%d): %v", op, arg, err)
			}
		}
	})
}
