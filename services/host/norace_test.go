//go:build !race

package host_test

// raceEnabled says whether the tests run with the race detector.
const raceEnabled = false
