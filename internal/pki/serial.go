package pki

import (
	"errors"
	"math/big"
	"strings"
)

// maxSerialOctets bounds a serial: RFC 5280 allows 20 octets; a few CAs
// have issued longer ones, so up to 32 are taken.
const maxSerialOctets = 32

// SerialText writes a serial in its one form: lower-case hexadecimal without
// leading zeros ("0" for zero). The revocation list, the audit trail and
// the authentication path all compare serials in this form.
func SerialText(n *big.Int) string { return n.Text(16) }

// ParseSerial reads a certificate serial as the usual tools print it and
// returns its one form (SerialText):
//
//	0A1B2C, 0a1b2c, 000a1b2c           hex, any case, leading zeros
//	0x0a1b2c, 0X0A1B2C                 with a 0x prefix
//	0a:1b:2c, 0A:1B:2C, 0a 1b 2c       byte pairs separated by colons or spaces (openssl x509 -text, browsers)
//	serial=0A1B2C                      openssl x509 -noout -serial
//
// Anything else is an error: decimal with other characters, signs, a
// separator that does not sit between byte pairs, an empty value, or more
// than 32 octets.
func ParseSerial(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) > 3*maxSerialOctets+16 {
		return "", errors.New("too long for a certificate serial")
	}
	if len(s) >= 7 && strings.EqualFold(s[:7], "serial=") {
		s = s[7:]
	}
	if len(s) >= 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X') {
		s = s[2:]
	}
	if s == "" {
		return "", errors.New("empty serial")
	}
	var digits string
	switch sep := separator(s); sep {
	case 0:
		digits = s
	default:
		pairs := strings.Split(s, string(sep))
		for _, p := range pairs {
			if len(p) != 2 {
				return "", errors.New("separated serials must be byte pairs, such as 0a:1b:2c")
			}
		}
		digits = strings.Join(pairs, "")
	}
	for i := 0; i < len(digits); i++ {
		if !isHex(digits[i]) {
			return "", errors.New("a serial is hexadecimal: digits 0-9 and letters a-f")
		}
	}
	n, ok := new(big.Int).SetString(digits, 16)
	if !ok {
		return "", errors.New("not a hexadecimal serial")
	}
	if (n.BitLen()+7)/8 > maxSerialOctets {
		return "", errors.New("longer than any certificate serial (32 octets)")
	}
	return SerialText(n), nil
}

// separator is the byte-pair separator used in s (':' or ' '), 0 for none;
// a mix of the two is not a separator the check above accepts.
func separator(s string) byte {
	colon, space := strings.IndexByte(s, ':') >= 0, strings.IndexByte(s, ' ') >= 0
	switch {
	case colon && !space:
		return ':'
	case space && !colon:
		return ' '
	case colon && space:
		return ':' // the space then fails the hex check
	}
	return 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// IsSerialText reports whether s is already in the one form.
func IsSerialText(s string) bool {
	if s == "0" {
		return true
	}
	if s == "" || s[0] == '0' || len(s) > 2*maxSerialOctets {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}
