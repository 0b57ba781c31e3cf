// Package nik checks Indonesian national identity numbers (Nomor Induk
// Kependudukan) for plausibility: 16 digits = 6-digit region of registration
// (province, regency or city, district) + birth date DDMMYY, women's day
// plus 40 + a 4-digit serial from 0001. A NIK reveals birth date and sex,
// so it is personal data: callers must never log it.
package nik

import (
	"errors"
	"fmt"
	"time"
)

// Sex as a NIK encodes it.
type Sex int

const (
	SexUnknown Sex = iota
	Male
	Female
)

// provinces are the Kemendagri province codes (including the Papua
// provinces formed in 2022).
var provinces = map[int]bool{
	11: true, 12: true, 13: true, 14: true, 15: true, 16: true, 17: true, 18: true, 19: true, 21: true,
	31: true, 32: true, 33: true, 34: true, 35: true, 36: true,
	51: true, 52: true, 53: true,
	61: true, 62: true, 63: true, 64: true, 65: true,
	71: true, 72: true, 73: true, 74: true, 75: true, 76: true,
	81: true, 82: true,
	91: true, 92: true, 93: true, 94: true, 95: true, 96: true, 97: true,
}

// Parsed is what a NIK says.
type Parsed struct {
	// Region is the registration region, dotted ("33.01.12").
	Region string
	// Day and Month of birth; YY the last two digits of the year.
	Day, Month, YY int
	Sex            Sex
	Serial         int
}

// Parse checks the form of a NIK and returns what it encodes. The error
// says which part is wrong, never the number itself.
func Parse(s string) (Parsed, error) {
	var p Parsed
	if len(s) != 16 {
		return p, fmt.Errorf("must be 16 digits, got %d characters", len(s))
	}
	d := make([]int, 16)
	for i := range 16 {
		if s[i] < '0' || s[i] > '9' {
			return p, errors.New("must be 16 digits")
		}
		d[i] = int(s[i] - '0')
	}
	two := func(i int) int { return d[i]*10 + d[i+1] }
	prov, reg, dist := two(0), two(2), two(4)
	switch {
	case !provinces[prov]:
		return p, errors.New("region: unknown province code")
	case reg == 0:
		return p, errors.New("region: regency or city code 00")
	case dist == 0:
		return p, errors.New("region: district code 00")
	}
	p.Region = fmt.Sprintf("%02d.%02d.%02d", prov, reg, dist)
	day := two(6)
	switch {
	case day >= 1 && day <= 31:
		p.Sex = Male
		p.Day = day
	case day >= 41 && day <= 71:
		p.Sex = Female
		p.Day = day - 40
	default:
		return p, errors.New("birth day must be 01-31, or 41-71 for women")
	}
	p.Month = two(8)
	if p.Month < 1 || p.Month > 12 {
		return p, errors.New("birth month must be 01-12")
	}
	p.YY = two(10)
	// The day must exist in that month (29 February in any year: the century is unknown).
	if p.Day > time.Date(2000, time.Month(p.Month)+1, 0, 0, 0, 0, 0, time.UTC).Day() {
		return p, errors.New("birth day does not exist in that month")
	}
	p.Serial = d[12]*1000 + d[13]*100 + d[14]*10 + d[15]
	if p.Serial == 0 {
		return p, errors.New("serial must start at 0001")
	}
	return p, nil
}

// Check validates a NIK and, when given, its consistency with a birth
// date (zero: unknown) and sex (SexUnknown: unknown).
func Check(s string, birth time.Time, sex Sex) error {
	p, err := Parse(s)
	if err != nil {
		return err
	}
	if !birth.IsZero() && (birth.Day() != p.Day || int(birth.Month()) != p.Month || birth.Year()%100 != p.YY) {
		return errors.New("does not match the birth date")
	}
	if sex != SexUnknown && sex != p.Sex {
		return errors.New("does not match the sex (women's birth day is coded plus 40)")
	}
	return nil
}

// Make builds a NIK from its parts (for synthetic demo data). region is six
// digits without dots.
func Make(region string, birth time.Time, sex Sex, serial int) string {
	day := birth.Day()
	if sex == Female {
		day += 40
	}
	return fmt.Sprintf("%s%02d%02d%02d%04d", region, day, int(birth.Month()), birth.Year()%100, serial)
}
