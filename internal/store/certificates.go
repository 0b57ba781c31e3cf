package store

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/jackc/pgx/v5"
)

// How a revocation came in.
const (
	RevokedBySerial      = "serial"
	RevokedByCertificate = "certificate"
	RevokedByCRL         = "crl"
)

// Revocation is one revoked client certificate serial. Revocations are
// permanent: the store has no statement that changes or deletes one, and
// the database refuses them (migration 00020).
type Revocation struct {
	// Serial in its one form: lower-case hex without leading zeros.
	Serial string
	// RevokeTime is when it took effect (a CRL entry's revocation date); zero: now.
	RevokeTime time.Time
	Reason     string
	Source     string
	// Issuer is the CRL's issuer, for revocations imported from a CRL.
	Issuer string
	// CreateTime is when it was recorded (read only).
	CreateTime time.Time
	// Valid is false for a row left from before serials had one form: it
	// matches no certificate (read only).
	Valid bool
}

// serialForm is pki.SerialText's form, checked again here and in the database.
var serialForm = regexp.MustCompile(`^(0|[1-9a-f][0-9a-f]{0,63})$`)

// ErrSerialForm is returned for a serial not in its one form.
var ErrSerialForm = errors.New("certificate serial not in its written form (lower-case hex, no leading zeros)")

// RevokeCertificates records revocations in one transaction, with the
// act's audit record (hook: the officer, and each newly revoked
// certificate as a subject), and returns how many were new; a serial
// already revoked keeps its first record.
func (s *Store) RevokeCertificates(ctx context.Context, hook SubjectTxHook, revs []Revocation) (int, error) {
	serials := make([]string, len(revs))
	times := make([]*time.Time, len(revs))
	reasons := make([]string, len(revs))
	sources := make([]string, len(revs))
	issuers := make([]string, len(revs))
	for i, r := range revs {
		if !serialForm.MatchString(r.Serial) {
			return 0, fmt.Errorf("%q: %w", r.Serial, ErrSerialForm)
		}
		serials[i], reasons[i], sources[i], issuers[i] = r.Serial, r.Reason, r.Source, r.Issuer
		if sources[i] == "" {
			sources[i] = RevokedBySerial
		}
		if !r.RevokeTime.IsZero() {
			t := r.RevokeTime
			times[i] = &t
		}
	}
	var added int
	err := s.inTx(ctx, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, `
			INSERT INTO certificate_revocations (serial, revoke_time, reason, source, issuer)
			SELECT DISTINCT ON (serial) serial, coalesce(at, now()), reason, source, issuer
			FROM unnest($1::text[], $2::timestamptz[], $3::text[], $4::text[], $5::text[]) AS u(serial, at, reason, source, issuer)
			ORDER BY serial, at
			ON CONFLICT (serial) DO NOTHING
			RETURNING serial`, serials, times, reasons, sources, issuers)
		if err != nil {
			return err
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return err
		}
		added = len(got)
		for _, serial := range got {
			hook.AddSubjects(CertificateSubject(serial))
		}
		// The act is recorded whatever it added: the trail shows who
		// revoked what, and who tried again.
		return hook.WriteTx(ctx, tx)
	})
	if err != nil {
		return 0, fmt.Errorf("record revocations: %w", err)
	}
	return added, nil
}

// CertificateSubject is a revoked certificate as an audit subject.
func CertificateSubject(serial string) string { return "certificate/" + serial }

// ListRevocations returns every revocation, oldest first.
func (s *Store) ListRevocations(ctx context.Context) ([]Revocation, error) {
	rows, err := s.Pool.Query(ctx, `SELECT serial, revoke_time, reason, source, issuer, create_time
		FROM certificate_revocations ORDER BY revoke_time, serial`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (Revocation, error) {
		var r Revocation
		err := row.Scan(&r.Serial, &r.RevokeTime, &r.Reason, &r.Source, &r.Issuer, &r.CreateTime)
		r.Valid = serialForm.MatchString(r.Serial)
		return r, err
	})
}

// SeenCertificate is a client certificate a server authenticated a call with.
type SeenCertificate struct {
	Fingerprint     []byte
	Serial          string
	InstitutionCode string
	SPIFFEID        string
	Subject, Issuer string
	NotBefore       time.Time
	NotAfter        time.Time
	FirstSeen       time.Time
	LastSeen        time.Time
	// Revoked: its serial is revoked (read only).
	Revoked bool
}

// RecordSeenCertificates adds certificates seen in use, or moves their
// last_seen on.
func (s *Store) RecordSeenCertificates(ctx context.Context, certs []SeenCertificate) error {
	if len(certs) == 0 {
		return nil
	}
	n := len(certs)
	fps := make([][]byte, n)
	text := make([][]string, 5)
	for i := range text {
		text[i] = make([]string, n)
	}
	times := make([][]time.Time, 3)
	for i := range times {
		times[i] = make([]time.Time, n)
	}
	for i, c := range certs {
		fps[i] = c.Fingerprint
		text[0][i], text[1][i], text[2][i], text[3][i], text[4][i] = c.Serial, c.InstitutionCode, c.SPIFFEID, c.Subject, c.Issuer
		times[0][i], times[1][i], times[2][i] = c.NotBefore, c.NotAfter, c.LastSeen
	}
	_, err := s.Pool.Exec(ctx, `
		INSERT INTO client_certificates (fingerprint, serial, institution_code, spiffe_id, subject, issuer, not_before, not_after, first_seen, last_seen)
		SELECT DISTINCT ON (fp) fp, serial, code, id, subject, issuer, nb, na, seen, seen
		FROM unnest($1::bytea[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[], $8::timestamptz[], $9::timestamptz[])
			AS u(fp, serial, code, id, subject, issuer, nb, na, seen)
		ORDER BY fp, seen DESC
		ON CONFLICT (fingerprint) DO UPDATE SET last_seen = greatest(client_certificates.last_seen, EXCLUDED.last_seen)`,
		fps, text[0], text[1], text[2], text[3], text[4], times[0], times[1], times[2])
	if err != nil {
		return fmt.Errorf("record seen certificates: %w", err)
	}
	return nil
}

// ListSeenCertificates returns the certificates seen in use whose expiry is
// after notAfterFrom (zero: all), by institution and expiry.
func (s *Store) ListSeenCertificates(ctx context.Context, notAfterFrom time.Time) ([]SeenCertificate, error) {
	var from *time.Time
	if !notAfterFrom.IsZero() {
		from = &notAfterFrom
	}
	rows, err := s.Pool.Query(ctx, `
		SELECT c.fingerprint, c.serial, c.institution_code, c.spiffe_id, c.subject, c.issuer, c.not_before, c.not_after,
			c.first_seen, c.last_seen, r.serial IS NOT NULL
		FROM client_certificates c LEFT JOIN certificate_revocations r ON r.serial = c.serial
		WHERE $1::timestamptz IS NULL OR c.not_after > $1
		ORDER BY c.institution_code, c.not_after, c.serial`, from)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(row pgx.CollectableRow) (SeenCertificate, error) {
		var c SeenCertificate
		err := row.Scan(&c.Fingerprint, &c.Serial, &c.InstitutionCode, &c.SPIFFEID, &c.Subject, &c.Issuer, &c.NotBefore, &c.NotAfter,
			&c.FirstSeen, &c.LastSeen, &c.Revoked)
		return c, err
	})
}
