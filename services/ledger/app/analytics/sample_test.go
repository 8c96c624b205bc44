package analytics

import (
	"slices"
	"testing"

	"github.com/fidelis-loyalty/fidelis/services/ledger/churn"
)

// The streamed sample is the one taken from the whole list before:
// cs[i*n/size], or every customer when there are at most size.
func TestEvenSampleIsTheListsSample(t *testing.T) {
	for _, c := range []struct{ n, size int }{{0, 5}, {3, 5}, {5, 5}, {6, 5}, {17, 5}, {1000, 7}, {123_457, fitSample}} {
		all := make([]churn.Customer, c.n)
		for i := range all {
			all[i] = churn.Customer{X: i}
		}
		want := all
		if c.n > c.size {
			want = nil
			for i := range c.size {
				want = append(want, all[i*c.n/c.size])
			}
		}
		e := newEvenSample(int64(c.n), c.size)
		for _, cu := range all {
			e.offer(cu)
		}
		if !slices.Equal(e.customers, want) && !(len(want) == 0 && len(e.customers) == 0) {
			t.Errorf("n %d, size %d: sample of %d differs from the list's (%d)", c.n, c.size, len(e.customers), len(want))
		}
	}
}
