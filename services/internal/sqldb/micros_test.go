package sqldb_test

import (
	"testing"
	"time"

	"github.com/fidelis-loyalty/fidelis/services/internal/sqldb"
)

func TestMicrosRoundTrip(t *testing.T) {
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, tm := range []time.Time{
		time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC),
		time.Date(1969, 12, 31, 23, 59, 59, 999999000, time.UTC), // before the epoch
		time.Date(2026, 3, 1, 13, 0, 0, 0, paris),
	} {
		if got := sqldb.FromMicros(sqldb.Micros(tm)); !got.Equal(tm) || got.Location() != time.UTC {
			t.Errorf("%s came back as %s", tm, got)
		}
	}
	if sqldb.Micros(time.Time{}) != 0 || !sqldb.FromMicros(0).IsZero() {
		t.Error("the zero time is not stored as 0")
	}
}
