// Package domain is the rewards catalogue's model: rewards and their terms,
// eligibility, redemptions and vouchers. It does no I/O.
package domain

import (
	"crypto/rand"
	"fmt"
	"strings"

	"github.com/fidelis-loyalty/fidelis/services/internal/fault"
)

// alphabet is Crockford's base 32: no I, L, O or U, so codes read aloud or
// typed from a receipt are not confused.
const alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"

// codeChars is the random part of a voucher code: 16 characters, 80 bits.
const codeChars = 16

// NewVoucherCode returns an unguessable voucher code: 16 random characters
// from a crypto source in four groups, then a check character (Luhn mod 32)
// that catches any single mistyped character and most swaps.
func NewVoucherCode() (string, error) {
	var raw [codeChars]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", fmt.Errorf("voucher code: %w", err)
	}
	var b strings.Builder
	digits := make([]int, 0, codeChars)
	for i, r := range raw {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		d := int(r) % len(alphabet) // 256 is a multiple of 32: no bias
		digits = append(digits, d)
		b.WriteByte(alphabet[d])
	}
	b.WriteByte('-')
	b.WriteByte(alphabet[checkDigit(digits)])
	return b.String(), nil
}

// checkDigit is the Luhn mod N check digit of digits.
func checkDigit(digits []int) int {
	n := len(alphabet)
	sum, factor := 0, 2
	for i := len(digits) - 1; i >= 0; i-- {
		addend := factor * digits[i]
		addend = addend/n + addend%n
		sum += addend
		if factor == 2 {
			factor = 1
		} else {
			factor = 2
		}
	}
	return (n - sum%n) % n
}

// NormalizeVoucherCode checks a code as typed (any case, with or without
// dashes, Crockford's O/I/L read as 0/1/1) and returns it in canonical form.
func NormalizeVoucherCode(code string) (string, error) {
	var digits []int
	for _, c := range strings.ToUpper(code) {
		switch c {
		case '-', ' ':
			continue
		case 'O':
			c = '0'
		case 'I', 'L':
			c = '1'
		}
		d := strings.IndexRune(alphabet, c)
		if d < 0 {
			return "", fault.Invalid("code", "is not a voucher code")
		}
		digits = append(digits, d)
	}
	if len(digits) != codeChars+1 || checkDigit(digits[:codeChars]) != digits[codeChars] {
		return "", fault.Invalid("code", "is not a voucher code (check character mismatch)")
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && i%4 == 0 {
			b.WriteByte('-')
		}
		b.WriteByte(alphabet[d])
	}
	return b.String(), nil
}
